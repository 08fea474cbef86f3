"""In-chat slash commands of ``arcee-chat`` (``/new``, ``/resume``, ``/sessions``, ...)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from langchain_core.messages import BaseMessage

from langchain_arcee.cli.input import END_MARKER, MULTI_COMMAND
from langchain_arcee.cli.render import Style, format_history, to_markdown
from langchain_arcee.cli.usage import Price, Usage
from langchain_arcee.stores.base import ChatStore

_PAGE = 200
"""Messages read per store call when a whole session is listed or exported."""

_LAST_EXCHANGE_WINDOW = 20
"""Messages read to find the last exchange (a user message and the replies after it)."""


@dataclass
class ChatState:
    """What the commands act on: the store, the current session and the output stream.

    Attributes:
        store: The conversation store.
        session_id: The current session (``/new`` and ``/resume`` change it).
        out: Where command output goes.
        show_reasoning: Whether ``/history`` shows the assistant's reasoning.
        last_usage: The last reply's token usage (``None`` before the first reply).
        run_usage: Token usage of every reply since the program started.
        price: The model's price, once known (``GET /models``), else ``None``.
        plain: No ANSI escapes even on a terminal (``--plain``).
    """

    store: ChatStore
    session_id: str
    out: TextIO
    show_reasoning: bool = True
    last_usage: Usage | None = None
    run_usage: Usage = field(default_factory=Usage)
    price: Price | None = None
    plain: bool = False

    def say(self, text: str) -> None:
        """Write one line of command output."""
        self.out.write(f"{text}\n")
        self.out.flush()

    def all_messages(self) -> list[BaseMessage]:
        """Every message of the current session, read page by page."""
        return read_all(self.store, self.session_id)

    def last_exchange(self) -> list[BaseMessage]:
        """The session's last user message and what followed it."""
        count = self.store.count(self.session_id)
        start = max(0, count - _LAST_EXCHANGE_WINDOW)
        tail = self.store.read_page(self.session_id, offset=start, limit=_LAST_EXCHANGE_WINDOW)
        humans = [i for i, m in enumerate(tail) if m.type == "human"]
        return tail[humans[-1] :] if humans else tail

    def show_resumed(self) -> None:
        """Say that the current session continues, with its last exchange."""
        count = self.store.count(self.session_id)
        self.say(f"Resumed session {self.session_id!r} ({count} messages). Last exchange:")
        style = Style.for_stream(self.out, plain=self.plain)
        self.out.write(
            format_history(self.last_exchange(), style, show_reasoning=self.show_reasoning)
        )
        self.out.flush()


def read_all(store: ChatStore, session_id: str) -> list[BaseMessage]:
    """Every message of a session, read page by page."""
    messages: list[BaseMessage] = []
    while page := store.read_page(session_id, offset=len(messages), limit=_PAGE):
        messages.extend(page)
        if len(page) < _PAGE:
            break
    return messages


Handler = Callable[[ChatState, str], bool]
"""A command: ``(state, argument) -> keep chatting``."""


def new_session_id(store: ChatStore, now: datetime | None = None) -> str:
    """A fresh, sortable session id such as ``chat-20250101-093000`` (unused in ``store``)."""
    base = (now or datetime.now()).strftime("chat-%Y%m%d-%H%M%S")
    candidate, n = base, 1
    while store.count(candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _new(state: ChatState, arg: str) -> bool:
    if arg and state.store.count(arg):
        state.say(
            f"Session {arg!r} already exists ({state.store.count(arg)} messages): "
            f"/resume {arg} continues it; /new without a name starts a fresh one."
        )
        return True
    state.session_id = arg or new_session_id(state.store)
    state.say(f"Started new session {state.session_id!r}.")
    return True


def _resume(state: ChatState, arg: str) -> bool:
    if not arg:
        state.say("Usage: /resume NAME (/sessions lists them)")
        return True
    if not state.store.count(arg):
        state.say(f"No stored session {arg!r}: /new {arg} starts it; /sessions lists them.")
        return True
    state.session_id = arg
    state.show_resumed()
    return True


def _usage(state: ChatState, arg: str) -> bool:
    price = state.price
    last = state.last_usage
    state.say(f"Last reply: {last.describe(price) if last else 'none yet in this run'}")
    state.say(f"This run:   {state.run_usage.describe(price)}")
    session = Usage.of_messages(state.all_messages())
    state.say(f"Session {state.session_id!r} (all stored replies): {session.describe(price)}")
    if price is None:
        state.say("(no cost shown: the server's /models gives no price for this model)")
    return True


def _sessions(state: ChatState, arg: str) -> bool:
    sessions = state.store.list_sessions()
    if not sessions:
        state.say("No stored sessions yet.")
    for info in sessions:
        marker = "*" if info.session_id == state.session_id else " "
        when = f"  updated {info.updated_at:%Y-%m-%d %H:%M}" if info.updated_at else ""
        state.say(f"{marker} {info.session_id}  ({info.message_count} messages){when}")
    return True


def _history(state: ChatState, arg: str) -> bool:
    messages = state.all_messages()
    if not messages:
        state.say(f"Session {state.session_id!r} is empty.")
        return True
    style = Style.for_stream(state.out, plain=state.plain)
    state.out.write(format_history(messages, style, show_reasoning=state.show_reasoning))
    state.out.flush()
    return True


def _export(state: ChatState, arg: str) -> bool:
    if not arg:
        state.say("Usage: /export FILE.json or /export FILE.md")
        return True
    path = Path(arg).expanduser()
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(
            export_document(state.store, state.session_id), indent=2, ensure_ascii=False
        )
    elif suffix in (".md", ".markdown"):
        text = to_markdown(state.session_id, state.all_messages())
    else:
        state.say("Export format is chosen by extension: use a .json or .md file name.")
        return True
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        state.say(f"Could not write {path}: {exc.strerror or exc}")
        return True
    state.say(f"Exported session {state.session_id!r} to {path}.")
    return True


def _summary(state: ChatState, arg: str) -> bool:
    summary = state.store.load_summary(state.session_id)
    if summary is None:
        state.say(
            f"Session {state.session_id!r} has no summary (start arcee-chat with --summary to "
            "keep one once the conversation outgrows the model's window)."
        )
        return True
    when = f", written {summary.updated_at:%Y-%m-%d %H:%M}" if summary.updated_at else ""
    state.say(f"Summary of the first {summary.covers} messages{when}:")
    state.say(summary.text)
    return True


def export_document(store: ChatStore, session_id: str) -> dict[str, Any]:
    """A session as JSON: its messages (lossless) and its running summary, if any."""
    summary = store.load_summary(session_id)
    document: dict[str, Any] = {"session_id": session_id, "messages": store.export(session_id)}
    if summary is not None:
        document["summary"] = {
            "text": summary.text,
            "covers": summary.covers,
            "updated_at": summary.updated_at.isoformat() if summary.updated_at else None,
        }
    return document


def _clear(state: ChatState, arg: str) -> bool:
    count = state.store.count(state.session_id)
    state.store.clear(state.session_id)
    state.say(f"Cleared session {state.session_id!r} ({count} messages removed).")
    return True


def _quit(state: ChatState, arg: str) -> bool:
    return False


def _help(state: ChatState, arg: str) -> bool:
    for name, (_, text) in COMMANDS.items():
        state.say(f"  /{name:<9} {text}")
    state.say("  A paste is one message, newlines included: press Enter to send it.")
    state.say("  Ctrl-C stops a reply (the turn is not saved); Ctrl-D or Ctrl-C here quits.")
    return True


def _multi(state: ChatState, arg: str) -> bool:
    # Read by the chat loop (langchain_arcee.cli.input); reaching here means nothing to send.
    return True


COMMANDS: dict[str, tuple[Handler, str]] = {
    "new": (_new, "start a new session (/new NAME; refuses a name already in use)"),
    "resume": (_resume, "continue a stored session: /resume NAME (also /switch)"),
    "sessions": (_sessions, "list stored sessions (* marks the current one)"),
    "history": (_history, "show this session's conversation"),
    "summary": (_summary, "show the running summary of what no longer fits the window"),
    "usage": (_usage, "tokens (and cost, when known) of the last reply, this run, the session"),
    MULTI_COMMAND[1:]: (_multi, f"write a multi-line message; end it with a line {END_MARKER}"),
    "export": (_export, "save this session: /export FILE.json or /export FILE.md"),
    "clear": (_clear, "delete this session's messages"),
    "quit": (_quit, "leave (also /exit, Ctrl-D)"),
    "help": (_help, "show this help"),
}
_ALIASES = {"exit": "quit", "q": "quit", "?": "help", "switch": "resume"}


def run_command(state: ChatState, line: str) -> bool:
    """Run one slash command line.

    Args:
        state: The chat's state.
        line: The line typed, starting with ``/``.

    Returns:
        ``False`` when the chat should end, else ``True``.
    """
    name, _, arg = line[1:].strip().partition(" ")
    name = _ALIASES.get(name.lower(), name.lower())
    if name not in COMMANDS:
        state.say(f"Unknown command /{name}; /help lists the commands.")
        return True
    handler, _ = COMMANDS[name]
    return handler(state, arg.strip())
