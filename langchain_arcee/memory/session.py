"""Resolving a turn's session from its config, the session's I/O, and per-session locks.

A session is named by the ``configurable`` values listed in ``history_factory_config``
(default: one ``session_id``), exactly as in ``RunnableWithMessageHistory``. The source of
histories is either a ``ChatStore`` (keyed by ``session_id``) or any RWMH-style factory
returning a ``BaseChatMessageHistory``. A factory that returns this package's
``StoreChatMessageHistory`` gets the store's fast path (windowed reads, one atomic append,
native async); any other history is used through its generic interface.

Turns of one session are serialized inside the process (so turn 2 sees turn 1), whether they
run on threads, asyncio tasks or both; different sessions never wait for each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, get_origin

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.utils import ConfigurableFieldSpec

from langchain_arcee.stores.base import ChatStore, StoreChatMessageHistory

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
    """The reads and the write a turn does on its session."""

    def load(self, last: int | None) -> list[BaseMessage]:
        """The newest ``last`` messages (all if ``None``), oldest first."""

    async def aload(self, last: int | None) -> list[BaseMessage]:
        """Async :meth:`load`."""

    def load_head(self) -> list[BaseMessage]:
        """The session's first message (empty list if the session is empty)."""

    async def aload_head(self) -> list[BaseMessage]:
        """Async :meth:`load_head`."""

    def append(self, messages: Sequence[BaseMessage]) -> None:
        """Store a whole turn."""

    async def aappend(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`append`."""


class StoreSessionIO:
    """Fast path: a session of a :class:`ChatStore` (windowed reads, atomic append)."""

    def __init__(self, store: ChatStore, session_id: str) -> None:
        self.store = store
        self.session_id = session_id

    def load(self, last: int | None) -> list[BaseMessage]:
        """The newest ``last`` messages, read by the store."""
        return self.store.load(self.session_id, last=last)

    async def aload(self, last: int | None) -> list[BaseMessage]:
        """Async :meth:`load` (the store's native async read if it has one)."""
        return await self.store.aload(self.session_id, last=last)

    def load_head(self) -> list[BaseMessage]:
        """The session's first message."""
        return self.store.read_page(self.session_id, offset=0, limit=1)

    async def aload_head(self) -> list[BaseMessage]:
        """Async :meth:`load_head`."""
        return await self.store.aread_page(self.session_id, offset=0, limit=1)

    def append(self, messages: Sequence[BaseMessage]) -> None:
        """One atomic append."""
        self.store.append(self.session_id, messages)

    async def aappend(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`append`."""
        await self.store.aappend(self.session_id, messages)


class HistorySessionIO:
    """Generic path: any ``BaseChatMessageHistory`` (reads everything, then slices)."""

    def __init__(self, history: BaseChatMessageHistory) -> None:
        self.history = history

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

    def load_head(self) -> list[BaseMessage]:
        """The first message."""
        return list(self.history.messages[:1])

    async def aload_head(self) -> list[BaseMessage]:
        """Async :meth:`load_head`."""
        return list((await self.history.aget_messages())[:1])

    def append(self, messages: Sequence[BaseMessage]) -> None:
        """One ``add_messages`` call."""
        self.history.add_messages(messages)

    async def aappend(self, messages: Sequence[BaseMessage]) -> None:
        """One ``aadd_messages`` call."""
        await self.history.aadd_messages(messages)


def session_io_for(history: BaseChatMessageHistory) -> tuple[SessionIO, Any]:
    """The I/O for a history and the identity its lock is keyed on.

    A ``StoreChatMessageHistory`` is unwrapped to its store's fast path, and locked by
    ``(store, session_id)`` so every adapter over the same store shares the lock.
    """
    if isinstance(history, StoreChatMessageHistory):
        return StoreSessionIO(history.store, history.session_id), (
            id(history.store),
            history.session_id,
        )
    return HistorySessionIO(history), None


# ---- per-session locks -------------------------------------------------------------------
class SessionLock:
    """Serializes the turns of one session across threads and asyncio tasks.

    Sync turns take a ``threading.Lock``. Async turns first queue on an ``asyncio.Lock`` of
    their event loop (fair among tasks, cancellable), then take the same thread lock without
    blocking the loop (non-blocking attempts with a short sleep in between), so sync and async
    turns of one session exclude each other too.
    """

    _POLL_SECONDS = 0.001

    def __init__(self) -> None:
        self._thread_lock = threading.Lock()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock for a sync turn."""
        with self._thread_lock:
            yield

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._loop_locks.get(loop)
            if lock is None:
                lock = self._loop_locks[loop] = asyncio.Lock()
            return lock

    @contextlib.asynccontextmanager
    async def ahold(self) -> AsyncIterator[None]:
        """Hold the lock for an async turn (never blocks the event loop)."""
        async with self._loop_lock():
            while not self._thread_lock.acquire(blocking=False):
                await asyncio.sleep(self._POLL_SECONDS)
            try:
                yield
            finally:
                self._thread_lock.release()


class SessionLocks:
    """Registry of :class:`SessionLock` by session identity.

    Entries are weak: a lock lives while a turn holds it (or waits for it) and is dropped
    afterwards, so the registry stays as small as the number of sessions in flight.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[Any, SessionLock] = weakref.WeakValueDictionary()
        self._guard = threading.Lock()

    def get(self, key: Any) -> SessionLock:
        """The lock for ``key`` (created on first use)."""
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = SessionLock()
                self._locks[key] = lock
            return lock

    def __len__(self) -> int:
        return len(self._locks)


SESSION_LOCKS = SessionLocks()
"""Process-wide registry, so two adapters over the same store and session share a lock."""


# ---- resolving the session from config ---------------------------------------------------
@dataclass
class Session:
    """A resolved session: its I/O and its lock.

    Attributes:
        key: The configurable values naming the session, in ``history_factory_config`` order.
        io: Reads and writes of the session.
        lock: Serializes the session's turns.
    """

    key: tuple[Any, ...]
    io: SessionIO
    lock: SessionLock


class SessionResolver:
    """Turns a call's config into a :class:`Session`.

    Args:
        source: A ``ChatStore`` (sessions keyed by ``session_id``) or an RWMH-style factory.
        specs: The configurable fields naming a session (default: ``session_id``).
        locks: Lock registry (default: the process-wide one).

    Raises:
        ValueError: If a store is given with more than one key, or the factory's parameters
            do not match the keys.
    """

    def __init__(
        self,
        source: ChatStore | GetSessionHistory,
        specs: Sequence[ConfigurableFieldSpec] | None = None,
        locks: SessionLocks | None = None,
    ) -> None:
        self.source = source
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
            io: SessionIO = StoreSessionIO(self.source, session_id)
            lock_key: Any = (id(self.source), session_id)
        else:
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
            io, lock_key = session_io_for(history)
            if lock_key is None:
                lock_key = (id(self.source), values)
        return Session(key=values, io=io, lock=self.locks.get(lock_key))
