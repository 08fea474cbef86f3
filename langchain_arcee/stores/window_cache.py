"""The newest messages of recently used sessions, kept by a store object between turns.

A turn's start reads the session's newest messages, which the same store object read or wrote
a moment before: at 1,000 messages, shipping and decoding them again is most of what a turn
costs the store. :class:`WindowCache` keeps, per session, the newest messages at one *state*
of the session, its version plus a stamp that tells two lives of a session id apart (the SQL
stores use the newest message id: ids are never reused, so a session deleted and recreated at
the same version has another one). The store checks the state where the data is, in the same
statement that takes the lease, and ships the window only when it differs: another instance
wrote, the session was cleared, expired or recreated. If the session only grew (another
instance's turns), only the newer messages ship and the kept window is extended
(:meth:`WindowCache.resolve` with ``grown``). The cache is bounded by the messages it holds; the
least recently used sessions go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage

State = tuple[int, Any]
"""A session's state: its version and the store's stamp (e.g. the newest message id)."""

DEFAULT_MAX_MESSAGES = 50_000
"""How many messages a store object keeps for its sessions' windows, at most."""


@dataclass
class _Entry:
    state: State
    messages: list[BaseMessage]  # the newest messages at ``state``, oldest first
    total: int  # how many the session held at ``state``
    keep: int | None  # the read that filled it asked for this many (None: all)

    def answers(self, last: int | None) -> bool:
        complete = len(self.messages) >= self.total
        return complete or (last is not None and len(self.messages) >= last)


class WindowCache:
    """Per-session newest messages at a known state (thread-safe, bounded, LRU).

    Args:
        max_messages: Bound on the messages held over all sessions; 0 disables the cache.
    """

    def __init__(self, max_messages: int = DEFAULT_MAX_MESSAGES) -> None:
        self.max_messages = max_messages
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def known(self, session_id: str, last: int | None) -> State | None:
        """The state whose newest messages are cached, if they can answer a read of ``last``."""
        with self._lock:
            entry = self._entries.get(session_id)
            return entry.state if entry is not None and entry.answers(last) else None

    def window(self, session_id: str, state: State, last: int | None) -> list[BaseMessage] | None:
        """The newest ``last`` messages (all if ``None``) at ``state``, if cached."""
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None or entry.state != state or not entry.answers(last):
                return None
            self._entries.move_to_end(session_id)
            if last is None or last >= len(entry.messages):
                return list(entry.messages)
            return entry.messages[len(entry.messages) - last :] if last else []

    def resolve(
        self,
        session_id: str,
        state: State,
        known: State | None,
        last: int | None,
        total: int,
        read: Callable[[], list[BaseMessage]],
        *,
        grown: bool = False,
    ) -> list[BaseMessage] | None:
        """A turn's window: cached if the store skipped it, else ``read()`` and remembered.

        Args:
            session_id: The session.
            state: The session's state, as the store found it.
            known: The state the store was told is cached (it skipped the window if equal).
            last: How many newest messages the turn asked for (``None``: all).
            total: How many messages the session holds.
            read: Decodes the window the store shipped.
            grown: The session still holds every message it held at ``known`` (it only grew
                since, e.g. another instance's turns) and the store shipped only the newer
                ones: the window is the cached one extended by them.

        Returns:
            The window, or ``None`` if the cached one was dropped meanwhile (the caller reads
            again).
        """
        if known is not None and state == known:
            return self.window(session_id, state, last)
        if known is not None and grown:
            return self._extend(session_id, known, state, last, total, read())
        messages = read()
        self.remember(session_id, state, messages, total, last)
        return messages

    def _extend(
        self,
        session_id: str,
        known: State,
        state: State,
        last: int | None,
        total: int,
        newer: list[BaseMessage],
    ) -> list[BaseMessage] | None:
        # ``newer`` are the session's messages after those cached at ``known``, the newest
        # ``last`` of them if it grew by more than that.
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None or entry.state != known or not entry.answers(last):
                self._drop(session_id)  # the caller reads again, whole
                return None
            capped = last is not None and len(newer) >= last
            if not capped and entry.total + len(newer) != total:
                self._drop(session_id)  # not the session the entry knew: read it whole
                return None
            messages = [*entry.messages, *newer]
            if last is not None and len(messages) > last:
                messages = messages[len(messages) - last :]
            self._put(session_id, _Entry(state, messages, total, last))
            return list(messages)

    def remember(
        self,
        session_id: str,
        state: State,
        messages: Sequence[BaseMessage],
        total: int,
        last: int | None,
    ) -> None:
        """Keep the newest ``messages`` read at ``state`` (the session held ``total``).

        ``last`` is what the read asked for: the entry keeps that many as the session grows,
        so what a turn copies stays the size of its window, not of the session.
        """
        with self._lock:
            self._put(session_id, _Entry(state, list(messages), total, last))

    def advance(
        self, session_id: str, version: int, state: State, appended: Sequence[BaseMessage]
    ) -> None:
        """This store object's commit moved the session from ``version`` to ``state``.

        The entry read at ``version`` gains the appended messages, keeping the newest as many
        as its read asked for; without one at ``version``, nothing is known.
        """
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None or entry.state[0] != version:
                self._drop(session_id)
                return
            messages = [*entry.messages, *appended]
            if entry.keep is not None and len(messages) > entry.keep:
                messages = messages[len(messages) - entry.keep :]
            total = entry.total + len(appended)
            self._put(session_id, _Entry(state, messages, total, entry.keep))

    def forget(self, session_id: str) -> None:
        """Drop what is kept for a session."""
        with self._lock:
            self._drop(session_id)

    def forget_all(self) -> None:
        """Drop what is kept for every session."""
        with self._lock:
            self._entries.clear()
            self._held = 0

    # ---- under the lock ------------------------------------------------------------------
    def _put(self, session_id: str, entry: _Entry) -> None:
        self._drop(session_id)
        if len(entry.messages) > self.max_messages:
            return
        self._entries[session_id] = entry
        self._held += len(entry.messages)
        while self._held > self.max_messages:
            _, oldest = self._entries.popitem(last=False)
            self._held -= len(oldest.messages)

    def _drop(self, session_id: str) -> None:
        entry = self._entries.pop(session_id, None)
        if entry is not None:
            self._held -= len(entry.messages)
