"""In-process conversation store: bounded, thread-safe, no I/O.

Messages are kept as message objects (chunks converted to full messages), never JSON, so
loading is just slicing a list. It is the fast path for single-process apps and tests; nothing
survives the process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from langchain_core.messages import BaseMessage

from langchain_arcee.stores.base import (
    ChatStore,
    SessionInfo,
    check_last,
    check_page,
    check_session_id,
    normalize_ttl,
)
from langchain_arcee.stores.serialization import to_storable


@dataclass
class _Session:
    messages: list[BaseMessage] = field(default_factory=list)
    updated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    # time.monotonic() deadline, or None when the session never expires.
    expires_at: float | None = None


class InMemoryChatStore(ChatStore):
    """A bounded in-memory store.

    Stored message objects are shared with callers of :meth:`load` (the returned list is always
    a fresh list); treat loaded messages as immutable.

    Args:
        max_messages_per_session: Keep at most this many newest messages per session (older
            ones are dropped on append); ``None`` for no bound.
        max_sessions: Keep at most this many sessions; the least recently updated are dropped
            first. ``None`` for no bound.
        ttl: A session expires this long after its last write (``timedelta`` or seconds).
    """

    def __init__(
        self,
        max_messages_per_session: int | None = 10_000,
        max_sessions: int | None = None,
        ttl: timedelta | float | None = None,
    ) -> None:
        if max_messages_per_session is not None and max_messages_per_session < 1:
            msg = "max_messages_per_session must be >= 1 or None"
            raise ValueError(msg)
        if max_sessions is not None and max_sessions < 1:
            msg = "max_sessions must be >= 1 or None"
            raise ValueError(msg)
        self.max_messages_per_session = max_messages_per_session
        self.max_sessions = max_sessions
        self.ttl = normalize_ttl(ttl)
        # Ordered least recently updated first, so bounding by sessions pops from the front.
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    # ---- internals (call with the lock held) ---------------------------------------------
    def _live(self, session_id: str) -> _Session | None:
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires_at is not None and session.expires_at <= time.monotonic():
            del self._sessions[session_id]
            return None
        return session

    # ---- core -----------------------------------------------------------------------
    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages atomically (all are validated before any is stored).

        Raises:
            TypeError: If an item is not a LangChain message (nothing is stored).
        """
        check_session_id(session_id)
        stored = [to_storable(m) for m in messages]
        with self._lock:
            session = self._live(session_id)
            if session is None:
                session = self._sessions[session_id] = _Session()
            else:
                self._sessions.move_to_end(session_id)
            session.messages.extend(stored)
            cap = self.max_messages_per_session
            if cap is not None and len(session.messages) > cap:
                del session.messages[:-cap]
            session.updated_at = datetime.now(timezone.utc)
            session.expires_at = (
                time.monotonic() + self.ttl.total_seconds() if self.ttl is not None else None
            )
            if self.max_sessions is not None:
                while len(self._sessions) > self.max_sessions:
                    self._sessions.popitem(last=False)

    def load(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Return a fresh list of the session's messages (newest ``last`` only if given)."""
        check_session_id(session_id)
        check_last(last)
        with self._lock:
            session = self._live(session_id)
            if session is None or last == 0:
                return []
            if last is None:
                return list(session.messages)
            return session.messages[-last:]

    async def aappend(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`append` (in-memory, so no thread hop)."""
        self.append(session_id, messages)

    async def aload(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Async :meth:`load` (in-memory, so no thread hop)."""
        return self.load(session_id, last=last)

    # ---- admin ----------------------------------------------------------------------
    def count(self, session_id: str) -> int:
        """Number of messages stored for a session."""
        check_session_id(session_id)
        with self._lock:
            session = self._live(session_id)
            return 0 if session is None else len(session.messages)

    def read_page(self, session_id: str, *, offset: int = 0, limit: int = 100) -> list[BaseMessage]:
        """Messages ``offset`` .. ``offset + limit - 1`` of a session, oldest first."""
        check_session_id(session_id)
        check_page(offset, limit)
        with self._lock:
            session = self._live(session_id)
            return [] if session is None else session.messages[offset : offset + limit]

    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[SessionInfo]:
        """Live sessions, most recently updated first."""
        check_page(offset, limit)
        with self._lock:
            for session_id in list(self._sessions):
                self._live(session_id)
            infos = [
                SessionInfo(sid, len(s.messages), s.updated_at)
                for sid, s in reversed(self._sessions.items())
            ]
        end = None if limit is None else offset + limit
        return infos[offset:end]

    def clear(self, session_id: str) -> None:
        """Remove a session and its messages."""
        check_session_id(session_id)
        with self._lock:
            self._sessions.pop(session_id, None)

    def purge_expired(self) -> int:
        """Drop expired sessions now; returns how many were dropped."""
        with self._lock:
            before = len(self._sessions)
            for session_id in list(self._sessions):
                self._live(session_id)
            return before - len(self._sessions)

    async def acount(self, session_id: str) -> int:
        """Async :meth:`count`."""
        return self.count(session_id)

    async def aread_page(
        self, session_id: str, *, offset: int = 0, limit: int = 100
    ) -> list[BaseMessage]:
        """Async :meth:`read_page`."""
        return self.read_page(session_id, offset=offset, limit=limit)

    async def alist_sessions(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        return self.list_sessions(limit=limit, offset=offset)

    async def aclear(self, session_id: str) -> None:
        """Async :meth:`clear`."""
        self.clear(session_id)

    async def adelete(self, session_id: str) -> None:
        """Async :meth:`delete`."""
        self.delete(session_id)

    async def apurge_expired(self) -> int:
        """Async :meth:`purge_expired`."""
        return self.purge_expired()
