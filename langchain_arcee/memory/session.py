"""Resolving a turn's session from its config, the session's I/O, and per-session locks.

A session is named by the ``configurable`` values listed in ``history_factory_config``
(default: one ``session_id``), exactly as in ``RunnableWithMessageHistory``. The source of
histories is either a ``ChatStore`` (keyed by ``session_id``) or any RWMH-style factory
returning a ``BaseChatMessageHistory``. A factory that returns this package's
``StoreChatMessageHistory`` gets the store's fast path (windowed reads, one atomic append,
native async); any other history is used through its generic interface.

Turns of a store's session are serialized by the store's lease, across threads, tasks,
processes and hosts alike (a turn sees every earlier turn, whichever instance ran it); turns of
a generic history by an in-process lock. Different sessions never wait for each other.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, get_origin

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.utils import ConfigurableFieldSpec

from langchain_arcee.stores.base import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_LOCK_TIMEOUT,
    ChatStore,
    SessionSummary,
    StoreChatMessageHistory,
    StoreError,
    TurnLease,
    TurnStart,
    busy_error,
    lease_retry_delays,
)

Ready = Callable[[TurnStart], bool]
"""Whether a turn can start from the session state it read."""

GetSessionHistory = Callable[..., BaseChatMessageHistory]
"""An RWMH-style factory: configurable values in, chat history out."""

DEFAULT_SESSION_SPEC = ConfigurableFieldSpec(
    id="session_id",
    annotation=str,
    name="Session ID",
    description="Unique identifier for a session.",
    default="",
    is_shared=True,
)


class SessionIO(Protocol):
    """The reads and writes a turn does on its session."""

    def begin(self, last: int | None, ready: Ready | None = None) -> TurnStart:
        """Claim the session for a turn and read its newest ``last`` messages.

        ``ready`` says whether the turn can start from what was read; if not, the claim is
        given back and retried until ``lock_timeout``.
        """

    async def abegin(self, last: int | None, ready: Ready | None = None) -> TurnStart:
        """Async :meth:`begin`."""

    def load(self, last: int | None) -> list[BaseMessage]:
        """The newest ``last`` messages (all if ``None``), oldest first."""

    async def aload(self, last: int | None) -> list[BaseMessage]:
        """Async :meth:`load`."""

    def commit(self, start: TurnStart, messages: Sequence[BaseMessage]) -> None:
        """Store a whole turn and end the claim."""

    async def acommit(self, start: TurnStart, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`commit`."""

    def release(self, start: TurnStart) -> None:
        """End the claim without storing anything."""

    async def arelease(self, start: TurnStart) -> None:
        """Async :meth:`release`."""

    def renew(self, start: TurnStart) -> bool:
        """Keep the claim alive (called from a background thread); False if it was lost."""

    def load_summary(self) -> SessionSummary | None:
        """The session's stored running summary."""

    async def aload_summary(self) -> SessionSummary | None:
        """Async :meth:`load_summary`."""

    def load_page(self, offset: int, limit: int) -> list[BaseMessage]:
        """Stored messages ``offset`` .. ``offset + limit - 1``."""

    async def aload_page(self, offset: int, limit: int) -> list[BaseMessage]:
        """Async :meth:`load_page`."""

    def save_summary(
        self, summary: SessionSummary, *, expected_covers: int | None, at: TurnLease | None
    ) -> bool:
        """Compare-and-set the session's running summary (while it is as turn ``at`` read it)."""

    async def asave_summary(
        self, summary: SessionSummary, *, expected_covers: int | None, at: TurnLease | None
    ) -> bool:
        """Async :meth:`save_summary`."""


@dataclass(frozen=True)
class TurnLimits:
    """How long a turn may hold its session and wait for it.

    Attributes:
        lease_seconds: How long a claim lasts unless renewed (a crashed holder blocks the
            session at most this long).
        lock_timeout: How long a turn waits for another turn's claim before
            ``SessionBusyError``.
    """

    lease_seconds: float = DEFAULT_LEASE_SECONDS
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT


class StoreSessionIO:
    """A session of a :class:`ChatStore`: the store's lease and version protocol.

    The store is the authority on the session's order, so turns run by other processes, hosts
    or store objects on the same database are serialized too.
    """

    def __init__(self, store: ChatStore, session_id: str, limits: TurnLimits) -> None:
        self.store = store
        self.session_id = session_id
        self.limits = limits

    def begin(self, last: int | None, ready: Ready | None = None) -> TurnStart:
        """Take the session's lease (waiting up to ``lock_timeout``) and read the window."""
        return self.store.begin_turn(
            self.session_id,
            last=last,
            lease_seconds=self.limits.lease_seconds,
            lock_timeout=self.limits.lock_timeout,
            ready=ready,
        )

    async def abegin(self, last: int | None, ready: Ready | None = None) -> TurnStart:
        """Async :meth:`begin`."""
        return await self.store.abegin_turn(
            self.session_id,
            last=last,
            lease_seconds=self.limits.lease_seconds,
            lock_timeout=self.limits.lock_timeout,
            ready=ready,
        )

    def load(self, last: int | None) -> list[BaseMessage]:
        """The newest ``last`` messages, read by the store."""
        return self.store.load(self.session_id, last=last)

    async def aload(self, last: int | None) -> list[BaseMessage]:
        """Async :meth:`load`."""
        return await self.store.aload(self.session_id, last=last)

    def commit(self, start: TurnStart, messages: Sequence[BaseMessage]) -> None:
        """Append the turn if the session did not move on (else ``ConcurrentTurnError``)."""
        self.store.commit_turn(start.lease, messages)

    async def acommit(self, start: TurnStart, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`commit`."""
        await self.store.acommit_turn(start.lease, messages)

    def release(self, start: TurnStart) -> None:
        """Give the lease back (if the store can't be reached, the next turn takes it over)."""
        try:
            self.store.release_turn(start.lease)
        except StoreError:
            self.store.remember_unreleased(start.lease)
            raise

    async def arelease(self, start: TurnStart) -> None:
        """Async :meth:`release`."""
        try:
            await self.store.arelease_turn(start.lease)
        except StoreError:
            self.store.remember_unreleased(start.lease)
            raise

    def renew(self, start: TurnStart) -> bool:
        """Extend the lease."""
        return self.store.renew_turn(start.lease)

    # The running summary's I/O (``langchain_arcee.memory.summary.SummaryIO``).
    def load_summary(self) -> SessionSummary | None:
        """The session's stored summary."""
        return self.store.load_summary(self.session_id)

    async def aload_summary(self) -> SessionSummary | None:
        """Async :meth:`load_summary`."""
        return await self.store.aload_summary(self.session_id)

    def load_page(self, offset: int, limit: int) -> list[BaseMessage]:
        """Stored messages ``offset`` .. ``offset + limit - 1``."""
        return self.store.read_page(self.session_id, offset=offset, limit=limit)

    async def aload_page(self, offset: int, limit: int) -> list[BaseMessage]:
        """Async :meth:`load_page`."""
        return await self.store.aread_page(self.session_id, offset=offset, limit=limit)

    def save_summary(
        self, summary: SessionSummary, *, expected_covers: int | None, at: TurnLease | None
    ) -> bool:
        """Compare-and-set the session's summary."""
        return self.store.save_summary(
            self.session_id, summary, expected_covers=expected_covers, at=at
        )

    async def asave_summary(
        self, summary: SessionSummary, *, expected_covers: int | None, at: TurnLease | None
    ) -> bool:
        """Async :meth:`save_summary`."""
        return await self.store.asave_summary(
            self.session_id, summary, expected_covers=expected_covers, at=at
        )


class HistorySessionIO:
    """Generic path: any ``BaseChatMessageHistory`` (reads everything, then slices).

    A generic history has no lease or version, so its turns are serialized by an in-process
    lock only (held for ``lock_timeout`` at most by a turn that never finishes).
    """

    def __init__(
        self, history: BaseChatMessageHistory, lock: SessionLock, limits: TurnLimits
    ) -> None:
        self.history = history
        self.lock = lock
        self.limits = limits

    @staticmethod
    def _start(messages: list[BaseMessage], last: int | None) -> TurnStart:
        window = messages if last is None else messages[-last:] if last else []
        head = messages[0] if len(window) < len(messages) else None
        lease = TurnLease("", "", 0, 0.0)
        return TurnStart(lease, list(window), len(messages), head)

    def begin(self, last: int | None, ready: Ready | None = None) -> TurnStart:
        """Take the in-process lock and read the history (``ready`` is not waited for)."""
        self.lock.acquire(self.limits.lock_timeout)
        try:
            return self._start(self.history.messages, last)
        except BaseException:
            self.lock.release()
            raise

    async def abegin(self, last: int | None, ready: Ready | None = None) -> TurnStart:
        """Async :meth:`begin` via ``aget_messages``."""
        await self.lock.aacquire(self.limits.lock_timeout)
        try:
            return self._start(await self.history.aget_messages(), last)
        except BaseException:
            self.lock.release()
            raise

    @staticmethod
    def _newest(messages: list[BaseMessage], last: int | None) -> list[BaseMessage]:
        if last is None:
            return list(messages)
        return list(messages[-last:]) if last else []

    def load(self, last: int | None) -> list[BaseMessage]:
        """The newest ``last`` messages (the history has no windowed read)."""
        return self._newest(self.history.messages, last)

    async def aload(self, last: int | None) -> list[BaseMessage]:
        """Async :meth:`load` via ``aget_messages``."""
        return self._newest(await self.history.aget_messages(), last)

    def commit(self, start: TurnStart, messages: Sequence[BaseMessage]) -> None:
        """One ``add_messages`` call, then the lock is released."""
        try:
            self.history.add_messages(messages)
        finally:
            self.lock.release()

    async def acommit(self, start: TurnStart, messages: Sequence[BaseMessage]) -> None:
        """One ``aadd_messages`` call, then the lock is released."""
        try:
            await self.history.aadd_messages(messages)
        finally:
            self.lock.release()

    def release(self, start: TurnStart) -> None:
        """Release the lock."""
        self.lock.release()

    async def arelease(self, start: TurnStart) -> None:
        """Async :meth:`release`."""
        self.lock.release()

    def renew(self, start: TurnStart) -> bool:
        """Nothing to renew: the in-process lock does not expire."""
        return True

    def load_summary(self) -> SessionSummary | None:
        """A generic history has nowhere to keep a summary.

        Raises:
            ValueError: Always.
        """
        msg = (
            "a running summary needs a ChatStore (or store.history): a generic "
            "BaseChatMessageHistory has nowhere to keep it"
        )
        raise ValueError(msg)

    async def aload_summary(self) -> SessionSummary | None:
        """Async :meth:`load_summary`."""
        return self.load_summary()

    def load_page(self, offset: int, limit: int) -> list[BaseMessage]:
        """A slice of the whole history."""
        return list(self.history.messages[offset : offset + limit])

    async def aload_page(self, offset: int, limit: int) -> list[BaseMessage]:
        """Async :meth:`load_page`."""
        return list((await self.history.aget_messages())[offset : offset + limit])

    def save_summary(
        self, summary: SessionSummary, *, expected_covers: int | None, at: TurnLease | None
    ) -> bool:
        """Never stored (see :meth:`load_summary`)."""
        return False

    async def asave_summary(
        self, summary: SessionSummary, *, expected_covers: int | None, at: TurnLease | None
    ) -> bool:
        """Never stored (see :meth:`load_summary`)."""
        return False


# ---- per-session locks of generic histories -----------------------------------------------
class SessionLock:
    """Serializes the turns of one generic history across threads and asyncio tasks.

    Sync turns block on a ``threading.Lock``; async turns poll it without blocking the event
    loop. Either gives up after a timeout with ``SessionBusyError``.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._thread_lock = threading.Lock()

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting up to ``timeout`` seconds.

        Raises:
            SessionBusyError: If it was not released in time.
        """
        if not self._thread_lock.acquire(timeout=timeout):
            raise busy_error(self.name, timeout)

    async def aacquire(self, timeout: float) -> None:
        """Async :meth:`acquire` (never blocks the event loop)."""
        if self._thread_lock.acquire(blocking=False):
            return
        for delay in lease_retry_delays(timeout):
            await asyncio.sleep(delay)
            if self._thread_lock.acquire(blocking=False):
                return
        raise busy_error(self.name, timeout)

    def release(self) -> None:
        """Release the lock."""
        self._thread_lock.release()


class SessionLocks:
    """Registry of :class:`SessionLock` by session identity.

    Entries are weak: a lock lives while a turn holds it (or waits for it) and is dropped
    afterwards, so the registry stays as small as the number of sessions in flight.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[Any, SessionLock] = weakref.WeakValueDictionary()
        self._guard = threading.Lock()

    def get(self, key: Any, name: str = "") -> SessionLock:
        """The lock for ``key`` (created on first use)."""
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = SessionLock(name)
                self._locks[key] = lock
            return lock

    def __len__(self) -> int:
        return len(self._locks)


SESSION_LOCKS = SessionLocks()
"""Process-wide registry of the locks of generic histories."""


# ---- resolving the session from config ---------------------------------------------------
@dataclass
class Session:
    """A resolved session: its key and its I/O.

    Attributes:
        key: The configurable values naming the session, in ``history_factory_config`` order.
        name: A readable name of the session for errors and logs.
        io: Reads and writes of the session.
    """

    key: tuple[Any, ...]
    name: str
    io: SessionIO


class SessionResolver:
    """Turns a call's config into a :class:`Session`.

    Args:
        source: A ``ChatStore`` (sessions keyed by ``session_id``) or an RWMH-style factory.
        specs: The configurable fields naming a session (default: ``session_id``).
        limits: How long a turn may hold its session and wait for it.
        locks: Lock registry of generic histories (default: the process-wide one).

    Raises:
        ValueError: If a store is given with more than one key, or the factory's parameters
            do not match the keys.
    """

    def __init__(
        self,
        source: ChatStore | GetSessionHistory,
        specs: Sequence[ConfigurableFieldSpec] | None = None,
        limits: TurnLimits | None = None,
        locks: SessionLocks | None = None,
    ) -> None:
        self.source = source
        self.limits = limits or TurnLimits()
        self.specs: list[ConfigurableFieldSpec] = list(specs) if specs else [DEFAULT_SESSION_SPEC]
        self.keys = [spec.id for spec in self.specs]
        self.locks = locks if locks is not None else SESSION_LOCKS
        self._factory_params: list[str] = []
        if isinstance(source, ChatStore):
            if len(self.keys) != 1:
                msg = (
                    f"A ChatStore names sessions by one key, got {self.keys}; pass a factory "
                    "instead, e.g. lambda user_id, conversation_id: "
                    'store.history(f"{user_id}:{conversation_id}")'
                )
                raise ValueError(msg)
        elif callable(source):
            self._factory_params = list(inspect.signature(source).parameters)
            if len(self.keys) > 1 and set(self.keys) != set(self._factory_params):
                msg = (
                    f"Expected keys {sorted(self.keys)} do not match parameter names "
                    f"{sorted(self._factory_params)} of get_session_history."
                )
                raise ValueError(msg)
        else:
            msg = (
                "get_session_history must be a ChatStore or a callable returning a "
                f"BaseChatMessageHistory, got {type(source).__name__}"
            )
            raise TypeError(msg)

    def _values(self, config: RunnableConfig) -> tuple[Any, ...]:
        configurable = config.get("configurable") or {}
        if not self._factory_params and not isinstance(self.source, ChatStore):
            return ()  # a factory without parameters ignores the config, as in RWMH
        missing = [key for key in self.keys if key not in configurable]
        if missing:
            example = {"configurable": dict.fromkeys(self.keys, "<value>")}
            msg = (
                f"Missing key(s) {missing} in config['configurable']; this runnable keeps "
                f"history per session and needs {self.keys}, e.g. .invoke(..., {example})"
            )
            raise ValueError(msg)
        values = []
        for spec in self.specs:
            value = configurable[spec.id]
            expected = spec.annotation
            if (
                isinstance(expected, type)
                and get_origin(expected) is None
                and not isinstance(value, expected)
            ):
                msg = (
                    f"config['configurable'][{spec.id!r}] must be a {expected.__name__}, "
                    f"got {type(value).__name__}: {value!r}"
                )
                raise TypeError(msg)
            if isinstance(value, str) and not value:
                msg = f"config['configurable'][{spec.id!r}] must be a non-empty string"
                raise ValueError(msg)
            values.append(value)
        return tuple(values)

    def resolve(self, config: RunnableConfig) -> Session:
        """The session a call's config names.

        Raises:
            ValueError: If a key is missing or empty.
            TypeError: If a key has the wrong type, or the factory returned no chat history.
        """
        values = self._values(config)
        if isinstance(self.source, ChatStore):
            session_id = values[0]
            return Session(values, session_id, StoreSessionIO(self.source, session_id, self.limits))
        if not values:
            history = self.source()
        elif len(self.keys) == 1:
            history = self.source(values[0])
        else:
            history = self.source(**dict(zip(self.keys, values, strict=True)))
        if not isinstance(history, BaseChatMessageHistory):
            msg = (
                "get_session_history must return a BaseChatMessageHistory, got "
                f"{type(history).__name__}"
            )
            raise TypeError(msg)
        if isinstance(history, StoreChatMessageHistory):
            # This package's history view: use its store's protocol directly.
            io: SessionIO = StoreSessionIO(history.store, history.session_id, self.limits)
            return Session(values, history.session_id, io)
        name = ":".join(map(str, values))
        lock = self.locks.get((id(self.source), values), name)
        return Session(values, name, HistorySessionIO(history, lock, self.limits))
