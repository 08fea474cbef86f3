"""The chat itself: the model with memory, one-shot mode and the interactive loop.

Imported by :mod:`langchain_arcee.cli.app` only once the arguments are known to be good:
``ChatArcee`` streams the replies, ``RunnableWithMemory`` injects the stored history and stores
each finished turn, and a ``ChatStore`` (SQLite in the user's data dir by default) keeps the
conversations between runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, TextIO

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from pydantic import ValidationError

from langchain_arcee.chat_models import ChatArcee
from langchain_arcee.cli.app import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    UsageError,
    open_store,
)
from langchain_arcee.cli.commands import ChatState, run_command
from langchain_arcee.cli.errors import describe_error, one_line
from langchain_arcee.cli.input import MessageReader, enable_line_editing, is_command
from langchain_arcee.cli.render import ReplyPrinter, ReplyView, is_tty
from langchain_arcee.cli.usage import Usage, fetch_price
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.messages import reasoning_of
from langchain_arcee.redaction import redact_url
from langchain_arcee.stores.base import ChatStore, StoreError

NOT_SAVED = "this turn was not saved"


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
    model: Runnable[Any, Any], store: ChatStore, system: str | None, *, summary: bool = False
) -> Runnable[Any, Any]:
    """The model with memory, and the system prompt (if any) in front of every request.

    The system prompt is part of the chain, not of the turn's input: it is sent at the top of
    every request but never written to the store. The stored conversation stays the dialogue
    alone (no copy of the system message per turn, nothing stale if ``--system`` changes
    between runs), and ``/history`` and ``/export`` show exactly what was said. With
    ``summary``, the model also keeps a running summary of what no longer fits its window.
    """
    system_messages: list[BaseMessage] = [SystemMessage(system)] if system else []

    def request_messages(inputs: dict[str, Any]) -> list[BaseMessage]:
        # A plain function, not a ChatPromptTemplate: nothing in the text is a template
        # (braces stay literal) and one-shot start-up does not import the prompt machinery.
        return [*system_messages, *inputs["history"], *inputs["input"]]

    return RunnableWithMemory(
        RunnableLambda(request_messages) | model,
        store,
        input_messages_key="input",
        history_messages_key="history",
        summary=model if summary else None,
    )


@dataclass
class Chat:
    """A running chat: the runnable with memory, its state, and where output goes.

    Attributes:
        runnable: The model chain wrapped with memory.
        state: The store and current session.
        base_url: The API base (for error messages).
        err: Where errors go.
        model_name: The model's id (for the waiting indicator).
    """

    runnable: Runnable[Any, Any]
    state: ChatState
    base_url: str
    err: TextIO
    model_name: str
    _received: bool = field(default=False, init=False)

    def error(self, text: str) -> None:
        """Write one error line."""
        self.err.write(f"{PROG}: {text}\n")
        self.err.flush()

    def stream_turn(self, text: str, view: ReplyView) -> Usage:
        """Send one user message and show the reply as it streams.

        The turn is stored by the memory adapter only when the stream completes; an error or
        an interrupt (``KeyboardInterrupt`` propagates) leaves the session as it was.

        Returns:
            The reply's token usage, as the server counted it.
        """
        config: RunnableConfig = {"configurable": {"session_id": self.state.session_id}}
        usage: UsageMetadata | None = None
        self._received = False
        view.waiting()
        stream = self.runnable.stream({"input": [HumanMessage(text)]}, config)
        try:
            for chunk in stream:
                self._received = True
                view.reasoning(reasoning_of(chunk) or "")
                view.answer(chunk.text)
                if chunk.usage_metadata:
                    usage = add_usage(usage, chunk.usage_metadata)
        finally:
            view.finish()
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # an abandoned stream is closed now: the adapter stores nothing
        turn_usage = Usage()
        turn_usage.add(usage)
        return turn_usage

    def turn(self, text: str, view: ReplyView) -> Usage | None:
        """Run one turn, reporting any failure in one line.

        Returns:
            The reply's usage if the turn succeeded (and was stored), else ``None``.

        Raises:
            KeyboardInterrupt: If interrupted; the turn is then not stored.
        """
        try:
            return self.stream_turn(text, view)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if os.environ.get("ARCEE_CHAT_DEBUG"):
                raise
            why = describe_error(exc, self.base_url, mid_reply=self._received)
            self.error(f"{why} ({NOT_SAVED})")
            return None


@dataclass
class Terminal:
    """How replies are shown (chat and one-shot).

    Attributes:
        plain: Plain text (``--plain``, or output that is not a terminal).
        show_reasoning: Whether to show the reasoning.
        model_name: For the waiting indicator.
    """

    plain: bool
    show_reasoning: bool
    model_name: str

    def view(self) -> ReplyView:
        """A fresh view for one reply: rich on a terminal, else plain text."""
        if self.plain:
            reasoning_out = sys.stdout if self.show_reasoning else None
            return ReplyPrinter(sys.stdout, reasoning_out, plain=True)
        from langchain_arcee.cli.terminal import TerminalReplyView, console_for

        return TerminalReplyView(
            console_for(sys.stdout), self.model_name, show_reasoning=self.show_reasoning
        )


def run_one_shot(chat: Chat, text: str, terminal: Terminal) -> int:
    """Answer one question and store the turn.

    On a terminal the reply is shown as in the chat (Markdown, labeled reasoning); otherwise
    only the answer goes to stdout and the reasoning to stderr (or nowhere), for scripts.
    """
    view: ReplyView
    if terminal.plain:
        reasoning_out = sys.stderr if terminal.show_reasoning else None
        view = ReplyPrinter(sys.stdout, reasoning_out, label_answer=False, plain=True)
    else:
        view = terminal.view()
    try:
        return EXIT_OK if chat.turn(text, view) is not None else EXIT_ERROR
    except KeyboardInterrupt:
        chat.error(f"interrupted ({NOT_SAVED})")
        return EXIT_INTERRUPTED


PRICE_WAIT_SECONDS = 2.0
"""How long a finished reply waits for the price lookup before its usage line is shown."""


def _fetch_price_in_background(
    state: ChatState, model: str, api_key: str, base: str
) -> threading.Thread:
    """Look the model's price up (``GET /models``) without delaying the first prompt."""

    def fetch() -> None:
        state.price = fetch_price(model, api_key=api_key, base_url=base)

    thread = threading.Thread(target=fetch, name="arcee-chat-price", daemon=True)
    thread.start()
    return thread


def run_interactive(
    chat: Chat, terminal: Terminal, reader: MessageReader, price_lookup: threading.Thread
) -> int:
    """The chat loop: read a message, run a command or a turn, until /quit, Ctrl-D or Ctrl-C."""
    state = chat.state
    if sys.stdin.isatty():
        enable_line_editing()
    state.say(f"{PROG}: model {terminal.model_name}. /help for help.")
    if state.store.count(state.session_id):
        state.show_resumed()
    else:
        state.say(f"New session {state.session_id!r}.")
    while True:
        try:
            text = reader.read()
        except (EOFError, KeyboardInterrupt):
            state.say("")
            return EXIT_OK
        if not text:
            continue
        if is_command(text):
            try:
                if not run_command(state, text):
                    return EXIT_OK
            except StoreError as exc:
                chat.error(describe_error(exc, chat.base_url))
            continue
        view = terminal.view()
        before = state.store.count(state.session_id)
        try:
            usage = chat.turn(text, view)
        except KeyboardInterrupt:
            saved = state.store.count(state.session_id) > before
            state.say(
                "[reply stopped; the turn was saved]" if saved else f"[reply stopped; {NOT_SAVED}]"
            )
            continue
        if usage is not None and usage.turns:
            price_lookup.join(timeout=PRICE_WAIT_SECONDS)  # done long before, as a rule
            state.last_usage = usage
            state.run_usage.merge(usage)
            view.note(f"[{usage.describe(state.price)}; /usage for totals]")


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


def run(args: argparse.Namespace, api_key: str) -> int:
    """Run the chat the parsed arguments describe (one-shot or interactive).

    Returns:
        The exit code (see :func:`langchain_arcee.cli.app.main`).
    """
    store: ChatStore | None = None
    try:
        question = _question_from_args(args)
        model = build_model(args, api_key)
        store = open_store(args.store)
        show_reasoning = not args.no_reasoning
        plain = args.plain or not is_tty(sys.stdout)
        state = ChatState(
            store, args.session, sys.stdout, show_reasoning=show_reasoning, plain=plain
        )
        chat = Chat(
            build_chat(model, store, args.system, summary=args.summary),
            state,
            redact_url(model.openai_api_base),  # shown in errors: credentials hidden
            sys.stderr,
            model.model_name,
        )
        terminal = Terminal(plain, show_reasoning, model.model_name)
        if question is not None:
            return run_one_shot(chat, question, terminal)
        lookup = _fetch_price_in_background(state, model.model_name, api_key, model.openai_api_base)
        reader = MessageReader(multiline=args.multiline)
        return run_interactive(chat, terminal, reader, lookup)
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
