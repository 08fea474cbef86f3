"""Keeping a turn's lease alive while the turn works, and only while it works.

A lease expires so that a crashed holder never blocks a session for long; a live turn whose
model takes longer than the lease (a thinking model, a long agent loop) must renew it. One
daemon thread renews every registered turn's lease through the store's sync API, so sync and
async turns share one mechanism and no event loop is involved.

A turn is renewed while it is *active*: calling the runnable, or streaming with a consumer that
keeps pulling chunks. A stream whose consumer stopped pulling (an abandoned generator kept
alive by a stored traceback, say) is renewed for one more lease period at most, then left to
expire, so the next turn can proceed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Keepalive:
    """One turn's renewal state.

    Args:
        renew: Renews the lease; returns False if it was lost.
        lease_seconds: The lease's length.
        name: The session, for logs.
    """

    def __init__(self, renew: Callable[[], bool], lease_seconds: float, name: str) -> None:
        self.renew = renew
        self.lease_seconds = lease_seconds
        self.name = name
        self.active = True
        self.touched = time.monotonic()
        self.due = self.touched + lease_seconds / 3

    def pause(self) -> None:
        """The turn handed control to its consumer (a stream yielded a chunk)."""
        self.active = False
        self.touched = time.monotonic()

    def resume(self) -> None:
        """The turn is working again."""
        self.active = True
        self.touched = time.monotonic()

    def wanted(self, now: float) -> bool:
        """Whether the lease should still be renewed."""
        return self.active or now - self.touched < self.lease_seconds


class Renewer:
    """The daemon thread renewing every registered :class:`Keepalive` at a third of its lease."""

    def __init__(self) -> None:
        self._turns: set[Keepalive] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def register(self, turn: Keepalive) -> None:
        """Start renewing ``turn``'s lease."""
        with self._wake:
            self._turns.add(turn)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="langchain-arcee-lease-renewer", daemon=True
                )
                self._thread.start()

    def unregister(self, turn: Keepalive) -> None:
        """Stop renewing ``turn``'s lease."""
        with self._wake:
            self._turns.discard(turn)

    def _loop(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = [t for t in self._turns if t.due <= now]
                upcoming = min((t.due for t in self._turns), default=now + 1.0)
                if not due:
                    self._wake.wait(timeout=max(0.01, min(upcoming - now, 1.0)))
                    continue
            for turn in due:
                self._renew(turn, now)

    def _renew(self, turn: Keepalive, now: float) -> None:
        turn.due = now + turn.lease_seconds / 3
        if not turn.wanted(now):
            self.unregister(turn)
            return
        try:
            if not turn.renew():
                logger.warning("session %r: the turn's lease was lost", turn.name)
                self.unregister(turn)
        except Exception:  # a failed renewal only risks the lease; the commit still checks
            logger.warning("session %r: renewing the turn's lease failed", turn.name, exc_info=True)


RENEWER = Renewer()
"""The process's lease renewer."""
