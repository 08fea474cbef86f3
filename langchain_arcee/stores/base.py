"""The one interface every conversation store implements.

A store keeps, per session id (an arbitrary string), an append-only ordered list of
LangChain messages. Writes happen a whole turn at a time (:meth:`ChatStore.append` is atomic:
all of its messages are stored, or none and the error propagates). Reads fetch only what is
asked for: the newest ``last`` messages of a session, or one page of it, so the cost of a turn
does not grow with how long a conversation has been stored.

Turns: a store is the authority on a session's order, whichever process, host or store object
runs a turn. :meth:`ChatStore.begin_turn` takes a *lease* on the session (an expiring claim kept
in the store itself, so a crashed holder blocks the session for at most the lease) and reads the
session's *version* with the newest messages in one round trip; :meth:`ChatStore.commit_turn`
appends the turn only if the version is still the one the turn read, bumps it and releases the
lease, atomically and in one round trip. A turn computed from a history that moved on (another
turn, a clear, a delete) is refused with :class:`ConcurrentTurnError` and stores nothing.

Stores know nothing about models: they store and return messages, nothing else.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage
from typing_extensions import Self


class StoreError(RuntimeError):
    """A store could not read or write a session; the message names the session."""


class CorruptMessageError(StoreError):
    """A stored row could not be decoded into a message."""


class SessionBusyError(StoreError):
    """Another turn holds the session's lease and it was not released within ``lock_timeout``.

    Raised before anything is sent to the model: nothing was billed and nothing was stored.
    """


class ConcurrentTurnError(StoreError):
    """The session changed (another turn, a clear or a delete) since this turn read it.

    The store refused the append atomically: nothing of this turn was stored. The turn's
    messages are kept on the exception (``messages``) so the caller can decide what to do
    with a reply that was already produced.

    Attributes:
        session_id: The session.
        messages: The messages the turn tried to store.
    """

    def __init__(
        self, message: str, *, session_id: str, messages: Sequence[BaseMessage] = ()
    ) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.messages = list(messages)


@dataclass(frozen=True)
class SessionInfo:
    """Summary of one stored session.

    Attributes:
        session_id: The session's id.
        message_count: How many messages the session holds.
        updated_at: When the session was last written (UTC), if the backend records it.
    """

    session_id: str
    message_count: int
    updated_at: datetime | None = None


@dataclass(frozen=True)
class SessionSummary:
    """A session's stored running summary (kept beside the transcript, never replacing it).

    Attributes:
        text: The summary.
        covers: It accounts for the session's first ``covers`` stored messages (positions
            ``0 .. covers - 1``; a leading system prompt counts as covered, it is always sent).
        updated_at: When it was produced (UTC), or ``None`` if unknown.
    """

    text: str
    covers: int
    updated_at: datetime | None = None


@dataclass(frozen=True)
class TurnLease:
    """A turn's claim on a session, as :meth:`ChatStore.begin_turn` granted it.

    Attributes:
        session_id: The session.
        token: Unique id of this claim (the store releases the lease only for this token).
        version: The session's version when the turn read it; the turn's append is refused if
            the session has moved on since.
        lease_seconds: How long the claim lasts unless renewed.
        life: Tells the session the turn read from a later one under the same id (deleted or
            expired, then recreated up to the same version): the commit is refused unless the
            session is still in this life. SQL stores: the newest message id the turn saw (0
            for none; ids are never reused); Redis: the epoch of the session's list; in
            memory: the session's serial number. ``None`` checks the version alone.
    """

    session_id: str
    token: str
    version: int
    lease_seconds: float
    life: int | str | None = None


@dataclass
class TurnStart:
    """What a turn sees when it starts: its lease and the newest messages of the session.

    Attributes:
        lease: The claim to pass to :meth:`ChatStore.commit_turn` / ``release_turn``.
        messages: The newest ``last`` messages (all if ``last`` was ``None``), oldest first.
        total: How many messages the session holds.
        head: The session's first message when it is not among ``messages``.
    """

    lease: TurnLease
    messages: list[BaseMessage]
    total: int
    head: BaseMessage | None = None


class Retake(enum.Enum):
    """A store's answer to a turn start's read that took the lease but must read again.

    Not ``None`` (which means another turn holds the lease): the start's own token holds it,
    so reading again with the same token always may. Stores read again, whole, at once.
    """

    RETAKE = "retake"


DEFAULT_LEASE_SECONDS = 60.0
"""How long a turn's lease lasts unless renewed (the adapter renews it while the turn runs)."""

DEFAULT_LOCK_TIMEOUT = 30.0
"""How long a turn waits for another turn's lease before :class:`SessionBusyError`."""


def new_lease_token() -> str:
    """A fresh, unique lease token."""
    return uuid.uuid4().hex


def lease_retry_delays(timeout: float) -> Iterator[float]:
    """Sleeps between attempts to take a busy lease: 1 ms doubling to 50 ms, with jitter.

    Stops (the iterator ends) when the next sleep would pass ``timeout`` seconds from the
    first call.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        wait = delay * random.uniform(0.5, 1.5)
        if time.monotonic() + wait > deadline:
            return
        yield wait
        delay = min(delay * 2, 0.05)


def busy_error(session_id: str, timeout: float) -> SessionBusyError:
    """The error for a session whose lease could not be taken within ``timeout``."""
    return SessionBusyError(
        f"session {session_id!r} is busy: another turn holds it and did not finish within "
        f"{timeout:g} s (lock_timeout). Nothing was sent or stored; retry later."
    )


def conflict_error(lease: TurnLease, messages: Sequence[BaseMessage]) -> ConcurrentTurnError:
    """The error for a turn whose session moved on since it was read."""
    return ConcurrentTurnError(
        f"session {lease.session_id!r} changed since this turn read it (another turn, a clear "
        "or a delete was stored first); this turn was not stored",
        session_id=lease.session_id,
        messages=messages,
    )


def _started(
    session_id: str,
    start: TurnStart | None,
    ready: Callable[[TurnStart], bool] | None,
    lock_timeout: float,
) -> TurnStart:
    """The last attempt's start, or the error saying why the session could not be had."""
    if start is None:
        raise busy_error(session_id, lock_timeout)
    if ready is not None and not ready(start):
        msg = (
            f"session {session_id!r} is waiting for the results of its pending tool calls "
            f"(another turn is answering them); they did not arrive within {lock_timeout:g} s "
            "(lock_timeout). Nothing was sent or stored: send the ToolMessage results (status "
            "'error' is fine to abandon a call) or clear the session."
        )
        raise SessionBusyError(msg)
    return start


def check_session_id(session_id: object) -> str:
    """Validate a session id: any non-empty ``str`` is accepted.

    Args:
        session_id: The value to check.

    Returns:
        The session id unchanged.

    Raises:
        TypeError: If it is not a string.
        ValueError: If it is empty.
    """
    if not isinstance(session_id, str):
        msg = f"session_id must be a str, got {type(session_id).__name__}: {session_id!r}"
        raise TypeError(msg)
    if not session_id:
        msg = "session_id must be a non-empty string"
        raise ValueError(msg)
    return session_id


def check_last(last: int | None) -> int | None:
    """Validate the ``last`` argument of :meth:`ChatStore.load`.

    Raises:
        ValueError: If it is negative (or not an int).
    """
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 0):
        msg = f"last must be None or a non-negative int, got {last!r}"
        raise ValueError(msg)
    return last


def check_page(offset: int, limit: int | None) -> None:
    """Validate ``offset``/``limit`` of the paging calls.

    Raises:
        ValueError: If either is negative.
    """
    if offset < 0 or (limit is not None and limit < 0):
        msg = f"offset and limit must be non-negative, got offset={offset!r} limit={limit!r}"
        raise ValueError(msg)


def normalize_ttl(ttl: timedelta | float | None) -> timedelta | None:
    """Accept a TTL as a ``timedelta`` or seconds; ``None`` means never expire.

    Raises:
        ValueError: If it is not positive.
    """
    if ttl is None:
        return None
    value = ttl if isinstance(ttl, timedelta) else timedelta(seconds=float(ttl))
    if value <= timedelta(0):
        msg = f"ttl must be positive, got {ttl!r}"
        raise ValueError(msg)
    return value


class ChatStore(ABC):
    """Session-keyed, append-only message store with sync and async access.

    Subclasses implement the sync primitives; async primitives default to running the sync
    ones in a worker thread and are overridden by backends with a native async driver, so no
    sync I/O ever runs on the event loop.

    Args (common to every backend's constructor):
        ttl: If set, a session expires this long after its last write (``purge_expired``
            removes expired sessions in SQL backends; Redis expires keys natively).
    """

    ttl: timedelta | None = None

    # ---- turns: lease + version (see the module docstring) ------------------------------
    @abstractmethod
    def try_begin_turn(
        self, session_id: str, token: str, *, last: int | None, lease_seconds: float
    ) -> TurnStart | None:
        """Take the session's lease for ``token`` and read its newest messages, atomically.

        Args:
            session_id: The session.
            token: The lease token (a fresh one per turn; taking it again with the same token
                succeeds, so a retry after a lost reply is safe).
            last: How many newest messages to read (all if ``None``).
            lease_seconds: How long the lease lasts unless renewed.

        Returns:
            The turn's start, or ``None`` if another token holds an unexpired lease.

        Raises:
            StoreError: If the store could not be reached.
        """

    async def atry_begin_turn(
        self, session_id: str, token: str, *, last: int | None, lease_seconds: float
    ) -> TurnStart | None:
        """Async :meth:`try_begin_turn`."""
        return await asyncio.to_thread(
            self.try_begin_turn, session_id, token, last=last, lease_seconds=lease_seconds
        )

    @abstractmethod
    def commit_turn(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
        """Append a turn if the session is still at ``lease.version``, and release the lease.

        All in one atomic step: the messages are stored, the version bumped and the lease
        released, or nothing happens.

        Raises:
            ConcurrentTurnError: If the session moved on (nothing stored; the lease is left to
                expire or to :meth:`release_turn`).
            StoreError: If the write failed (nothing stored).
        """

    async def acommit_turn(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`commit_turn`."""
        await asyncio.to_thread(self.commit_turn, lease, messages)

    @abstractmethod
    def release_turn(self, lease: TurnLease) -> None:
        """Give the lease back without storing anything (a no-op if it is no longer held)."""

    async def arelease_turn(self, lease: TurnLease) -> None:
        """Async :meth:`release_turn`."""
        await asyncio.to_thread(self.release_turn, lease)

    @abstractmethod
    def renew_turn(self, lease: TurnLease) -> bool:
        """Extend the lease by ``lease.lease_seconds`` from now; False if it is no longer held."""

    async def arenew_turn(self, lease: TurnLease) -> bool:
        """Async :meth:`renew_turn`."""
        return await asyncio.to_thread(self.renew_turn, lease)

    def _unreleased(self) -> dict[str, str]:
        """Tokens of leases this store object could not release (the store was unreachable)."""
        tokens: dict[str, str] | None = self.__dict__.get("_unreleased_tokens")
        if tokens is None:
            tokens = self.__dict__.setdefault("_unreleased_tokens", {})
        return tokens

    def remember_unreleased(self, lease: TurnLease) -> None:
        """Note a lease whose release failed, so the session's next turn here takes it over.

        Without this, a turn retried right after the store came back would wait for its own
        failed turn's lease to expire.
        """
        self._unreleased()[lease.session_id] = lease.token

    def _token_for(self, session_id: str) -> str:
        return self._unreleased().pop(session_id, None) or new_lease_token()

    def begin_turn(
        self,
        session_id: str,
        *,
        last: int | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        ready: Callable[[TurnStart], bool] | None = None,
    ) -> TurnStart:
        """Take the session's lease (waiting up to ``lock_timeout``) and read its newest messages.

        Args:
            session_id: The session.
            last: How many newest messages to read (all if ``None``).
            lease_seconds: How long the lease lasts unless renewed.
            lock_timeout: How long to wait for another turn's lease.
            ready: If given, a session state the turn can't start from (e.g. tool calls that
                another turn is still answering) is given back and waited out like a lease.

        Raises:
            SessionBusyError: If another turn held the lease for all of ``lock_timeout``.
            StoreError: If the store could not be reached.
        """
        token = self._token_for(session_id)
        start = self.try_begin_turn(session_id, token, last=last, lease_seconds=lease_seconds)
        for delay in lease_retry_delays(lock_timeout):
            if start is not None and (ready is None or ready(start)):
                return start
            if start is not None:
                self.release_turn(start.lease)
            time.sleep(delay)
            start = self.try_begin_turn(session_id, token, last=last, lease_seconds=lease_seconds)
        if start is not None and ready is not None and not ready(start):
            self.release_turn(start.lease)
        return _started(session_id, start, ready, lock_timeout)

    async def abegin_turn(
        self,
        session_id: str,
        *,
        last: int | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        ready: Callable[[TurnStart], bool] | None = None,
    ) -> TurnStart:
        """Async :meth:`begin_turn` (waits without blocking the event loop)."""
        token = self._token_for(session_id)
        begin = self.atry_begin_turn
        start = await begin(session_id, token, last=last, lease_seconds=lease_seconds)
        for delay in lease_retry_delays(lock_timeout):
            if start is not None and (ready is None or ready(start)):
                return start
            if start is not None:
                await self.arelease_turn(start.lease)
            await asyncio.sleep(delay)
            start = await begin(session_id, token, last=last, lease_seconds=lease_seconds)
        if start is not None and ready is not None and not ready(start):
            await self.arelease_turn(start.lease)
        return _started(session_id, start, ready, lock_timeout)

    # ---- the running summary (opt-in, see ``langchain_arcee.memory.summary``) -----------
    @abstractmethod
    def load_summary(self, session_id: str) -> SessionSummary | None:
        """The session's stored summary, or ``None`` (cleared and deleted with the session)."""

    async def aload_summary(self, session_id: str) -> SessionSummary | None:
        """Async :meth:`load_summary`."""
        return await asyncio.to_thread(self.load_summary, session_id)

    @abstractmethod
    def save_summary(
        self,
        session_id: str,
        summary: SessionSummary,
        *,
        expected_covers: int | None,
        at: TurnLease | None = None,
    ) -> bool:
        """Store ``summary`` if the stored one still covers ``expected_covers`` messages.

        A compare-and-set: two instances never store competing summaries. ``None`` expects no
        summary yet. The session must exist.

        Args:
            session_id: The session.
            summary: The new summary.
            expected_covers: What the stored summary must cover (``None``: no summary yet).
            at: The turn the summary was made in: it is stored only while the session is
                still at that turn's version and life (a summary of messages cleared, or of
                a session recreated meanwhile, is never stored).

        Returns:
            Whether it was stored (``False``: another writer moved it, or no such session).
        """

    async def asave_summary(
        self,
        session_id: str,
        summary: SessionSummary,
        *,
        expected_covers: int | None,
        at: TurnLease | None = None,
    ) -> bool:
        """Async :meth:`save_summary`."""
        return await asyncio.to_thread(
            self.save_summary, session_id, summary, expected_covers=expected_covers, at=at
        )

    # ---- core: plain appends and reads -------------------------------------------------
    @abstractmethod
    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages to a session atomically (all or nothing), whatever its lease.

        Bumps the session's version, so a turn in flight on the session is then refused at
        commit. Message chunks are stored as their full message class (``AIMessageChunk`` ->
        ``AIMessage``).

        Raises:
            StoreError: If the write failed; nothing of ``messages`` is stored.
        """

    @abstractmethod
    def load(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Return a session's messages, oldest first.

        Args:
            session_id: The session.
            last: If given, only the newest ``last`` messages (fetched by the backend, not
                sliced after reading everything).
        """

    async def aappend(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`append`."""
        await asyncio.to_thread(self.append, session_id, messages)

    async def aload(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Async :meth:`load`."""
        return await asyncio.to_thread(self.load, session_id, last=last)

    # ---- admin ----------------------------------------------------------------------
    @abstractmethod
    def count(self, session_id: str) -> int:
        """Number of messages stored for a session (0 if unknown)."""

    @abstractmethod
    def read_page(self, session_id: str, *, offset: int = 0, limit: int = 100) -> list[BaseMessage]:
        """One page of a session, oldest first: messages ``offset`` .. ``offset + limit - 1``."""

    @abstractmethod
    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[SessionInfo]:
        """Stored sessions, most recently updated first."""

    @abstractmethod
    def clear(self, session_id: str) -> None:
        """Remove every message of a session (the session then reads as empty).

        Bumps the session's version: a turn in flight on it is refused at commit.
        """

    def delete(self, session_id: str) -> None:
        """Remove a session and everything stored for it."""
        self.clear(session_id)

    def export(self, session_id: str) -> list[dict[str, Any]]:
        """A session as JSON-ready dicts (``langchain_core.messages.message_to_dict`` form)."""
        from langchain_core.messages import messages_to_dict

        return messages_to_dict(self.load(session_id))

    def purge_expired(self) -> int:
        """Delete sessions whose TTL has passed; returns how many were removed."""
        return 0

    async def aexport(self, session_id: str) -> list[dict[str, Any]]:
        """Async :meth:`export`."""
        from langchain_core.messages import messages_to_dict

        return messages_to_dict(await self.aload(session_id))

    async def apurge_expired(self) -> int:
        """Async :meth:`purge_expired`."""
        return await asyncio.to_thread(self.purge_expired)

    async def acount(self, session_id: str) -> int:
        """Async :meth:`count`."""
        return await asyncio.to_thread(self.count, session_id)

    async def aread_page(
        self, session_id: str, *, offset: int = 0, limit: int = 100
    ) -> list[BaseMessage]:
        """Async :meth:`read_page`."""
        return await asyncio.to_thread(self.read_page, session_id, offset=offset, limit=limit)

    async def alist_sessions(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        return await asyncio.to_thread(self.list_sessions, limit=limit, offset=offset)

    async def aclear(self, session_id: str) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(self.clear, session_id)

    async def adelete(self, session_id: str) -> None:
        """Async :meth:`delete`."""
        await asyncio.to_thread(self.delete, session_id)

    def close(self) -> None:
        """Release connections the store owns (injected engines/clients are left open)."""
        return None

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # ---- LangChain's history interface --------------------------------------------------
    def history(self, session_id: str) -> StoreChatMessageHistory:
        """A ``BaseChatMessageHistory`` view of one session (for ``RunnableWithMessageHistory``).

        Example:
            ``RunnableWithMessageHistory(chain, store.history)``
        """
        return StoreChatMessageHistory(self, session_id)


class StoreChatMessageHistory(BaseChatMessageHistory):
    """``BaseChatMessageHistory`` over one session of a :class:`ChatStore`.

    Lets the stock ``RunnableWithMessageHistory`` and any LangChain code that expects a chat
    history use this package's stores.
    """

    def __init__(self, store: ChatStore, session_id: str) -> None:
        self.store = store
        self.session_id = check_session_id(session_id)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """All messages of the session, oldest first."""
        return self.store.load(self.session_id)

    async def aget_messages(self) -> list[BaseMessage]:
        """Async read of all messages."""
        return await self.store.aload(self.session_id)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append messages atomically."""
        self.store.append(self.session_id, messages)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async append."""
        await self.store.aappend(self.session_id, messages)

    def clear(self) -> None:
        """Remove all messages of the session."""
        self.store.clear(self.session_id)

    async def aclear(self) -> None:
        """Async clear."""
        await self.store.aclear(self.session_id)
