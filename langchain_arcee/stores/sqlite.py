"""SQLite conversation store, on the standard library's ``sqlite3`` (no other dependency).

One file can be shared by several threads and processes: the database runs in WAL mode
(readers never block the writer), every write transaction starts with ``BEGIN IMMEDIATE`` (it
takes the write lock up front, so two writers queue on ``busy_timeout`` instead of failing on
a lock upgrade) and an append is one transaction. Leases and TTLs use the clock of the host
the processes run on (a SQLite file is shared by one host's processes only).

The statements are plain SQL, written once per store: importing SQLAlchemy costs a one-shot
``arcee-chat -m`` more than everything else it does, and SQLite needs none of its portability.
Async calls run a unit of work on the event loop's own connection when nothing has to wait
(busy_timeout 0: a statement takes microseconds), and on a worker thread, which may wait,
when another process or thread holds the lock; the loop's connection is checkpointed from a
worker thread. One store serves any number of threads and event loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from langchain_arcee.redaction import redact_url
from langchain_arcee.stores.base import StoreError
from langchain_arcee.stores.relational import RelationalChatStore, Results, Work, store_error
from langchain_arcee.stores.serialization import DecodeCache

if TYPE_CHECKING:
    from sqlalchemy import Engine

_T = TypeVar("_T")

_SCHEMES = ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite")

_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6  # SQLite's primary result codes (sqlite3.h)

CHECKPOINT_EVERY = 200
"""Writes on event-loop connections between two checkpoints run on a worker thread."""

logger = logging.getLogger(__name__)


def sqlite_path(path_or_url: str | Path) -> str:
    """The database file path of a plain path or a ``sqlite[+driver]:///path`` URL.

    Raises:
        ValueError: For an in-memory database or a non-SQLite URL.
    """
    raw = str(path_or_url)
    if "://" in raw:
        url = urlsplit(raw)
        if url.scheme.lower() not in _SCHEMES:
            msg = f"not a SQLite URL: {redact_url(raw)!r}"
            raise ValueError(msg)
        if url.netloc:
            msg = f"a SQLite URL names a file, not a host: {redact_url(raw)!r}"
            raise ValueError(msg)
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them.
        database = unquote(url.path[1:])
    else:
        database = raw
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        msg = (
            "SQLiteChatStore needs a database file (an in-memory SQLite database is not shared "
            "between connections); use InMemoryChatStore instead"
        )
        raise ValueError(msg)
    return database


def _stored(value: datetime) -> str:
    """A UTC datetime as stored: naive text, as SQLAlchemy wrote it (0.1.0 files compare)."""
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, begin: str | None) -> Iterator[sqlite3.Connection]:
    """Run the block in a transaction opened by ``begin`` (``None``: no explicit one).

    Commits when the block ends, rolls back if it raises (even on cancellation).
    """
    if begin is not None:
        conn.execute(begin)
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    if conn.in_transaction:
        conn.commit()


class _OwnConnections:
    """Connections this store opens to its file, kept idle for reuse by any thread.

    Hand-written (the standard library has no pool, and SQLAlchemy's is the import this
    store avoids); the store closes them on :meth:`SQLiteChatStore.close`.
    """

    def __init__(self, open_connection: Callable[[], sqlite3.Connection]) -> None:
        self._open = open_connection
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        conn = conn or self._open()
        try:
            yield conn
        finally:
            if conn.in_transaction:  # a failed rollback left it unusable: don't reuse it
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _EngineConnections:
    """Connections borrowed from an injected SQLAlchemy engine: its pool, its caller's to close."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        proxy = self.engine.raw_connection()
        try:
            yield proxy.driver_connection  # type: ignore[misc]
        finally:
            proxy.close()  # back to the engine's pool

    def close(self) -> None:
        return None


class SQLiteChatStore(RelationalChatStore):
    """Conversation store in a SQLite file.

    Connections are opened lazily from the path (and closed by :meth:`close`, or on leaving
    a ``with`` block), or borrowed from an injected SQLAlchemy ``engine`` (then no path is
    needed, the engine is left open and its connections get no pragmas from this store).

    Args:
        path_or_url: Database file path or ``sqlite:///path`` URL (not needed when an engine
            is injected).
        engine: SQLAlchemy engine on a SQLite file to borrow connections from instead.
        ttl: Sessions expire this long after their last write (``timedelta`` or seconds);
            :meth:`purge_expired` deletes them.
        table_prefix: Prefix of the table names.
        busy_timeout_ms: How long a writer waits for another's lock before failing.
        cache_bytes: Bound of the decoded-message cache (bytes of stored text); 0 disables it.

    Example:
        ``with SQLiteChatStore("chats.db") as store: ...``
    """

    _NO_LIMIT = -1

    def __init__(
        self,
        path_or_url: str | Path | None = None,
        *,
        engine: Engine | None = None,
        ttl: timedelta | float | None = None,
        table_prefix: str = "arcee",
        busy_timeout_ms: int = 30_000,
        cache_bytes: int = DecodeCache.DEFAULT_MAX_BYTES,
    ) -> None:
        super().__init__(ttl=ttl, table_prefix=table_prefix, cache_bytes=cache_bytes)
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._connections: _OwnConnections | _EngineConnections
        if engine is not None:
            self.path: str | None = engine.url.database
            self._connections = _EngineConnections(engine)
        elif path_or_url is not None:
            self.path = sqlite_path(path_or_url)
            self._connections = _OwnConnections(self._open_connection)
        else:
            msg = "SQLiteChatStore needs a database path (or an injected engine)"
            raise ValueError(msg)
        self._write_lock = threading.Lock()
        # Event loop thread -> its own connection (see _arun), and the checkpoints they owe.
        self._loop_connections: dict[int, sqlite3.Connection] = {}
        self._loop_lock = threading.Lock()
        self._loop_writes = 0
        self._checkpoints: set[asyncio.Future[None]] = set()
        self.sessions_table = f"{table_prefix}_sessions"
        self.messages_table = f"{table_prefix}_messages"
        self.migrations_table = f"{table_prefix}_migrations"
        self._build_statements()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, table_prefix={self.table_prefix!r})"

    # ---- connections ------------------------------------------------------------------
    def _open_connection(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit BEGIN; the executor opens every transaction.
        conn = sqlite3.connect(
            str(self.path),
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        """Pragmas of every connection this store opens."""
        # busy_timeout first: switching to WAL needs a lock another process may hold.
        conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms:d}")
        # Switching to WAL can fail at once with "database is locked" while another
        # process opens the same new file (SQLite's busy handler does not cover it): retry.
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")

    # ---- migrations ---------------------------------------------------------------------
    def _migrate_create_tables(self, conn: sqlite3.Connection) -> None:
        """v0: the tables and indexes as 0.1.0 created them, if absent."""
        s, m = self.sessions_table, self.messages_table
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{s}" (session_id TEXT NOT NULL, '
            "created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, expires_at DATETIME, "
            "message_count INTEGER NOT NULL, PRIMARY KEY (session_id))"
        )
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{s}_updated_idx" ON "{s}" (updated_at)')
        # AUTOINCREMENT: message ids are never reused, even after deletes.
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{m}" (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, '
            "session_id TEXT NOT NULL, data TEXT NOT NULL, created_at DATETIME NOT NULL, "
            f'FOREIGN KEY(session_id) REFERENCES "{s}" (session_id) ON DELETE CASCADE)'
        )
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{m}_session_idx" ON "{m}" (session_id, id)')

    def _add_missing_columns(self, conn: sqlite3.Connection, columns: dict[str, str]) -> None:
        table = self.sessions_table
        existing = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
        for name, ddl in columns.items():
            if name not in existing:
                conn.execute(f'ALTER TABLE "{table}" ADD COLUMN {name} {ddl}')

    def _migrate_add_turn_columns(self, conn: sqlite3.Connection) -> None:
        """v1: the turn protocol's version and lease columns (those still missing)."""
        self._add_missing_columns(
            conn,
            {
                "version": "BIGINT NOT NULL DEFAULT 0",
                "lease_token": "TEXT",
                "lease_expires_at": "DATETIME",
                "last_turn_token": "TEXT",
            },
        )

    def _migrate_add_summary_columns(self, conn: sqlite3.Connection) -> None:
        """v2: the running summary, stored beside the transcript (those still missing)."""
        self._add_missing_columns(
            conn, {"summary": "TEXT", "summary_covers": "INTEGER", "summary_updated_at": "DATETIME"}
        )

    @property
    def MIGRATIONS(self) -> list[Callable[[sqlite3.Connection], None]]:
        """The schema's migrations; index ``i`` is schema version ``i``."""
        return [
            self._migrate_create_tables,
            self._migrate_add_turn_columns,
            self._migrate_add_summary_columns,
        ]

    def _setup_on(self, conn: sqlite3.Connection) -> None:
        """Apply the missing migrations in the caller's transaction, recording each."""
        table = self.migrations_table
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{table}" (v INTEGER NOT NULL, PRIMARY KEY (v))')
        done = {row[0] for row in conn.execute(f'SELECT v FROM "{table}"')}
        for version, migration in enumerate(self.MIGRATIONS):
            if version not in done:
                migration(conn)
                conn.execute(f'INSERT INTO "{table}" (v) VALUES (?)', (version,))

    def _apply_migrations(self) -> None:
        # One BEGIN IMMEDIATE transaction: processes sharing a new file migrate one at a time.
        try:
            with self._connections.connection() as conn, _transaction(conn, "BEGIN IMMEDIATE"):
                self._setup_on(conn)
        except sqlite3.Error as exc:
            msg = f"setting up the tables of {self!r} failed: {_describe(exc)}"
            raise StoreError(msg) from exc

    # ---- execution ----------------------------------------------------------------------
    def _run(
        self, work: Work, session_id: str, finish: Callable[[Results], _T], *, write: bool
    ) -> _T:
        if not self._ready:
            self.setup()
        # This process's writers queue on a lock that wakes the next one at once; left to
        # SQLite's busy handler they would sleep in steps of up to 100 ms (other processes
        # still meet on busy_timeout).
        queue = self._write_lock if write else contextlib.nullcontext()
        try:
            with queue, self._connections.connection() as conn:
                return _unit_of_work(conn, work, finish, write)
        except sqlite3.Error as exc:
            raise store_error(session_id, write, _describe(exc)) from exc

    async def _arun(
        self, work: Work, session_id: str, finish: Callable[[Results], _T], *, write: bool
    ) -> _T:
        """Async :meth:`_run`: on the event loop when nothing has to wait, else on a thread.

        A unit of work takes microseconds unless it waits for a lock. On the loop's own
        connection (busy_timeout 0) it runs at once when no writer of this process is active
        and SQLite grants its lock immediately; otherwise (another process writing, a busy
        database) it goes to a worker thread and waits there, never on the loop.
        """
        conn = self._loop_connection() if self._ready else None
        if write and conn is not None and self._checkpoints:
            # Let a checkpoint this loop asked for finish first (a write racing it would keep
            # it from ever catching up with the WAL).
            loop = asyncio.get_running_loop()
            mine = [c for c in list(self._checkpoints) if c.get_loop() is loop and not c.done()]
            if mine:
                await asyncio.wait(mine)
        if conn is not None and (not write or self._write_lock.acquire(blocking=False)):
            try:
                answer = _unit_of_work(conn, work, finish, write)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):  # busy: rolled back, nothing applied; wait on a thread
                    raise store_error(session_id, write, _describe(exc)) from exc
            except sqlite3.Error as exc:
                raise store_error(session_id, write, _describe(exc)) from exc
            else:
                if write:
                    self._after_loop_write()
                return answer
            finally:
                if write:
                    self._write_lock.release()
        elif conn is None and self._ready and isinstance(self._connections, _OwnConnections):
            await asyncio.to_thread(self._open_loop_connection, threading.get_ident())
        return await asyncio.to_thread(self._run, work, session_id, finish, write=write)

    def _loop_connection(self) -> sqlite3.Connection | None:
        """This thread's loop connection, if opened (see :meth:`_open_loop_connection`)."""
        return self._loop_connections.get(threading.get_ident())

    def _open_loop_connection(self, loop_thread: int) -> None:
        """Open the connection of the loop running on thread ``loop_thread``.

        Called on a worker thread (opening may wait for a lock). The connection never waits
        (busy_timeout 0) and never checkpoints (copying the WAL into the database file and
        syncing it): :meth:`_after_loop_write` has a worker thread do that.
        """
        conn = self._open_connection()
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        with self._loop_lock:
            # Several tasks of the loop may have asked at once: the first one opened wins (the
            # loop may be using it already).
            kept = self._loop_connections.setdefault(loop_thread, conn)
        if kept is not conn:
            conn.close()

    def _after_loop_write(self) -> None:
        self._loop_writes += 1
        if self._loop_writes % CHECKPOINT_EVERY == 0:
            for orphan in [c for c in list(self._checkpoints) if c.get_loop().is_closed()]:
                self._checkpoints.discard(orphan)  # its loop ended before it reported
            task = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
            self._checkpoints.add(task)
            task.add_done_callback(self._checkpoints.discard)

    def _checkpoint(self) -> None:
        # What SQLite's automatic checkpoint would have done on the loop's connection: PASSIVE,
        # waiting for nobody. The loop's writers wait for it (see _arun), so it can copy the
        # whole WAL and the next write starts the WAL over instead of growing it.
        try:
            with self._connections.connection() as conn:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            logger.debug("checkpointing %r failed; the next one retries", self, exc_info=True)

    def _params(self, session_id: str, **values: Any) -> dict[str, Any]:
        params = super()._params(session_id, **values)
        # Times are the app host's clock, computed here (SQLite's own is the same host's).
        for name in ("lease", "ttl"):
            if name in params:
                seconds = params[name]
                params[f"{name}_at"] = (
                    None if seconds is None else params["now"] + timedelta(seconds=seconds)
                )
        return {k: _stored(v) if isinstance(v, datetime) else v for k, v in params.items()}

    def close(self) -> None:
        """Close the connections this store opened (an injected engine is left open)."""
        self._connections.close()
        with self._loop_lock:
            loop_connections, self._loop_connections = self._loop_connections, {}
        # Only this thread's loop connection is surely idle now; another loop's may be in use
        # on its thread (closing it there could crash the driver): dropped, it closes when
        # that use ends and its last reference goes.
        own = loop_connections.get(threading.get_ident())
        if own is not None:
            own.close()

    # ---- statements (written once) ------------------------------------------------------
    def _build_statements(self) -> None:
        s, m = f'"{self.sessions_table}"', f'"{self.messages_table}"'
        live = "(expires_at IS NULL OR expires_at > :now)"
        expired = "(expires_at IS NOT NULL AND expires_at <= :now)"
        live_session = f"EXISTS (SELECT 1 FROM {s} WHERE session_id = :sid AND {live})"

        # A turn's start: take the lease (insert the session row if new), then read.
        self._take_lease = (
            f"INSERT INTO {s} (session_id, created_at, updated_at, expires_at, message_count, "
            "version, lease_token, lease_expires_at) "
            "VALUES (:sid, :now, :now, NULL, 0, 0, :token, :lease_at) "
            "ON CONFLICT (session_id) DO UPDATE SET lease_token = excluded.lease_token, "
            "lease_expires_at = excluded.lease_expires_at "
            f"WHERE {s}.lease_token IS NULL OR {s}.lease_token = excluded.lease_token "
            f"OR {s}.lease_expires_at <= :now "
            f"RETURNING version, message_count, {expired}"
        )
        newest = f"(SELECT max(id) FROM {m} WHERE session_id = :sid)"
        # The session only grew since the state this object has cached if the newest message
        # cached is still there (messages are deleted a whole session at a time, ids never
        # reused): then only the rows after it ship.
        grown = f"EXISTS (SELECT 1 FROM {m} WHERE session_id = :sid AND id = :known_newest)"
        after = f"(SELECT CASE WHEN {grown} THEN :known_newest ELSE 0 END)"
        # The window ships only if the session is not at the state this object has cached.
        self._window = (
            f"SELECT id, data FROM {m} WHERE session_id = :sid AND id > {after} AND NOT ("
            f"(SELECT version FROM {s} WHERE session_id = :sid) = :known_version "
            f"AND {newest} IS :known_newest) ORDER BY id DESC LIMIT :last"
        )
        self._head = f"SELECT id, data FROM {m} WHERE session_id = :sid ORDER BY id LIMIT 1"
        self._newest = f"SELECT {newest}"
        self._newest_and_grown = f"SELECT {newest}, {grown}"
        self._state = (
            f"SELECT version, message_count, {expired}, last_turn_token FROM {s} "
            "WHERE session_id = :sid"
        )

        # A turn's commit: everything conditional on the version the turn read.
        at_base = f"EXISTS (SELECT 1 FROM {s} WHERE session_id = :sid AND version = :base"
        self._purge_if_expired = (
            f"DELETE FROM {m} WHERE session_id = :sid AND {at_base} AND {expired})"
        )
        self._insert_if_at_base = (
            f"INSERT INTO {m} (session_id, data, created_at) "
            f"SELECT :sid, :data, :now WHERE {at_base})"
        )
        own_lease = "lease_token = :token"
        # An expired session starts afresh: its summary goes with its messages.
        self._bump_if_at_base = (
            f"UPDATE {s} SET version = version + 1, "
            f"message_count = CASE WHEN {expired} THEN 0 ELSE message_count END + :n, "
            "updated_at = :now, expires_at = :ttl_at, "
            f"lease_token = CASE WHEN {own_lease} THEN NULL ELSE lease_token END, "
            f"lease_expires_at = CASE WHEN {own_lease} THEN NULL ELSE lease_expires_at END, "
            "last_turn_token = :token, "
            f"summary = CASE WHEN {expired} THEN NULL ELSE summary END, "
            f"summary_covers = CASE WHEN {expired} THEN NULL ELSE summary_covers END "
            "WHERE session_id = :sid AND version = :base RETURNING version"
        )
        self._release = (
            f"UPDATE {s} SET lease_token = NULL, lease_expires_at = NULL "
            f"WHERE session_id = :sid AND {own_lease}"
        )
        self._renew = (
            f"UPDATE {s} SET lease_expires_at = :lease_at WHERE session_id = :sid AND {own_lease}"
        )

        # A plain append (no lease): upsert the session row, bump its version.
        self._upsert_session = (
            f"INSERT INTO {s} (session_id, created_at, updated_at, expires_at, message_count, "
            "version) VALUES (:sid, :now, :now, :ttl_at, :n, 1) "
            "ON CONFLICT (session_id) DO UPDATE SET version = version + 1, "
            f"message_count = CASE WHEN {expired} THEN 0 ELSE message_count END "
            "+ excluded.message_count, "
            "updated_at = excluded.updated_at, expires_at = excluded.expires_at, "
            f"summary = CASE WHEN {expired} THEN NULL ELSE summary END, "
            f"summary_covers = CASE WHEN {expired} THEN NULL ELSE summary_covers END"
        )
        self._purge_expired_session = (
            f"DELETE FROM {m} WHERE session_id = :sid AND "
            f"EXISTS (SELECT 1 FROM {s} WHERE session_id = :sid AND {expired})"
        )
        self._insert_message = (
            f"INSERT INTO {m} (session_id, data, created_at) VALUES (:sid, :data, :now)"
        )

        # Clear/delete: drop the messages, keep the row as a newer, empty version.
        self._delete_messages = f"DELETE FROM {m} WHERE session_id = :sid"
        self._empty_session = (
            f"UPDATE {s} SET version = version + 1, message_count = 0, updated_at = :now, "
            "expires_at = NULL, summary = NULL, summary_covers = NULL, summary_updated_at = NULL "
            "WHERE session_id = :sid"
        )

        # The running summary: a compare-and-set on its ``covers``.
        self._summary_load = (
            f"SELECT summary, summary_covers, summary_updated_at FROM {s} "
            f"WHERE session_id = :sid AND {live}"
        )
        self._summary_save = (
            f"UPDATE {s} SET summary = :text, summary_covers = :covers, "
            "summary_updated_at = :produced "
            "WHERE session_id = :sid AND coalesce(summary_covers, -1) = coalesce(:expected, -1) "
            # made in a turn: only while the session is at its version and in its life
            "AND (:at_version IS NULL OR (version = :at_version AND (:at_life IS NULL "
            f"OR coalesce({newest}, 0) = :at_life)))"
        )

        # Reads and admin.
        self._load_newest = (
            f"SELECT id, data FROM {m} WHERE session_id = :sid AND {live_session} "
            "ORDER BY id DESC LIMIT :last"
        )
        self._page = (
            f"SELECT data FROM {m} WHERE session_id = :sid AND {live_session} "
            "ORDER BY id LIMIT :limit OFFSET :offset"
        )
        self._count = f"SELECT message_count FROM {s} WHERE session_id = :sid AND {live}"
        self._list = (
            f"SELECT session_id, message_count, updated_at FROM {s} "
            f"WHERE {live} AND message_count > 0 "
            "ORDER BY updated_at DESC, session_id LIMIT :limit OFFSET :offset"
        )
        idle = "(lease_token IS NULL OR lease_expires_at <= :now)"
        doomed = f"({expired} OR (message_count = 0 AND {idle}))"
        self._purge_messages = (
            f"DELETE FROM {m} WHERE session_id IN (SELECT session_id FROM {s} WHERE {doomed})"
        )
        self._count_expired = f"SELECT session_id FROM {s} WHERE {expired}"
        self._purge_sessions = f"DELETE FROM {s} WHERE {doomed}"


def _unit_of_work(
    conn: sqlite3.Connection, work: Work, finish: Callable[[Results], _T], write: bool
) -> _T:
    """Run statements in one transaction; ``finish`` (inside it) makes the answer.

    A write takes SQLite's write lock before its first statement (one writer per database);
    a single read is atomic on its own.
    """
    begin = "BEGIN IMMEDIATE" if write else ("BEGIN" if len(work) > 1 else None)
    with _transaction(conn, begin):
        return finish([_execute(conn, stmt, params) for stmt, params in work])


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused for a lock held elsewhere (SQLITE_BUSY / SQLITE_LOCKED)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "locked" in str(exc)


def _execute(conn: sqlite3.Connection, sql: str, params: Any) -> Any:
    """Run one statement: its rows if it returns any, else how many rows it changed."""
    if isinstance(params, list):
        cursor = conn.executemany(sql, params)
    else:
        cursor = conn.execute(sql, params if isinstance(params, Mapping) else ())
    return cursor.fetchall() if cursor.description is not None else cursor.rowcount


def _describe(exc: sqlite3.Error) -> str:
    # Driver messages name the failure, never the bound values (the conversation).
    return f"({type(exc).__module__}.{type(exc).__name__}) {exc}"
