"""Where the PostgreSQL store's statements run: psycopg connections, pooled or borrowed.

Every source hands out a psycopg connection in autocommit mode (a unit of work of several
statements opens its own transaction on it) and takes it back afterwards:

* :class:`OwnPool` / :class:`OwnLoopPools`: connections the store opens from its URL and keeps
  idle for reuse, one set for sync calls and one per event loop (an async connection belongs
  to the loop that opened it, so successive ``asyncio.run()`` calls each get their own);
* :class:`BorrowedEngine` / :class:`BorrowedAsyncEngine`: connections of injected SQLAlchemy
  engines, from their pools (the caller's to dispose).

Statements run on psycopg directly rather than through SQLAlchemy's ``Connection``: per
statement its execution layer (events, result metadata, the async greenlet bridge) cost more
client CPU than the database's own work (see ``benchmarks/turn_parts.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from langchain_arcee.event_loops import PerLoop

_C = TypeVar("_C", psycopg.Connection[Any], psycopg.AsyncConnection[Any])

DEFAULT_MAX_CONNECTIONS = 15
"""Open connections per pool when the caller sets no bound (SQLAlchemy's default held 15)."""

ACQUIRE_TIMEOUT = 30.0
"""Seconds a statement waits for a connection when the pool's bound is reached."""


class _Idle(Generic[_C]):
    """The idle connections of a pool and what may be kept (shared by both pools).

    Hand-written rather than psycopg_pool: its pools run worker threads (sync) or tasks on the
    loop that opened them (async), so a store per request would start threads, and an async
    pool left on a loop that ended without ``aclose()`` dies with "Event loop is closed" errors.
    These pools only keep idle connections; a connection is opened when none is idle.
    """

    def __init__(self) -> None:
        self.connections: list[_C] = []

    def take(self) -> _C | None:
        return self.connections.pop() if self.connections else None

    def keep(self, conn: _C) -> bool:
        """Keep ``conn`` for reuse if it is healthy and not inside a transaction."""
        healthy = not conn.closed and not conn.broken
        if healthy and conn.info.transaction_status == TransactionStatus.IDLE:
            self.connections.append(conn)
            return True
        return False

    def drain(self) -> list[_C]:
        drained, self.connections = self.connections, []
        return drained


class OwnPool:
    """The store's sync connections: opened on demand, kept idle for reuse, closed by close()."""

    def __init__(
        self, connect_args: dict[str, Any], max_connections: int = DEFAULT_MAX_CONNECTIONS
    ) -> None:
        self._connect_args = connect_args
        self._idle: _Idle[psycopg.Connection[Any]] = _Idle()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """An idle or new connection (autocommit); a broken one is closed on return."""
        if not self._slots.acquire(timeout=ACQUIRE_TIMEOUT):
            raise psycopg.OperationalError(f"no connection free within {ACQUIRE_TIMEOUT} s")
        try:
            with self._lock:
                conn = self._idle.take()
            if conn is None:
                conn = psycopg.Connection.connect(**self._connect_args, autocommit=True)
            try:
                yield conn
            finally:
                with self._lock:
                    kept = self._idle.keep(conn)
                if not kept:
                    conn.close()
        finally:
            self._slots.release()

    def drop_dead(self) -> None:
        """After a dead connection: close the idle ones too (a server restart killed them all)."""
        self.close()

    def close(self) -> None:
        """Close the idle connections (new ones are opened if the store is used again)."""
        with self._lock:
            idle = self._idle.drain()
        for conn in idle:
            conn.close()


class OwnLoopPools:
    """The store's async connections, per event loop (as :class:`OwnPool`, on that loop)."""

    def __init__(
        self, connect_args: dict[str, Any], max_connections: int = DEFAULT_MAX_CONNECTIONS
    ) -> None:
        self._connect_args = connect_args
        self._max_connections = max_connections
        self._loops: PerLoop[tuple[_Idle[psycopg.AsyncConnection[Any]], asyncio.Semaphore]] = (
            PerLoop()
        )

    def _of_loop(self) -> tuple[_Idle[psycopg.AsyncConnection[Any]], asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        pool = self._loops.get(loop)
        if pool is None:
            pool = self._loops.add(loop, (_Idle(), asyncio.Semaphore(self._max_connections)))
        return pool

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """An idle or new connection of this loop (autocommit); a broken one is closed."""
        idle, slots = self._of_loop()
        await _take_slot(slots)
        try:
            conn = idle.take()
            if conn is None:
                conn = await psycopg.AsyncConnection.connect(**self._connect_args, autocommit=True)
            try:
                yield conn
            finally:
                if not idle.keep(conn):
                    await conn.close()
        finally:
            slots.release()

    async def drop_dead(self) -> None:
        """After a dead connection: close this loop's idle ones too."""
        pool = self._loops.get(asyncio.get_running_loop())
        for conn in pool[0].drain() if pool is not None else []:
            await conn.close()

    def close(self) -> None:
        """Forget every loop's connections: they belong to those (possibly closed) loops."""
        self._loops.clear()

    async def aclose(self) -> None:
        """Close the running loop's idle connections, and forget the others."""
        await self.drop_dead()
        self.close()


async def _take_slot(slots: asyncio.Semaphore) -> None:
    """Take one of a loop's connection slots, waiting up to :data:`ACQUIRE_TIMEOUT`."""
    if not slots.locked():
        await slots.acquire()  # free: returns at once, no timer needed
        return
    try:
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(ACQUIRE_TIMEOUT):  # a timer on this task
                await slots.acquire()
        else:  # wait_for runs the wait as a task of its own (~50 us a wait)
            await asyncio.wait_for(slots.acquire(), ACQUIRE_TIMEOUT)
    except asyncio.TimeoutError:
        msg = f"no connection free within {ACQUIRE_TIMEOUT} s"
        raise psycopg.OperationalError(msg) from None


class BorrowedEngine:
    """Connections of an injected sync SQLAlchemy engine (psycopg), back to its pool after use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """The engine's psycopg connection, in autocommit mode while it is lent."""
        proxy = self.engine.raw_connection()
        conn: psycopg.Connection[Any] = proxy.driver_connection  # type: ignore[assignment]
        try:
            conn.autocommit = True
            yield conn
        finally:
            if conn.broken:
                proxy.invalidate()
            else:
                conn.autocommit = False  # as SQLAlchemy lent it
            proxy.close()

    def drop_dead(self) -> None:
        """Nothing to do: the engine's pool is its owner's (the dead one was invalidated)."""

    def close(self) -> None:
        """Nothing to do: the engine is its owner's to dispose."""


class BorrowedAsyncEngine:
    """Connections of an injected async SQLAlchemy engine (psycopg), back to its pool after use."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """The engine's psycopg connection, in autocommit mode while it is lent."""
        proxy = await self.engine.raw_connection()
        conn: psycopg.AsyncConnection[Any] = proxy.driver_connection  # type: ignore[assignment]
        try:
            await conn.set_autocommit(True)
            yield conn
        finally:
            if conn.broken:
                proxy.invalidate()
            else:
                await conn.set_autocommit(False)  # as SQLAlchemy lent it
            # Returning it resets it through SQLAlchemy's async bridge: a greenlet.
            await greenlet_spawn(proxy.close)

    async def drop_dead(self) -> None:
        """Nothing to do: the engine's pool is its owner's (the dead one was invalidated)."""

    def close(self) -> None:
        """Nothing to do: the engine is its owner's to dispose."""

    async def aclose(self) -> None:
        """Nothing to do: the engine is its owner's to dispose."""
