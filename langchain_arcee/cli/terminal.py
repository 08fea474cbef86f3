"""Replies on a terminal, with ``rich``: a waiting indicator, labeled reasoning, Markdown.

* Until the first token arrives, a spinner says which model is working.
* Reasoning streams under a ``Reasoning`` label, dim and italic; the answer follows under an
  ``Answer`` label (labels only when reasoning was shown).
* The answer is rendered as Markdown: a live preview while it streams, then the final render.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.status import Status
from rich.text import Text

_REFRESH_PER_SECOND = 8


def console_for(stream: TextIO) -> Console:
    """A console writing to ``stream``; long lines wrap as the terminal does."""
    return Console(file=stream, soft_wrap=True, highlight=False)


class TerminalReplyView:
    """Shows one streamed reply on a terminal (implements ``render.ReplyView``).

    Args:
        console: The terminal.
        model: The model's name, for the waiting indicator.
        show_reasoning: Whether to show the reasoning.
    """

    def __init__(self, console: Console, model: str, *, show_reasoning: bool) -> None:
        self.console = console
        self.model = model
        self.show_reasoning = show_reasoning
        self._status: Status | None = None
        self._live: Live | None = None
        self._in_reasoning = False
        self._shown_reasoning = False
        self._answer = ""

    @property
    def answer_text(self) -> str:
        """The answer received so far."""
        return self._answer

    def waiting(self) -> None:
        """Show a spinner until the first token."""
        self._status = self.console.status(f"waiting for {self.model}...", spinner="dots")
        self._status.start()

    def _stop_waiting(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def reasoning(self, text: str) -> None:
        """Stream a piece of reasoning, dim, under its label."""
        if not text:
            return
        if not self.show_reasoning:
            return  # the spinner keeps turning while the model thinks
        self._stop_waiting()
        if not self._in_reasoning:
            self.console.print(Text("Reasoning", style="bold magenta"))
            self._in_reasoning = True
            self._shown_reasoning = True
        self.console.print(Text(text, style="dim italic"), end="")

    def answer(self, text: str) -> None:
        """Add a piece of the answer to the live Markdown preview."""
        if not text:
            return
        self._stop_waiting()
        if self._live is None:
            if self._in_reasoning:
                self.console.print("\n")
                self._in_reasoning = False
            if self._shown_reasoning and self.show_reasoning:
                self.console.print(Text("Answer", style="bold green"))
            self._live = Live(
                console=self.console,
                refresh_per_second=_REFRESH_PER_SECOND,
                transient=True,
                vertical_overflow="crop",
            )
            self._live.start()
        self._answer += text
        self._live.update(Markdown(self._answer))

    def finish(self) -> None:
        """Stop the indicator and the preview; print the final Markdown render."""
        self._stop_waiting()
        if self._in_reasoning:
            self.console.print()
            self._in_reasoning = False
        if self._live is not None:
            self._live.stop()
            self._live = None
            self.console.print(Markdown(self._answer))

    def note(self, text: str) -> None:
        """A dim line after the reply (e.g. its token usage)."""
        self.console.print(Text(text, style="dim"))
