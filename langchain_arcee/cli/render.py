"""Plain output of ``arcee-chat``: streamed replies, history listings and exports.

Reasoning is always kept apart from the answer: labeled plainly (``[reasoning]`` /
``[answer]``) when the output is a file, a pipe or ``--plain``. On a terminal the chat uses
:mod:`langchain_arcee.cli.terminal` instead (Markdown, a waiting indicator, labeled panels).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TextIO

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from langchain_arcee.messages import reasoning_of

_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_RESET = "\x1b[0m"

Section = Literal["reasoning", "answer"]


def is_tty(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal (closed or odd streams are not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ReplyView(Protocol):
    """Where one streamed reply is shown (plain text, or a rich terminal view)."""

    def waiting(self) -> None:
        """The request was sent: show that the model is working, until the first token."""

    def reasoning(self, text: str) -> None:
        """Show a piece of reasoning."""

    def answer(self, text: str) -> None:
        """Show a piece of the answer."""

    def finish(self) -> None:
        """End the reply (also after an error or an interrupt)."""

    def note(self, text: str) -> None:
        """A line after the reply (e.g. its token usage)."""


@dataclass(frozen=True)
class Style:
    """How text is decorated on one stream.

    Attributes:
        color: Use ANSI escapes (only on a terminal).
    """

    color: bool

    @classmethod
    def for_stream(cls, stream: TextIO | None, *, plain: bool = False) -> Style:
        """ANSI styling on a terminal (unless ``plain``), plain text elsewhere."""
        return cls(color=stream is not None and not plain and is_tty(stream))

    def dim(self, text: str) -> str:
        """``text`` dimmed (unchanged without color)."""
        return f"{_DIM}{text}{_RESET}" if self.color and text else text

    def bold(self, text: str) -> str:
        """``text`` in bold (unchanged without color)."""
        return f"{_BOLD}{text}{_RESET}" if self.color and text else text


class ReplyPrinter:
    """Writes one streamed reply as its pieces arrive, reasoning apart from the answer.

    Args:
        answer_out: Where the answer goes.
        reasoning_out: Where the reasoning goes; ``None`` hides it.
        label_answer: Write an ``[answer]`` label before the answer when reasoning was shown
            without color (so a plain-text reader can tell them apart).
        plain: Never use ANSI escapes, even on a terminal (``--plain``).
    """

    def __init__(
        self,
        answer_out: TextIO,
        reasoning_out: TextIO | None,
        *,
        label_answer: bool = True,
        plain: bool = False,
    ) -> None:
        self.answer_out = answer_out
        self.reasoning_out = reasoning_out
        self.label_answer = label_answer
        self._reasoning_style = Style.for_stream(reasoning_out, plain=plain)
        self._section: Section | None = None
        self._shown_reasoning = False
        self._answer_text = ""

    @property
    def answer_text(self) -> str:
        """The answer written so far."""
        return self._answer_text

    def waiting(self) -> None:
        """Nothing: plain output has no waiting indicator (it would end up in files)."""

    def reasoning(self, text: str) -> None:
        """Write a piece of reasoning (nothing when reasoning is hidden)."""
        out = self.reasoning_out
        if not text or out is None:
            return
        if self._section != "reasoning":
            self._end_section()
            out.write(_DIM if self._reasoning_style.color else "[reasoning] ")
            self._section = "reasoning"
            self._shown_reasoning = True
        out.write(text)
        out.flush()

    def answer(self, text: str) -> None:
        """Write a piece of the answer."""
        if not text:
            return
        if self._section != "answer":
            self._end_section()
            if self._shown_reasoning and self.label_answer and not self._reasoning_style.color:
                self.answer_out.write("[answer] ")
            self._section = "answer"
        self._answer_text += text
        self.answer_out.write(text)
        self.answer_out.flush()

    def finish(self) -> None:
        """End the reply: reset styling and end its last line."""
        self._end_section()

    def note(self, text: str) -> None:
        """A line after the reply, with the answer."""
        self.answer_out.write(f"{text}\n")
        self.answer_out.flush()

    def _end_section(self) -> None:
        if self._section == "reasoning" and self.reasoning_out is not None:
            if self._reasoning_style.color:
                self.reasoning_out.write(_RESET)
            # Reasoning and answer share a terminal: a blank line separates them.
            self.reasoning_out.write("\n\n" if self.reasoning_out is self.answer_out else "\n")
            self.reasoning_out.flush()
        elif self._section == "answer":
            self.answer_out.write("\n")
            self.answer_out.flush()
        self._section = None


# ---- whole messages (history and export) ---------------------------------------------------

_ROLE_NAMES = {"human": "you", "ai": "arcee", "system": "system", "tool": "tool"}


def role_name(message: BaseMessage) -> str:
    """A short speaker name: ``you``, ``arcee``, ``system`` or ``tool (<name>)``."""
    name = _ROLE_NAMES.get(message.type, message.type)
    if isinstance(message, ToolMessage) and message.name:
        name = f"{name} ({message.name})"
    return name


def tool_call_lines(message: BaseMessage) -> list[str]:
    """One ``name({...})`` line per tool call of an assistant message."""
    if not isinstance(message, AIMessage):
        return []
    return [
        f"{call['name']}({json.dumps(call['args'], ensure_ascii=False)})"
        for call in message.tool_calls
    ]


def format_history(
    messages: Sequence[BaseMessage], style: Style, *, show_reasoning: bool = True
) -> str:
    """A conversation as terminal text, one block per message.

    Args:
        messages: The messages, oldest first.
        style: Styling for the terminal (reasoning dimmed, speakers in bold).
        show_reasoning: Include each assistant message's reasoning.

    Returns:
        The text, ending with a newline (empty for no messages).
    """
    blocks = []
    for message in messages:
        lines = [style.bold(f"{role_name(message)}:")]
        reasoning = reasoning_of(message) if show_reasoning else None
        if reasoning:
            lines.append(style.dim(reasoning) if style.color else f"[reasoning] {reasoning}")
        lines.extend(f"-> called {call}" for call in tool_call_lines(message))
        if message.text:
            lines.append(message.text)
        blocks.append("\n".join(lines))
    return "".join(f"{block}\n\n" for block in blocks)


def to_markdown(session_id: str, messages: Sequence[BaseMessage]) -> str:
    """A conversation as a Markdown document (reasoning in collapsible blocks).

    Args:
        session_id: The session's id, used as the title.
        messages: The messages, oldest first.

    Returns:
        The Markdown text.
    """
    parts = [f"# arcee-chat session `{session_id}`\n"]
    for message in messages:
        parts.append(f"## {role_name(message)}\n")
        reasoning = reasoning_of(message)
        if reasoning:
            parts.append(f"<details><summary>Reasoning</summary>\n\n{reasoning}\n\n</details>\n")
        parts.extend(f"- called `{call}`\n" for call in tool_call_lines(message))
        if message.text:
            parts.append(f"{message.text}\n")
    return "\n".join(parts)
