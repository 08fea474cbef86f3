"""Reading the user's messages: line editing, bracketed paste and multi-line mode.

* **Bracketed paste**: on a terminal, readline's ``enable-bracketed-paste`` is switched on
  (CPython switches it off), so a pasted block, newlines included, lands in the input line as
  one piece and Enter sends it as one message instead of one turn per pasted line.
* **Multi-line mode**: ``/multi`` (one message) or ``--multiline`` (every message) reads lines
  until one that holds only ``/end``; Ctrl-D ends the message too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

PROMPT = "you> "
CONTINUATION_PROMPT = "...> "
MULTI_COMMAND = "/multi"
END_MARKER = "/end"


def enable_line_editing() -> None:
    """Line editing, history and bracketed paste for ``input()`` (where readline exists)."""
    with contextlib.suppress(ImportError):  # Windows has no readline
        import readline

        readline.parse_and_bind("set enable-bracketed-paste on")


class MessageReader:
    """Reads one message at a time from the terminal.

    Args:
        multiline: Every message is multi-line (ended by a line holding only ``/end``).
        read_line: The line reader (``input``; replaceable for tests).
    """

    def __init__(self, *, multiline: bool = False, read_line: Callable[[str], str] = input) -> None:
        self.multiline = multiline
        self._read_line = read_line

    def read(self) -> str:
        """The next message, or a one-line command (starting with ``/``).

        Returns:
            The text, stripped; a pasted block comes back whole, newlines included.

        Raises:
            EOFError: On Ctrl-D at the prompt.
            KeyboardInterrupt: On Ctrl-C at the prompt.
        """
        first = self._read_line(PROMPT)
        if first.strip() == MULTI_COMMAND:
            return self._read_block("")
        if self.multiline and not is_command(first):
            return self._read_block(first)
        return first.strip()

    def _read_block(self, first: str) -> str:
        lines = [first] if first.strip() else []
        if first.strip() == END_MARKER:
            return ""
        while True:
            try:
                line = self._read_line(CONTINUATION_PROMPT)
            except EOFError:
                break
            if line.strip() == END_MARKER:
                break
            lines.append(line)
        return "\n".join(lines).strip()


def is_command(text: str) -> bool:
    """A slash command: one line starting with ``/`` (a pasted block never is one)."""
    stripped = text.strip()
    return stripped.startswith("/") and "\n" not in stripped
