"""Shared SQLAlchemy Core logic of the SQL stores (SQLite and PostgreSQL).

Every query is built once here; the dialect modules only say how to create engines, how to
take the per-session write lock, which upsert construct to use and how the id column is
declared. The same statements run on a sync ``Engine`` and on an ``AsyncEngine`` (both may be
used on one store), so a sync call never blocks an event loop and an async call never hops to
a thread.

Schema (``<prefix>_sessions`` and ``<prefix>_messages``)::

    sessions(session_id TEXT PK, created_at, updated_at, expires_at NULL, message_count)
    messages(id autoincrement PK, session_id -> sessions ON DELETE CASCADE, data TEXT,
             created_at), INDEX (session_id, id)

Rows of ``messages`` are append-only; a session's order is its ids' order. Each append takes
the per-session write lock before inserting, so ids of one session grow in commit order.
"""

from __future__ import annotations

import re
import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    exists,
    insert,
    inspect,
    or_,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import ColumnElement

from langchain_arcee.redaction import scrub
from langchain_arcee.stores.base import (
    ChatStore,
    SessionInfo,
    StoreError,
    check_last,
    check_page,
    check_session_id,
    normalize_ttl,
)
from langchain_arcee.stores.serialization import DecodeCache, encode_messages

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
_T = TypeVar("_T")

# A unit of work: statements to run in one transaction, each with its bound parameters.
_Work = list[tuple[Executable, Any]]


def check_identifier(value: str, what: str) -> str:
    """Validate a table prefix or schema name (SQLAlchemy also quotes it).

    Raises:
        ValueError: If it is not a plain identifier.
    """
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        msg = f"{what} must match {_IDENTIFIER.pattern}, got {value!r}"
        raise ValueError(msg)
    return value


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything is written in UTC.
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _store_error(
    session_id: str, write: bool, exc: SQLAlchemyError, secrets: frozenset[str]
) -> StoreError:
    action = "write" if write else "read"
    return StoreError(f"session {session_id!r}: {action} failed: {scrub(str(exc), secrets)}")


class SQLChatStore(ChatStore):
    """Base of the SQL stores: schema, queries and sync/async execution.

    Args:
        engine: Sync engine to use (not disposed by :meth:`close`), or ``None`` to create one
            lazily with :meth:`_create_engine`.
        async_engine: Async engine to use (not disposed by :meth:`aclose`), or ``None`` to
            create one lazily with :meth:`_create_async_engine`.
        ttl: Sessions expire this long after their last write (``timedelta`` or seconds).
        table_prefix: Prefix of the two table names.
        schema: Database schema of the tables (``None``: the default one).
        cache_size: How many decoded messages to keep (see :class:`DecodeCache`); 0 disables.
    """

    _secrets: frozenset[str] = frozenset()
    """Credentials of the store's URL: scrubbed from driver messages quoted in errors."""

    def __init__(
        self,
        *,
        engine: Engine | None = None,
        async_engine: AsyncEngine | None = None,
        ttl: timedelta | float | None = None,
        table_prefix: str = "arcee",
        schema: str | None = None,
        cache_size: int = 50_000,
    ) -> None:
        check_identifier(table_prefix, "table_prefix")
        if schema is not None:
            check_identifier(schema, "schema")
        self.ttl = normalize_ttl(ttl)
        self.table_prefix = table_prefix
        self.schema = schema
        self._engine = engine
        self._async_engine = async_engine
        self._owns_engine = engine is None
        self._owns_async_engine = async_engine is None
        self._engine_lock = threading.Lock()
        self._schema_lock = threading.Lock()
        self._sync_ready = False
        self._async_ready = False
        self._cache = DecodeCache(max_entries=cache_size)

        self.metadata = MetaData(schema=schema)
        self.sessions = Table(
            f"{table_prefix}_sessions",
            self.metadata,
            Column("session_id", Text, primary_key=True),
            Column("created_at", DateTime(timezone=True), nullable=False),
            Column("updated_at", DateTime(timezone=True), nullable=False),
            Column("expires_at", DateTime(timezone=True), nullable=True),
            Column("message_count", Integer, nullable=False),
            Index(f"{table_prefix}_sessions_updated_idx", "updated_at"),
        )
        self.messages = Table(
            f"{table_prefix}_messages",
            self.metadata,
            self._id_column(),
            Column(
                "session_id",
                Text,
                ForeignKey(self.sessions.c.session_id, ondelete="CASCADE"),
                nullable=False,
            ),
            Column("data", Text, nullable=False),
            Column("created_at", DateTime(timezone=True), nullable=False),
            Index(f"{table_prefix}_messages_session_idx", "session_id", "id"),
            **self._table_kwargs(),
        )

    # ---- dialect hooks ----------------------------------------------------------------
    @abstractmethod
    def _id_column(self) -> Column[int]:
        """The ``id`` column: an autoincrementing primary key whose values are never reused."""

    def _table_kwargs(self) -> dict[str, Any]:
        """Dialect keyword arguments of the messages table."""
        return {}

    @abstractmethod
    def _create_engine(self) -> Engine:
        """Create the sync engine (called once, lazily)."""

    @abstractmethod
    def _create_async_engine(self) -> AsyncEngine:
        """Create the async engine (called once, lazily)."""

    @abstractmethod
    def _write_lock(self, session_id: str) -> Executable:
        """First statement of every write transaction: serializes writers of a session."""

    @abstractmethod
    def _insert(self, table: Table) -> Any:
        """The dialect's ``INSERT`` construct that supports ``ON CONFLICT ... DO UPDATE``."""

    def _upsert_session(
        self, session_id: str, now: datetime, expires_at: datetime | None, added: int
    ) -> Executable:
        """Insert the session row or bump its ``updated_at``/``expires_at``/``message_count``."""
        s = self.sessions
        stmt = self._insert(s).values(
            session_id=session_id,
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
            message_count=added,
        )
        upsert: Executable = stmt.on_conflict_do_update(
            index_elements=[s.c.session_id],
            set_={
                "updated_at": stmt.excluded.updated_at,
                "expires_at": stmt.excluded.expires_at,
                "message_count": s.c.message_count + stmt.excluded.message_count,
            },
        )
        return upsert

    def _ddl_prelude(self) -> list[Executable]:
        """Statements run before creating the tables (e.g. a DDL lock, ``CREATE SCHEMA``)."""
        return []

    def _check_session_id(self, session_id: str) -> str:
        """Validate a session id for this backend (override to reject what it can't store).

        Raises:
            TypeError: If it is not a string.
            ValueError: If it is empty or not encodable as UTF-8 (a lone surrogate).
        """
        check_session_id(session_id)
        try:
            session_id.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = f"session_id is not valid unicode (lone surrogate?): {session_id!r}"
            raise ValueError(msg) from exc
        return session_id

    # ---- engines ----------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The sync engine (created on first use unless injected)."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = self._create_engine()
        return self._engine

    @property
    def async_engine(self) -> AsyncEngine:
        """The async engine (created on first use unless injected)."""
        if self._async_engine is None:
            with self._engine_lock:
                if self._async_engine is None:
                    self._async_engine = self._create_async_engine()
        return self._async_engine

    def _create_schema_on(self, conn: Connection) -> None:
        """Create the tables and indexes if absent, in the caller's transaction.

        Existence is checked after the dialect's DDL lock is taken and before any ``CREATE``:
        on PostgreSQL even ``CREATE INDEX IF NOT EXISTS`` locks the table (blocking, even
        deadlocking, concurrent appends), so nothing is issued when the tables exist.
        """
        for stmt in self._ddl_prelude():
            conn.execute(stmt)
        inspector = inspect(conn)
        if all(inspector.has_table(t.name, schema=self.schema) for t in self._tables()):
            return
        for table in self._tables():
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                conn.execute(CreateIndex(index, if_not_exists=True))

    def _tables(self) -> tuple[Table, Table]:
        return (self.sessions, self.messages)

    def create_schema(self) -> None:
        """Create the tables and indexes if absent (done automatically on first use)."""
        with self._schema_lock:
            if self._sync_ready:
                return
            try:
                with self.engine.begin() as conn:
                    self._create_schema_on(conn)
            except SQLAlchemyError as exc:
                msg = f"creating the tables of {self!r} failed: {scrub(str(exc), self._secrets)}"
                raise StoreError(msg) from exc
            self._sync_ready = True

    async def acreate_schema(self) -> None:
        """Async :meth:`create_schema`."""
        try:
            async with self.async_engine.begin() as conn:
                await conn.run_sync(self._create_schema_on)
        except SQLAlchemyError as exc:
            msg = f"creating the tables of {self!r} failed: {scrub(str(exc), self._secrets)}"
            raise StoreError(msg) from exc
        self._async_ready = True

    def drop_tables(self) -> None:
        """Drop this store's tables and everything in them (for tests and teardown)."""
        self.metadata.drop_all(self.engine)
        self._sync_ready = self._async_ready = False

    # ---- execution: one place for transactions and error wrapping ----------------------
    def _run(
        self,
        work: _Work,
        session_id: str,
        finish: Callable[[Any], _T],
        *,
        write: bool,
    ) -> _T:
        """Run statements in one transaction; ``finish`` gets the last statement's result."""
        if not self._sync_ready:
            self.create_schema()
        try:
            with self.engine.begin() as conn:
                result = self._execute_all(conn, work)
                return finish(result)
        except SQLAlchemyError as exc:
            raise _store_error(session_id, write, exc, self._secrets) from exc

    async def _arun(
        self,
        work: _Work,
        session_id: str,
        finish: Callable[[Any], _T],
        *,
        write: bool,
    ) -> _T:
        """Async :meth:`_run`."""
        if not self._async_ready:
            await self.acreate_schema()
        try:
            async with self.async_engine.begin() as conn:
                result = await self._aexecute_all(conn, work)
                return finish(result)
        except SQLAlchemyError as exc:
            raise _store_error(session_id, write, exc, self._secrets) from exc

    @staticmethod
    def _execute_all(conn: Connection, work: _Work) -> Any:
        result: Any = None
        for stmt, params in work:
            result = conn.execute(stmt, params) if params is not None else conn.execute(stmt)
        return result

    @staticmethod
    async def _aexecute_all(conn: AsyncConnection, work: _Work) -> Any:
        result: Any = None
        for stmt, params in work:
            if params is not None:
                result = await conn.execute(stmt, params)
            else:
                result = await conn.execute(stmt)
        return result

    # ---- statements -------------------------------------------------------------------
    def _live(self, session_id: str, now: datetime) -> ColumnElement[bool]:
        """True unless the session row says it has expired."""
        s = self.sessions
        return ~exists().where(
            s.c.session_id == session_id, s.c.expires_at.is_not(None), s.c.expires_at <= now
        )

    def _append_work(self, session_id: str, encoded: list[str]) -> _Work:
        now = _utcnow()
        expires_at = now + self.ttl if self.ttl is not None else None
        s, m = self.sessions, self.messages
        rows = [{"session_id": session_id, "data": d, "created_at": now} for d in encoded]
        # An expired session starts afresh: its old messages must not come back.
        expired_msgs, expired_session = self._delete_session_stmts(
            session_id, s.c.expires_at <= now
        )
        return [
            (self._write_lock(session_id), None),
            (expired_msgs, None),
            (expired_session, None),
            (self._upsert_session(session_id, now, expires_at, len(encoded)), None),
            (insert(m), rows),
        ]

    def _delete_session_stmts(
        self, session_id: str, condition: ColumnElement[bool] | None = None
    ) -> tuple[Executable, Executable]:
        # Messages are deleted explicitly (not only by ON DELETE CASCADE) so an injected
        # SQLite engine without ``PRAGMA foreign_keys=ON`` leaves no orphans.
        s, m = self.sessions, self.messages
        where = [s.c.session_id == session_id]
        if condition is not None:
            where.append(condition)
        doomed = select(s.c.session_id).where(*where)
        return (
            delete(m).where(m.c.session_id.in_(doomed)),
            delete(s).where(*where),
        )

    def _load_stmt(self, session_id: str, last: int | None) -> Executable:
        m = self.messages
        q = select(m.c.data).where(m.c.session_id == session_id, self._live(session_id, _utcnow()))
        if last is None:
            return q.order_by(m.c.id)
        return q.order_by(m.c.id.desc()).limit(last)

    def _page_stmt(self, session_id: str, offset: int, limit: int) -> Executable:
        m = self.messages
        return (
            select(m.c.data)
            .where(m.c.session_id == session_id, self._live(session_id, _utcnow()))
            .order_by(m.c.id)
            .offset(offset)
            .limit(limit)
        )

    def _count_stmt(self, session_id: str) -> Executable:
        s = self.sessions
        now = _utcnow()
        return select(s.c.message_count).where(
            s.c.session_id == session_id, or_(s.c.expires_at.is_(None), s.c.expires_at > now)
        )

    def _sessions_stmt(self, limit: int | None, offset: int) -> Executable:
        s = self.sessions
        now = _utcnow()
        q = (
            select(s.c.session_id, s.c.message_count, s.c.updated_at)
            .where(or_(s.c.expires_at.is_(None), s.c.expires_at > now))
            .order_by(s.c.updated_at.desc(), s.c.session_id)
            .offset(offset)
        )
        return q.limit(limit) if limit is not None else q

    def _purge_work(self) -> _Work:
        s, m = self.sessions, self.messages
        now = _utcnow()
        expired = s.c.expires_at <= now
        return [
            (delete(m).where(m.c.session_id.in_(select(s.c.session_id).where(expired))), None),
            (delete(s).where(expired), None),
        ]

    # ---- result handling ---------------------------------------------------------------
    def _decoder(self, session_id: str, *, reverse: bool) -> Callable[[Any], list[BaseMessage]]:
        def finish(result: Any) -> list[BaseMessage]:
            raws = result.scalars().all()
            if reverse:
                raws.reverse()
            return self._cache.decode_many(raws, session_id=session_id)

        return finish

    @staticmethod
    def _scalar_or_zero(result: Any) -> int:
        value = result.scalar()
        return int(value) if value is not None else 0

    @staticmethod
    def _session_infos(result: Any) -> list[SessionInfo]:
        return [SessionInfo(sid, int(n), _aware(updated)) for sid, n, updated in result.all()]

    @staticmethod
    def _rowcount(result: Any) -> int:
        return int(result.rowcount)

    # ---- the ChatStore API -------------------------------------------------------------
    def _prepare_append(self, session_id: str, messages: Sequence[BaseMessage]) -> list[str]:
        self._check_session_id(session_id)
        return encode_messages(messages)  # raises before any transaction is opened

    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages in one transaction (all or nothing).

        Raises:
            TypeError: If an item is not an encodable LangChain message (nothing stored).
            StoreError: If the database write failed (nothing stored).
        """
        encoded = self._prepare_append(session_id, messages)
        if encoded:
            self._run(self._append_work(session_id, encoded), session_id, _none, write=True)

    async def aappend(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`append` on the async engine."""
        encoded = self._prepare_append(session_id, messages)
        if encoded:
            work = self._append_work(session_id, encoded)
            await self._arun(work, session_id, _none, write=True)

    def load(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Return the session's messages, oldest first (only the newest ``last`` are read)."""
        self._check_session_id(session_id)
        if check_last(last) == 0:
            return []
        finish = self._decoder(session_id, reverse=last is not None)
        return self._run(
            [(self._load_stmt(session_id, last), None)], session_id, finish, write=False
        )

    async def aload(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Async :meth:`load` on the async engine."""
        self._check_session_id(session_id)
        if check_last(last) == 0:
            return []
        finish = self._decoder(session_id, reverse=last is not None)
        work: _Work = [(self._load_stmt(session_id, last), None)]
        return await self._arun(work, session_id, finish, write=False)

    def count(self, session_id: str) -> int:
        """Number of messages stored for a session."""
        self._check_session_id(session_id)
        work: _Work = [(self._count_stmt(session_id), None)]
        return self._run(work, session_id, self._scalar_or_zero, write=False)

    async def acount(self, session_id: str) -> int:
        """Async :meth:`count`."""
        self._check_session_id(session_id)
        work: _Work = [(self._count_stmt(session_id), None)]
        return await self._arun(work, session_id, self._scalar_or_zero, write=False)

    def read_page(self, session_id: str, *, offset: int = 0, limit: int = 100) -> list[BaseMessage]:
        """Messages ``offset`` .. ``offset + limit - 1`` of a session, oldest first."""
        self._check_session_id(session_id)
        check_page(offset, limit)
        work: _Work = [(self._page_stmt(session_id, offset, limit), None)]
        return self._run(work, session_id, self._decoder(session_id, reverse=False), write=False)

    async def aread_page(
        self, session_id: str, *, offset: int = 0, limit: int = 100
    ) -> list[BaseMessage]:
        """Async :meth:`read_page`."""
        self._check_session_id(session_id)
        check_page(offset, limit)
        work: _Work = [(self._page_stmt(session_id, offset, limit), None)]
        finish = self._decoder(session_id, reverse=False)
        return await self._arun(work, session_id, finish, write=False)

    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[SessionInfo]:
        """Live sessions, most recently updated first, with their message counts."""
        check_page(offset, limit)
        work: _Work = [(self._sessions_stmt(limit, offset), None)]
        return self._run(work, "*", self._session_infos, write=False)

    async def alist_sessions(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        check_page(offset, limit)
        work: _Work = [(self._sessions_stmt(limit, offset), None)]
        return await self._arun(work, "*", self._session_infos, write=False)

    def _clear_work(self, session_id: str) -> _Work:
        msgs, sess = self._delete_session_stmts(session_id)
        return [(self._write_lock(session_id), None), (msgs, None), (sess, None)]

    def clear(self, session_id: str) -> None:
        """Remove a session and all of its messages."""
        self._check_session_id(session_id)
        self._run(self._clear_work(session_id), session_id, _none, write=True)

    async def aclear(self, session_id: str) -> None:
        """Async :meth:`clear`."""
        self._check_session_id(session_id)
        await self._arun(self._clear_work(session_id), session_id, _none, write=True)

    async def adelete(self, session_id: str) -> None:
        """Async :meth:`delete`."""
        await self.aclear(session_id)

    def purge_expired(self) -> int:
        """Delete expired sessions and their messages; returns how many sessions."""
        return self._run(self._purge_work(), "*", self._rowcount, write=True)

    async def apurge_expired(self) -> int:
        """Async :meth:`purge_expired`."""
        return await self._arun(self._purge_work(), "*", self._rowcount, write=True)

    def close(self) -> None:
        """Dispose the engines this store created (injected engines are left alone).

        An async engine's connections belong to its event loop: in async code prefer
        :meth:`aclose`. Here they are only dereferenced, not closed.
        """
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._sync_ready = False
        if self._owns_async_engine and self._async_engine is not None:
            self._async_engine.sync_engine.dispose(close=False)
            self._async_engine = None
            self._async_ready = False

    async def aclose(self) -> None:
        """Dispose the engines this store created (injected engines are left alone)."""
        if self._owns_async_engine and self._async_engine is not None:
            await self._async_engine.dispose()
            self._async_engine = None
            self._async_ready = False
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._sync_ready = False


def _none(_result: Any) -> None:
    return None
