"""In-chat slash commands of ``arcee-chat`` (``/new``, ``/sessions``, ``/history``, ...)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from langchain_core.messages import BaseMessage

from langchain_arcee.cli.render import Style, format_history, to_markdown
from langchain_arcee.stores.base import ChatStore

_PAGE = 200
"""Messages read per store call when a whole session is listed or exported."""


@dataclass
class ChatState:
    """What the commands act on: the store, the current session and the output stream.

    Attributes:
        store: The conversation store.
        session_id: The current session (commands such as ``/new`` change it).
        out: Where command output goes.
        show_reasoning: Whether ``/history`` shows the assistant's reasoning.
    """

    store: ChatStore
    session_id: str
    out: TextIO
    show_reasoning: bool = True

    def say(self, text: str) -> None:
        """Write one line of command output."""
        self.out.write(f"{text}\n")
        self.out.flush()

    def all_messages(self) -> list[BaseMessage]:
        """Every message of the current session, read page by page."""
        messages: list[BaseMessage] = []
        while page := self.store.read_page(self.session_id, offset=len(messages), limit=_PAGE):
            messages.extend(page)
            if len(page) < _PAGE:
                break
        return messages


Handler = Callable[[ChatState, str], bool]
"""A command: ``(state, argument) -> keep chatting``."""


def new_session_id(now: datetime | None = None) -> str:
    """A fresh, sortable session id such as ``chat-20250101-093000``."""
    return (now or datetime.now()).strftime("chat-%Y%m%d-%H%M%S")


def _new(state: ChatState, arg: str) -> bool:
    state.session_id = arg or new_session_id()
    state.say(f"Started session {state.session_id!r}.")
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
    style = Style.for_stream(state.out)
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
            {"session_id": state.session_id, "messages": state.store.export(state.session_id)},
            indent=2,
            ensure_ascii=False,
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
    state.say("  Ctrl-C stops a reply (the turn is not saved); Ctrl-D or Ctrl-C here quits.")
    return True


COMMANDS: dict[str, tuple[Handler, str]] = {
    "new": (_new, "start a fresh session (optionally: /new NAME)"),
    "sessions": (_sessions, "list stored sessions (* marks the current one)"),
    "history": (_history, "show this session's conversation"),
    "export": (_export, "save this session: /export FILE.json or /export FILE.md"),
    "clear": (_clear, "delete this session's messages"),
    "quit": (_quit, "leave (also /exit, Ctrl-D)"),
    "help": (_help, "show this help"),
}
_ALIASES = {"exit": "quit", "q": "quit", "?": "help"}


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
