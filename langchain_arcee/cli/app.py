"""``arcee-chat``: argument parsing, the chat loop and one-shot mode.

The CLI sits on top of the package: ``ChatArcee`` streams the replies, ``RunnableWithMemory``
injects the stored history and stores each finished turn, and a ``ChatStore`` (SQLite in the
user's data dir by default) keeps the conversations between runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import openai
import platformdirs
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ValidationError

from langchain_arcee.catalog import API_KEY_ENV_VARS, DEFAULT_MODEL, resolve_api_key
from langchain_arcee.chat_models import ChatArcee
from langchain_arcee.cli.commands import ChatState, run_command
from langchain_arcee.cli.render import ReplyPrinter, one_line
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.messages import reasoning_of
from langchain_arcee.redaction import redact_url
from langchain_arcee.stores.base import ChatStore, StoreError
from langchain_arcee.stores.factory import store_from_url

PROG = "arcee-chat"
HOME_ENV_VAR = "ARCEE_CHAT_HOME"
"""Directory of the default conversation database (default: the user's data dir)."""
STORE_FILE_NAME = "chats.db"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

NOT_SAVED = "this turn was not saved"


class UsageError(Exception):
    """A problem with how ``arcee-chat`` was called (exit code 2)."""


def default_store_path() -> Path:
    """``$ARCEE_CHAT_HOME/chats.db``, else ``chats.db`` in the user's data dir."""
    home = os.environ.get(HOME_ENV_VAR) or platformdirs.user_data_dir(PROG)
    return Path(home).expanduser() / STORE_FILE_NAME


def build_parser() -> argparse.ArgumentParser:
    """The command line parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Chat with Arcee AI models; conversations are kept between runs.",
        epilog=(
            "In the chat, /help lists the commands. Needs ARCEE_API_KEY. Conversations are "
            f"stored in {default_store_path()} unless --store (or ${HOME_ENV_VAR}) says otherwise."
        ),
    )
    parser.add_argument("-m", "--message", help="ask one question, print the answer and exit")
    parser.add_argument("--session", default="default", help="conversation to continue")
    parser.add_argument("--model", default=None, help=f"model id (default {DEFAULT_MODEL})")
    parser.add_argument(
        "--base-url",
        default=None,
        help="API base URL: any OpenAI-compatible server (default: Arcee's, or ARCEE_BASE_URL)",
    )
    parser.add_argument(
        "--reasoning-field",
        choices=["reasoning_content", "reasoning", "both"],
        default="reasoning_content",
        help="field that sends earlier reasoning back: reasoning_content (Arcee), "
        "reasoning (self-hosted vLLM) or both",
    )
    parser.add_argument("--system", default=None, help="system prompt for the conversation")
    parser.add_argument(
        "--no-reasoning", action="store_true", help="do not show the model's reasoning"
    )
    parser.add_argument(
        "--store",
        default=None,
        help="SQLite file path, postgresql://... or redis://... URL (default: a SQLite file "
        "in the user's data dir)",
    )
    return parser


# ---- building blocks -----------------------------------------------------------------------


def open_store(spec: str | None) -> ChatStore:
    """The store named by ``--store``, or the default SQLite file (created 0600, folder 0700).

    Raises:
        UsageError: If the store cannot be opened (unknown URL, missing driver, bad path).
    """
    target: str | Path
    if spec:
        target = spec
    else:
        target = default_store_path()
        try:
            # Private by default: the folder 0700, the database 0600 (SQLite gives its -wal and
            # -shm files the database's mode). Existing files keep the mode they have.
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            target.touch(mode=0o600, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create {target.parent}: {exc.strerror or exc}"
            raise UsageError(msg) from exc
    try:
        return store_from_url(target)
    except (ImportError, ValueError, OSError) as exc:
        msg = f"cannot open the store {redact_url(target)!r}: {one_line(exc)}"
        raise UsageError(msg) from exc


def build_model(args: argparse.Namespace, api_key: str) -> ChatArcee:
    """The ``ChatArcee`` the flags describe.

    Raises:
        UsageError: If the flags do not make a valid model.
    """
    options: dict[str, Any] = {"api_key": api_key, "reasoning_field": args.reasoning_field}
    if args.model:
        options["model"] = args.model
    if args.base_url:
        options["base_url"] = args.base_url
    try:
        return ChatArcee(**options)
    except ValidationError as exc:
        errors = exc.errors()
        raise UsageError(str(errors[0]["msg"]) if errors else one_line(exc)) from exc


def build_chat(
    model: Runnable[Any, Any], store: ChatStore, system: str | None
) -> Runnable[Any, Any]:
    """The model with memory, and the system prompt (if any) in front of every request.

    The system prompt is part of the chain, not of the turn's input: it is sent at the top of
    every request but never written to the store. The stored conversation stays the dialogue
    alone (no copy of the system message per turn, nothing stale if ``--system`` changes
    between runs), and ``/history`` and ``/export`` show exactly what was said.
    """
    prompt = ChatPromptTemplate(
        [
            # A message object, not a ("system", text) template: braces in the text stay literal.
            *([SystemMessage(system)] if system else []),
            MessagesPlaceholder("history"),
            MessagesPlaceholder("input"),
        ]
    )
    return RunnableWithMemory(
        prompt | model, store, input_messages_key="input", history_messages_key="history"
    )


def describe_error(error: BaseException, base_url: str) -> str:
    """One line explaining a failed turn (API, network or store error)."""
    if isinstance(error, openai.APITimeoutError):
        return f"request to {base_url} timed out"
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__
        return f"cannot reach {base_url}: {one_line(cause) if cause else one_line(error)}"
    if isinstance(error, openai.APIError):
        return one_line(error)  # ChatArcee's errors read "Arcee API error 402: ..."
    if isinstance(error, StoreError):
        return f"store error: {one_line(error)}"
    return f"{type(error).__name__}: {one_line(error)}"


# ---- one turn ------------------------------------------------------------------------------


@dataclass
class Chat:
    """A running chat: the runnable with memory, its state, and where output goes.

    Attributes:
        runnable: The model chain wrapped with memory.
        state: The store and current session.
        base_url: The API base (for error messages).
        err: Where errors go.
    """

    runnable: Runnable[Any, Any]
    state: ChatState
    base_url: str
    err: TextIO

    def error(self, text: str) -> None:
        """Write one error line."""
        self.err.write(f"{PROG}: {text}\n")
        self.err.flush()

    def stream_turn(self, text: str, printer: ReplyPrinter) -> None:
        """Send one user message and print the reply as it streams.

        The turn is stored by the memory adapter only when the stream completes; an error or
        an interrupt (``KeyboardInterrupt`` propagates) leaves the session as it was.
        """
        config: RunnableConfig = {"configurable": {"session_id": self.state.session_id}}
        stream = self.runnable.stream({"input": [HumanMessage(text)]}, config)
        try:
            for chunk in stream:
                printer.reasoning(reasoning_of(chunk) or "")
                printer.answer(chunk.text)
        finally:
            printer.finish()
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # an abandoned stream is closed now: the adapter stores nothing

    def turn(self, text: str, printer: ReplyPrinter) -> bool:
        """Run one turn, reporting any failure in one line.

        Returns:
            Whether the turn succeeded (and was stored).

        Raises:
            KeyboardInterrupt: If interrupted; the turn is then not stored.
        """
        try:
            self.stream_turn(text, printer)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if os.environ.get("ARCEE_CHAT_DEBUG"):
                raise
            self.error(f"{describe_error(exc, self.base_url)} ({NOT_SAVED})")
            return False
        return True


# ---- modes ---------------------------------------------------------------------------------


def run_one_shot(chat: Chat, text: str, show_reasoning: bool) -> int:
    """Answer one question on stdout (reasoning on stderr, or hidden) and store the turn."""
    printer = ReplyPrinter(sys.stdout, sys.stderr if show_reasoning else None, label_answer=False)
    try:
        return EXIT_OK if chat.turn(text, printer) else EXIT_ERROR
    except KeyboardInterrupt:
        chat.error(f"interrupted ({NOT_SAVED})")
        return EXIT_INTERRUPTED


def _enable_line_editing() -> None:
    # Imported for its side effect: input() gets line editing and history.
    with contextlib.suppress(ImportError):  # Windows has no readline
        import readline  # noqa: F401


def run_interactive(chat: Chat, model_name: str, show_reasoning: bool) -> int:
    """The chat loop: read a line, run a command or a turn, until /quit, Ctrl-D or Ctrl-C."""
    state = chat.state
    if sys.stdin.isatty():
        _enable_line_editing()
    stored = state.store.count(state.session_id)
    resumed = f", {stored} messages stored" if stored else ""
    state.say(f"{PROG}: model {model_name}, session {state.session_id!r}{resumed}. /help for help.")
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            state.say("")
            return EXIT_OK
        if not line:
            continue
        if line.startswith("/"):
            try:
                if not run_command(state, line):
                    return EXIT_OK
            except StoreError as exc:
                chat.error(describe_error(exc, chat.base_url))
            continue
        printer = ReplyPrinter(sys.stdout, sys.stdout if show_reasoning else None)
        before = state.store.count(state.session_id)
        try:
            chat.turn(line, printer)
        except KeyboardInterrupt:
            saved = state.store.count(state.session_id) > before
            state.say(
                "[reply stopped; the turn was saved]" if saved else f"[reply stopped; {NOT_SAVED}]"
            )


def _question_from_args(args: argparse.Namespace) -> str | None:
    """The one-shot question: ``-m``, else piped stdin; ``None`` means interactive."""
    if args.message is not None:
        text: str = args.message
    elif not sys.stdin.isatty():
        text = sys.stdin.read()
    else:
        return None
    if not text.strip():
        raise UsageError("no question given (empty -m or empty standard input)")
    return text.strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``arcee-chat``.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, 1 when a turn failed, 2 for usage errors (such as a missing
        API key), 130 when a one-shot reply was interrupted.
    """
    args = build_parser().parse_args(argv)
    api_key = resolve_api_key()
    if not api_key:
        sys.stderr.write(
            f"{PROG}: no API key: set the {API_KEY_ENV_VARS[0]} environment variable "
            f"({' or '.join(API_KEY_ENV_VARS[1:])} is also read)\n"
        )
        return EXIT_USAGE
    store: ChatStore | None = None
    try:
        question = _question_from_args(args)
        model = build_model(args, api_key)
        store = open_store(args.store)
        show_reasoning = not args.no_reasoning
        state = ChatState(store, args.session, sys.stdout, show_reasoning=show_reasoning)
        base_url = redact_url(model.openai_api_base)  # shown in errors: credentials hidden
        chat = Chat(build_chat(model, store, args.system), state, base_url, sys.stderr)
        if question is not None:
            return run_one_shot(chat, question, show_reasoning)
        return run_interactive(chat, model.model_name, show_reasoning)
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return EXIT_USAGE
    except StoreError as exc:
        sys.stderr.write(f"{PROG}: store error: {one_line(exc)}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED
    finally:
        if store is not None:
            store.close()
