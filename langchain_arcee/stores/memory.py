"""In-process conversation store: bounded, thread-safe, no I/O.

Messages are kept as message objects (chunks converted to full messages), never JSON, so
loading is just slicing a list. It is the fast path for single-process apps and tests; nothing
survives the process. Leases and versions follow the protocol of
:class:`~langchain_arcee.stores.base.ChatStore` (one process, so the lease clock is
``time.monotonic``). Stored objects are private: appends store copies and public reads return
copies, so no caller can change what a later turn sends.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from langchain_core.messages import BaseMessage

from langchain_arcee.stores.base import (
    ChatStore,
    SessionInfo,
    SessionSummary,
    TurnLease,
    TurnStart,
    check_last,
    check_page,
    check_session_id,
    conflict_error,
    normalize_ttl,
)
from langchain_arcee.stores.serialization import detached, to_storable


@dataclass
class _Session:
    messages: list[BaseMessage] = field(default_factory=list)
    updated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    # time.monotonic() deadline, or None when the session never expires.
    expires_at: float | None = None
    # Bumped by every append, clear and delete; a cleared session is kept (empty) so a turn
    # in flight on it sees the change.
    version: int = 0
    lease_token: str | None = None
    lease_deadline: float = 0.0
    summary: SessionSummary | None = None
    last_turn_token: str | None = None
    # Which life of the session id this is (a purged session recreated gets a new number).
    life: int = 0


class InMemoryChatStore(ChatStore):
    """A bounded in-memory store.

    Appends store copies and :meth:`load`/:meth:`read_page` return copies, so mutating a
    message after storing it, or one that was loaded, never changes what is stored.

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
        self._lives = itertools.count(1)
        self._lock = threading.Lock()

    # ---- internals (call with the lock held) ---------------------------------------------
    def _live(self, session_id: str) -> _Session | None:
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires_at is not None and session.expires_at <= time.monotonic():
            # An expired session starts afresh, but keeps counting versions.
            session.messages = []
            session.summary = None
            session.expires_at = None
            session.version += 1
        return session

    def _session(self, session_id: str) -> _Session:
        session = self._live(session_id)
        if session is None:
            session = self._sessions[session_id] = _Session(life=next(self._lives))
        return session

    def _store(self, session_id: str, session: _Session, stored: list[BaseMessage]) -> None:
        self._sessions.move_to_end(session_id)
        session.messages.extend(stored)
        session.version += 1
        cap = self.max_messages_per_session
        if cap is not None and len(session.messages) > cap:
            dropped = len(session.messages) - cap
            del session.messages[:-cap]
            if session.summary is not None:  # it covers positions: they moved down
                covers = max(session.summary.covers - dropped, 0)
                session.summary = replace(session.summary, covers=covers)
        session.updated_at = datetime.now(timezone.utc)
        session.expires_at = (
            time.monotonic() + self.ttl.total_seconds() if self.ttl is not None else None
        )
        if self.max_sessions is not None:
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)

    @staticmethod
    def _prepare(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        return [detached(to_storable(m)) for m in messages]

    # ---- turns ----------------------------------------------------------------------
    def try_begin_turn(
        self, session_id: str, token: str, *, last: int | None, lease_seconds: float
    ) -> TurnStart | None:
        """Take the lease and read the newest ``last`` messages (see ``ChatStore``)."""
        check_session_id(session_id)
        check_last(last)
        with self._lock:
            session = self._session(session_id)
            now = time.monotonic()
            if session.lease_token not in (None, token) and session.lease_deadline > now:
                return None
            session.lease_token, session.lease_deadline = token, now + lease_seconds
            messages = session.messages
            window = messages if last is None else messages[-last:] if last else []
            head = messages[0] if len(window) < len(messages) else None
            lease = TurnLease(session_id, token, session.version, lease_seconds, session.life)
            # The turn gets the stored objects themselves (no copy): the adapter never
            # mutates them, and this keeps a turn's cost independent of its history's size.
            return TurnStart(lease, list(window), len(messages), head)

    def commit_turn(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
        """Append the turn if the session is still at ``lease.version``; release the lease."""
        stored = self._prepare(messages)
        with self._lock:
            session = self._session(lease.session_id)
            other_life = lease.life is not None and lease.life != session.life
            if session.version != lease.version or other_life:
                if session.last_turn_token == lease.token and session.version == lease.version + 1:
                    return  # this very turn was stored already (a retried commit)
                raise conflict_error(lease, messages)
            if session.lease_token == lease.token:
                session.lease_token = None
            self._store(lease.session_id, session, stored)
            session.last_turn_token = lease.token

    def release_turn(self, lease: TurnLease) -> None:
        """Give the lease back (a no-op if another token holds it)."""
        with self._lock:
            session = self._sessions.get(lease.session_id)
            if session is not None and session.lease_token == lease.token:
                session.lease_token = None

    def renew_turn(self, lease: TurnLease) -> bool:
        """Extend the lease; False if it is no longer held by ``lease.token``."""
        with self._lock:
            session = self._sessions.get(lease.session_id)
            if session is None or session.lease_token != lease.token:
                return False
            session.lease_deadline = time.monotonic() + lease.lease_seconds
            return True

    async def atry_begin_turn(
        self, session_id: str, token: str, *, last: int | None, lease_seconds: float
    ) -> TurnStart | None:
        """Async :meth:`try_begin_turn` (in-memory, so no thread hop)."""
        return self.try_begin_turn(session_id, token, last=last, lease_seconds=lease_seconds)

    async def acommit_turn(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`commit_turn`."""
        self.commit_turn(lease, messages)

    async def arelease_turn(self, lease: TurnLease) -> None:
        """Async :meth:`release_turn`."""
        self.release_turn(lease)

    async def arenew_turn(self, lease: TurnLease) -> bool:
        """Async :meth:`renew_turn`."""
        return self.renew_turn(lease)

    # ---- the running summary ---------------------------------------------------------
    def load_summary(self, session_id: str) -> SessionSummary | None:
        """The session's summary, or ``None``."""
        check_session_id(session_id)
        with self._lock:
            session = self._live(session_id)
            return None if session is None else session.summary

    def save_summary(
        self,
        session_id: str,
        summary: SessionSummary,
        *,
        expected_covers: int | None,
        at: TurnLease | None = None,
    ) -> bool:
        """Compare-and-set the session's summary on its ``covers`` (and ``at``'s version)."""
        check_session_id(session_id)
        with self._lock:
            session = self._live(session_id)
            if session is None:
                return False
            if at is not None and (
                session.version != at.version or at.life not in (None, session.life)
            ):
                return False
            current = session.summary.covers if session.summary is not None else None
            if current != expected_covers:
                return False
            produced = summary.updated_at or datetime.now(timezone.utc)
            session.summary = replace(summary, updated_at=produced)
            return True

    async def aload_summary(self, session_id: str) -> SessionSummary | None:
        """Async :meth:`load_summary` (no thread hop)."""
        return self.load_summary(session_id)

    async def asave_summary(
        self,
        session_id: str,
        summary: SessionSummary,
        *,
        expected_covers: int | None,
        at: TurnLease | None = None,
    ) -> bool:
        """Async :meth:`save_summary` (no thread hop)."""
        return self.save_summary(session_id, summary, expected_covers=expected_covers, at=at)

    # ---- core -----------------------------------------------------------------------
    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages atomically (all are validated before any is stored).

        Raises:
            TypeError: If an item is not a LangChain message (nothing is stored).
        """
        check_session_id(session_id)
        stored = self._prepare(messages)
        if not stored:
            return
        with self._lock:
            self._store(session_id, self._session(session_id), stored)

    def load(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Copies of the session's messages (newest ``last`` only if given)."""
        check_session_id(session_id)
        check_last(last)
        with self._lock:
            session = self._live(session_id)
            if session is None or last == 0:
                return []
            window = session.messages if last is None else session.messages[-last:]
        return [detached(m) for m in window]

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
            page = [] if session is None else session.messages[offset : offset + limit]
        return [detached(m) for m in page]

    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[SessionInfo]:
        """Live sessions, most recently updated first."""
        check_page(offset, limit)
        with self._lock:
            for session_id in list(self._sessions):
                self._live(session_id)
            infos = [
                SessionInfo(sid, len(s.messages), s.updated_at)
                for sid, s in reversed(self._sessions.items())
                if s.messages
            ]
        end = None if limit is None else offset + limit
        return infos[offset:end]

    def clear(self, session_id: str) -> None:
        """Remove a session and its messages."""
        check_session_id(session_id)
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                # Kept as an empty, newer version: a turn in flight on it is then refused.
                session.messages = []
                session.summary = None
                session.version += 1

    def purge_expired(self) -> int:
        """Drop expired sessions now; returns how many were dropped."""
        with self._lock:
            expired = 0
            now = time.monotonic()
            for session_id, session in list(self._sessions.items()):
                has_expired = session.expires_at is not None and session.expires_at <= now
                leased = session.lease_token is not None and session.lease_deadline > now
                if has_expired:
                    expired += 1
                # Empty sessions (cleared, deleted) are dropped once no turn holds them.
                if has_expired or (not session.messages and not leased):
                    del self._sessions[session_id]
            return expired

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
