"""Objects kept per asyncio event loop, for code that serves successive ``asyncio.run()`` calls.

Connection pools (httpx's, redis-py's, psycopg's connections) belong to the event loop that
opened them: reused from a later loop they fail with "Event loop is closed". The model and the
stores therefore keep one per loop, in a :class:`PerLoop`.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Generic, TypeVar

_T = TypeVar("_T")


class PerLoop(Generic[_T]):
    """A value per event loop, forgotten once its loop has closed.

    A plain dict purged of closed loops whenever a new loop arrives, rather than a
    ``WeakKeyDictionary``: a pooled connection references its loop through its transport (and
    an ``asyncio.Semaphore`` that ever made a task wait keeps its loop too), so a weak key
    would never die and every ``asyncio.run()`` would leave its loop and its pool behind. At
    most the values of loops closed since the last new one are held.
    """

    def __init__(self) -> None:
        self._values: dict[asyncio.AbstractEventLoop, _T] = {}
        self._lock = threading.Lock()  # loops of several threads may arrive at once

    def get(self, loop: asyncio.AbstractEventLoop) -> _T | None:
        """The value kept for ``loop``, or ``None``."""
        return self._values.get(loop)

    def add(self, loop: asyncio.AbstractEventLoop, value: _T) -> _T:
        """Keep ``value`` for ``loop`` (unless one is kept already) and forget closed loops.

        Returns:
            The value kept for ``loop``.
        """
        with self._lock:
            for closed in [known for known in self._values if known.is_closed()]:
                del self._values[closed]
            return self._values.setdefault(loop, value)

    def pop(self, loop: asyncio.AbstractEventLoop) -> _T | None:
        """Forget ``loop``'s value and return it (``None`` if there was none)."""
        with self._lock:
            return self._values.pop(loop, None)

    def clear(self) -> None:
        """Forget every loop's value."""
        with self._lock:
            self._values.clear()
