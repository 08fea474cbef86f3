"""Shared SQLAlchemy logic of the SQL stores (SQLite and PostgreSQL).

Every statement is built once, in the constructor, with bound parameters; SQLAlchemy's
compiled cache then compiles each once per engine. A unit of work (statements to run in one
transaction, with their parameters) runs on a sync ``Engine`` or an ``AsyncEngine`` through
one executor each, so the two paths never diverge.

Schema (``<prefix>_sessions``, ``<prefix>_messages``, ``<prefix>_migrations``)::

    sessions(session_id TEXT PK, created_at, updated_at, expires_at NULL, message_count,
             version, lease_token NULL, lease_expires_at NULL, last_turn_token NULL)
    messages(id autoincrement PK, session_id -> sessions ON DELETE CASCADE, data TEXT,
             created_at), INDEX (session_id, id)
    migrations(v INTEGER PK)   -- the migrations applied, by index in ``MIGRATIONS``

Rows of ``messages`` are append-only; a session's order is its ids' order. ``version`` counts
every change of a session (append, clear, delete, expiry): a turn's commit is refused unless
the version is still the one the turn read. A cleared or deleted session keeps its
``sessions`` row (with no messages) so that a turn in flight on it sees the change;
:meth:`SQLChatStore.purge_expired` removes such rows when no turn holds them.

Migrations follow ``langgraph-checkpoint-postgres``: ``MIGRATIONS[i]`` is schema version
``i``; :meth:`SQLChatStore.setup` applies the missing ones in order, under the dialect's DDL
lock, and records each. A database written by 0.1.0 (tables, no migrations table) upgrades in
place: the first step's ``CREATE ... IF NOT EXISTS`` finds its tables, the next adds columns.
"""

from __future__ import annotations

import asyncio
import re
import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage
from sqlalchemy import (
    BigInteger,
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
    bindparam,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.sql import Executable

from langchain_arcee.redaction import scrub
from langchain_arcee.stores.base import (
    ChatStore,
    SessionInfo,
    SessionSummary,
    StoreError,
    TurnLease,
    TurnStart,
    check_last,
    check_page,
    check_session_id,
    conflict_error,
    normalize_ttl,
)
from langchain_arcee.stores.serialization import DecodeCache, encode_messages

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
_T = TypeVar("_T")

Work = list[tuple[Executable, Any]]
"""A unit of work: statements to run in one transaction, each with its bound parameters."""

Results = list[Any]
"""What a unit of work returned: per statement its rows (a list) or its rowcount (an int)."""


def check_identifier(value: str, what: str) -> str:
    """Validate a table prefix or schema name (SQLAlchemy also quotes it).

    Raises:
        ValueError: If it is not a plain identifier.
    """
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        msg = f"{what} must match {_IDENTIFIER.pattern}, got {value!r}"
        raise ValueError(msg)
    return value


def utcnow() -> datetime:
    """The app host's clock, in UTC."""
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


def _invalidated(exc: SQLAlchemyError) -> bool:
    """Whether the error means the pooled connection was dead (safe to retry once)."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class SQLChatStore(ChatStore):
    """Base of the SQL stores: schema, migrations, statements and sync/async execution.

    Args:
        engine: Sync engine to use (left open by :meth:`close`), or ``None`` to create one
            lazily with :meth:`_create_engine`.
        ttl: Sessions expire this long after their last write (``timedelta`` or seconds).
        table_prefix: Prefix of the table names.
        schema: Database schema of the tables (``None``: the default one).
        cache_bytes: Bound of the decoded-message cache, in bytes of stored text (see
            :class:`DecodeCache`); 0 disables it.
    """

    _secrets: frozenset[str] = frozenset()
    """Credentials of the store's URL: scrubbed from driver messages quoted in errors."""

    def __init__(
        self,
        *,
        engine: Engine | None = None,
        ttl: timedelta | float | None = None,
        table_prefix: str = "arcee",
        schema: str | None = None,
        cache_bytes: int = DecodeCache.DEFAULT_MAX_BYTES,
    ) -> None:
        check_identifier(table_prefix, "table_prefix")
        if schema is not None:
            check_identifier(schema, "schema")
        self.ttl = normalize_ttl(ttl)
        self.table_prefix = table_prefix
        self.schema = schema
        self._engine = engine
        self._autocommit: Engine | None = None
        self._owns_engine = engine is None
        self._engine_lock = threading.Lock()
        self._schema_lock = threading.Lock()
        self._ready = False
        self._cache = DecodeCache(max_bytes=cache_bytes)

        self.metadata = MetaData(schema=schema)
        self.sessions = Table(
            f"{table_prefix}_sessions",
            self.metadata,
            Column("session_id", Text, primary_key=True),
            Column("created_at", DateTime(timezone=True), nullable=False),
            Column("updated_at", DateTime(timezone=True), nullable=False),
            Column("expires_at", DateTime(timezone=True), nullable=True),
            Column("message_count", Integer, nullable=False),
            Column("version", BigInteger, nullable=False, server_default="0"),
            Column("lease_token", Text, nullable=True),
            Column("lease_expires_at", DateTime(timezone=True), nullable=True),
            Column("last_turn_token", Text, nullable=True),
            Column("summary", Text, nullable=True),
            Column("summary_covers", Integer, nullable=True),
            Column("summary_updated_at", DateTime(timezone=True), nullable=True),
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
        self.migrations_table = Table(
            f"{table_prefix}_migrations",
            self.metadata,
            Column("v", Integer, primary_key=True),
        )
        self._build_statements()

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
    def _insert(self, table: Table) -> Any:
        """The dialect's ``INSERT`` construct that supports ``ON CONFLICT ... DO UPDATE``."""

    @abstractmethod
    def _now(self) -> Any:
        """SQL for "now": the database's clock (PostgreSQL) or a ``now`` parameter (SQLite)."""

    @abstractmethod
    def _after(self, seconds_param: str) -> Any:
        """SQL for now plus the seconds in parameter ``seconds_param`` (NULL stays NULL)."""

    def _ddl_prelude(self) -> list[Executable]:
        """Statements run before migrating (e.g. a DDL lock, ``CREATE SCHEMA``)."""
        return []

    def _write_prelude(self) -> list[Executable]:
        """First statements of every write transaction (e.g. SQLite's ``BEGIN IMMEDIATE``)."""
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

    # ---- migrations ---------------------------------------------------------------------
    def _migrate_create_tables(self, conn: Connection) -> None:
        """v0: the tables and indexes, if absent (0.1.0 created them without v1's columns)."""
        if inspect(conn).has_table(self.messages.name, schema=self.schema):
            return
        for table in (self.sessions, self.messages):
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                conn.execute(CreateIndex(index, if_not_exists=True))

    def _add_missing_columns(self, conn: Connection, columns: Sequence[tuple[str, str]]) -> None:
        quoted = conn.dialect.identifier_preparer.format_table(self.sessions)
        existing = {c["name"] for c in inspect(conn).get_columns(self.sessions.name, self.schema)}
        for name, ddl in columns:
            if name not in existing:
                conn.execute(text(f"ALTER TABLE {quoted} ADD COLUMN {name} {ddl}"))

    def _migrate_add_turn_columns(self, conn: Connection) -> None:
        """v1: the turn protocol's version and lease columns (those still missing)."""
        self._add_missing_columns(
            conn,
            [
                ("version", "BIGINT NOT NULL DEFAULT 0"),
                ("lease_token", "TEXT"),
                ("lease_expires_at", self._timestamp_ddl()),
                ("last_turn_token", "TEXT"),
            ],
        )

    def _migrate_add_summary_columns(self, conn: Connection) -> None:
        """v2: the running summary, stored beside the transcript (those still missing)."""
        self._add_missing_columns(
            conn,
            [
                ("summary", "TEXT"),
                ("summary_covers", "INTEGER"),
                ("summary_updated_at", self._timestamp_ddl()),
            ],
        )

    def _timestamp_ddl(self) -> str:
        """The DDL type of a timestamp column in this dialect."""
        return "TIMESTAMP WITH TIME ZONE"

    @property
    def MIGRATIONS(self) -> list[Callable[[Connection], None]]:
        """The schema's migrations; index ``i`` is schema version ``i``."""
        return [
            self._migrate_create_tables,
            self._migrate_add_turn_columns,
            self._migrate_add_summary_columns,
        ]

    def _setup_on(self, conn: Connection) -> None:
        """Apply the missing migrations in the caller's transaction, recording each."""
        for stmt in self._ddl_prelude():
            conn.execute(stmt)
        conn.execute(CreateTable(self.migrations_table, if_not_exists=True))
        done = set(conn.execute(select(self.migrations_table.c.v)).scalars())
        for version, migration in enumerate(self.MIGRATIONS):
            if version not in done:
                migration(conn)
                conn.execute(insert(self.migrations_table).values(v=version))

    def setup(self) -> None:
        """Create or upgrade the tables (done automatically on first use).

        Raises:
            StoreError: If the database refused (the message names the store).
        """
        with self._schema_lock:
            if self._ready:
                return
            try:
                with self.engine.begin() as conn:
                    self._setup_on(conn)
            except SQLAlchemyError as exc:
                msg = f"setting up the tables of {self!r} failed: {scrub(str(exc), self._secrets)}"
                raise StoreError(msg) from exc
            self._ready = True

    async def asetup(self) -> None:
        """Async :meth:`setup` (on a worker thread: it runs once per store)."""
        if not self._ready:
            await asyncio.to_thread(self.setup)

    create_schema = setup
    acreate_schema = asetup

    def drop_tables(self) -> None:
        """Drop this store's tables and everything in them (for tests and teardown)."""
        try:
            self.metadata.drop_all(self.engine)
        except SQLAlchemyError as exc:
            if not _invalidated(exc):
                raise
            self.metadata.drop_all(self.engine)  # the pooled connection was dead: once more
        self._ready = False

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
    def autocommit_engine(self) -> Engine:
        """The sync engine in autocommit mode (one statement = one transaction, no BEGIN)."""
        if self._autocommit is None:
            self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return self._autocommit

    # ---- execution: one place for transactions, retries and error wrapping --------------
    @staticmethod
    def _execute_all(conn: Connection, work: Work) -> Results:
        results: Results = []
        for stmt, params in work:
            result = conn.execute(stmt, params) if params is not None else conn.execute(stmt)
            results.append(result.all() if result.returns_rows else result.rowcount)
        return results

    def _run(
        self, work: Work, session_id: str, finish: Callable[[Results], _T], *, write: bool
    ) -> _T:
        """Run statements in one transaction; ``finish`` turns their results into the answer.

        ``finish`` runs inside the transaction: if it raises, nothing is committed. A dead
        pooled connection (server restarted, backend killed) is retried once on a new one.
        """
        if not self._ready:
            self.setup()
        for attempt in (1, 2):
            try:
                if len(work) == 1:  # one statement is atomic on its own: no BEGIN/COMMIT
                    with self.autocommit_engine.connect() as conn:
                        return finish(self._execute_all(conn, work))
                with self.engine.begin() as conn:
                    return finish(self._execute_all(conn, work))
            except SQLAlchemyError as exc:
                if attempt == 1 and _invalidated(exc):
                    continue
                raise _store_error(session_id, write, exc, self._secrets) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _arun(
        self, work: Work, session_id: str, finish: Callable[[Results], _T], *, write: bool
    ) -> _T:
        """Async :meth:`_run`: on a worker thread (backends with an async driver override it)."""
        return await asyncio.to_thread(self._run, work, session_id, finish, write=write)

    # ---- statements (built once) --------------------------------------------------------
    def _build_statements(self) -> None:
        s, m = self.sessions, self.messages
        sid: Any = bindparam("sid")
        live = (s.c.expires_at.is_(None)) | (s.c.expires_at > self._now())
        is_expired = (s.c.expires_at.is_not(None)) & (s.c.expires_at <= self._now())

        # A turn's start: take the lease (insert the session row if new), then read.
        ins = self._insert(s).values(
            session_id=sid,
            created_at=self._now(),
            updated_at=self._now(),
            expires_at=None,
            message_count=0,
            version=0,
            lease_token=bindparam("token"),
            lease_expires_at=self._after("lease"),
        )
        self._take_lease = ins.on_conflict_do_update(
            index_elements=[s.c.session_id],
            set_={
                "lease_token": ins.excluded.lease_token,
                "lease_expires_at": ins.excluded.lease_expires_at,
            },
            where=(
                s.c.lease_token.is_(None)
                | (s.c.lease_token == ins.excluded.lease_token)
                | (s.c.lease_expires_at <= self._now())
            ),
        ).returning(s.c.version, s.c.message_count, is_expired)
        self._window = (
            select(m.c.id, m.c.data)
            .where(m.c.session_id == sid)
            .order_by(m.c.id.desc())
            .limit(bindparam("last"))
        )
        self._head = select(m.c.id, m.c.data).where(m.c.session_id == sid).order_by(m.c.id).limit(1)
        self._state = select(s.c.version, s.c.message_count, is_expired, s.c.last_turn_token).where(
            s.c.session_id == sid
        )

        # A turn's commit: everything conditional on the version the turn read.
        at_base = select(s.c.session_id).where(
            s.c.session_id == sid, s.c.version == bindparam("base")
        )
        self._purge_if_expired = delete(m).where(
            m.c.session_id == sid,
            select(s.c.session_id)
            .where(s.c.session_id == sid, s.c.version == bindparam("base"), is_expired)
            .exists(),
        )
        self._insert_if_at_base = insert(m).from_select(
            ["session_id", "data", "created_at"],
            select(sid, bindparam("data"), self._now()).where(at_base.exists()),
        )
        own_lease = s.c.lease_token == bindparam("token")
        self._bump_if_at_base = (
            update(s)
            .where(s.c.session_id == sid, s.c.version == bindparam("base"))
            .values(
                version=s.c.version + 1,
                message_count=_case_expired(is_expired, s.c.message_count) + bindparam("n"),
                updated_at=self._now(),
                expires_at=self._after("ttl"),
                lease_token=_case(own_lease, None, s.c.lease_token),
                lease_expires_at=_case(own_lease, None, s.c.lease_expires_at),
                last_turn_token=bindparam("token"),
                # An expired session starts afresh: its summary goes with its messages.
                summary=_case(is_expired, None, s.c.summary),
                summary_covers=_case(is_expired, None, s.c.summary_covers),
            )
            .returning(s.c.version)
        )
        self._release = (
            update(s)
            .where(s.c.session_id == sid, own_lease)
            .values(lease_token=None, lease_expires_at=None)
        )
        self._renew = (
            update(s)
            .where(s.c.session_id == sid, own_lease)
            .values(lease_expires_at=self._after("lease"))
        )

        # A plain append (no lease): upsert the session row, bump its version.
        upsert = self._insert(s).values(
            session_id=sid,
            created_at=self._now(),
            updated_at=self._now(),
            expires_at=self._after("ttl"),
            message_count=bindparam("n"),
            version=1,
        )
        self._upsert_session = upsert.on_conflict_do_update(
            index_elements=[s.c.session_id],
            set_={
                "version": s.c.version + 1,
                "message_count": _case_expired(is_expired, s.c.message_count)
                + upsert.excluded.message_count,
                "updated_at": upsert.excluded.updated_at,
                "expires_at": upsert.excluded.expires_at,
                "summary": _case(is_expired, None, s.c.summary),
                "summary_covers": _case(is_expired, None, s.c.summary_covers),
            },
        )
        self._purge_expired_session = delete(m).where(
            m.c.session_id == sid,
            select(s.c.session_id).where(s.c.session_id == sid, is_expired).exists(),
        )
        self._insert_message = insert(m).values(
            session_id=sid, data=bindparam("data"), created_at=self._now()
        )

        # Clear/delete: drop the messages, keep the row as a newer, empty version.
        self._delete_messages = delete(m).where(m.c.session_id == sid)
        self._empty_session = (
            update(s)
            .where(s.c.session_id == sid)
            .values(
                version=s.c.version + 1,
                message_count=0,
                updated_at=self._now(),
                expires_at=None,
                summary=None,
                summary_covers=None,
                summary_updated_at=None,
            )
        )

        # The running summary: a compare-and-set on its ``covers``.
        self._summary_load = select(s.c.summary, s.c.summary_covers, s.c.summary_updated_at).where(
            s.c.session_id == sid, live
        )
        no_covers = -1
        self._summary_save = (
            update(s)
            .where(
                s.c.session_id == sid,
                func.coalesce(s.c.summary_covers, no_covers)
                == func.coalesce(bindparam("expected", type_=Integer), no_covers),
            )
            .values(
                summary=bindparam("text"),
                summary_covers=bindparam("covers"),
                summary_updated_at=bindparam("produced", type_=DateTime(timezone=True)),
            )
        )

        # Reads and admin.
        live_session = select(s.c.session_id).where(s.c.session_id == sid, live).exists()
        self._load_newest = (
            select(m.c.id, m.c.data)
            .where(m.c.session_id == sid, live_session)
            .order_by(m.c.id.desc())
            .limit(bindparam("last"))
        )
        self._page = (
            select(m.c.data)
            .where(m.c.session_id == sid, live_session)
            .order_by(m.c.id)
            .offset(bindparam("offset"))
            .limit(bindparam("limit"))
        )
        self._count = select(s.c.message_count).where(s.c.session_id == sid, live)
        self._list = (
            select(s.c.session_id, s.c.message_count, s.c.updated_at)
            .where(live, s.c.message_count > 0)
            .order_by(s.c.updated_at.desc(), s.c.session_id)
            .offset(bindparam("offset"))
            .limit(bindparam("limit"))
        )
        idle = s.c.lease_token.is_(None) | (s.c.lease_expires_at <= self._now())
        doomed = is_expired | ((s.c.message_count == 0) & idle)
        self._purge_messages = delete(m).where(
            m.c.session_id.in_(select(s.c.session_id).where(doomed))
        )
        self._count_expired = select(s.c.session_id).where(is_expired)
        self._purge_sessions = delete(s).where(doomed)

    # ---- parameters ----------------------------------------------------------------------
    _NO_LIMIT: int | None = None
    """What a ``LIMIT`` parameter takes for "no limit" (SQLite: -1)."""

    def _params(self, session_id: str, **values: Any) -> dict[str, Any]:
        """Bound parameters of a statement: the session id, ``now`` and ``values``.

        ``last``/``limit`` of ``None`` become the dialect's "no limit".
        """
        for name in ("last", "limit"):
            if name in values and values[name] is None:
                values[name] = self._NO_LIMIT
        return {"sid": session_id, "now": utcnow(), **values}

    def _ttl_seconds(self) -> float | None:
        return self.ttl.total_seconds() if self.ttl is not None else None

    # ---- units of work ---------------------------------------------------------------------
    def _begin_work(self, session_id: str, token: str, last: int | None, lease: float) -> Work:
        params = self._params(session_id, token=token, lease=lease, last=last)
        return [
            *((stmt, None) for stmt in self._write_prelude()),
            (self._take_lease, params),
            (self._window, params),
            (self._head, params),
        ]

    def _begin_finish(
        self, session_id: str, token: str, lease: float
    ) -> Callable[[Results], TurnStart | None]:
        def finish(results: Results) -> TurnStart | None:
            taken, window, head = results[-3], results[-2], results[-1]
            if not taken:
                return None
            version, total, expired = taken[0]
            return self._turn_start(
                TurnLease(session_id, token, int(version), lease), window, head, total, expired
            )

        return finish

    def _turn_start(
        self,
        lease: TurnLease,
        window: Sequence[Any],
        head: Sequence[Any],
        total: int,
        expired: bool,
    ) -> TurnStart:
        """Decode a turn's start from the rows read (newest first) and the session's state."""
        if expired:
            return TurnStart(lease, [], 0, None)
        rows = sorted(window, key=lambda row: row[0])
        decode = self._cache.decode_many
        messages = decode([row[1] for row in rows], session_id=lease.session_id, shared=True)
        first = None
        if head and (not rows or head[0][0] != rows[0][0]):
            first = decode([head[0][1]], session_id=lease.session_id, shared=True)[0]
        return TurnStart(lease, messages, int(total), first)

    def _commit_work(self, lease: TurnLease, encoded: list[str]) -> Work:
        params = self._params(
            lease.session_id,
            token=lease.token,
            base=lease.version,
            n=len(encoded),
            ttl=self._ttl_seconds(),
        )
        rows = [{**params, "data": data} for data in encoded]
        return [
            *((stmt, None) for stmt in self._write_prelude()),
            (self._purge_if_expired, params),
            (self._insert_if_at_base, rows),
            (self._bump_if_at_base, params),
            (self._state, params),
        ]

    @staticmethod
    def _commit_finish(
        lease: TurnLease, messages: Sequence[BaseMessage]
    ) -> Callable[[Results], None]:
        def finish(results: Results) -> None:
            bumped, state = results[-2], results[-1]
            if bumped:
                return
            # Not applied now; applied already if an earlier attempt of this very turn
            # committed and only its reply was lost (the row names the last turn's token).
            if state and state[0][3] == lease.token and int(state[0][0]) == lease.version + 1:
                return
            raise conflict_error(lease, messages)

        return finish

    def _append_work(self, session_id: str, encoded: list[str]) -> Work:
        params = self._params(session_id, n=len(encoded), ttl=self._ttl_seconds())
        return [
            *((stmt, None) for stmt in self._write_prelude()),
            (self._purge_expired_session, params),
            (self._upsert_session, params),
            (self._insert_message, [{**params, "data": data} for data in encoded]),
        ]

    def _clear_work(self, session_id: str) -> Work:
        params = self._params(session_id)
        return [
            *((stmt, None) for stmt in self._write_prelude()),
            (self._delete_messages, params),
            (self._empty_session, params),
        ]

    def _purge_work(self) -> Work:
        params = {"now": utcnow()}
        return [
            *((stmt, None) for stmt in self._write_prelude()),
            (self._count_expired, params),
            (self._purge_messages, params),
            (self._purge_sessions, params),
        ]

    # ---- result handling ---------------------------------------------------------------
    def _newest_decoder(self, session_id: str) -> Callable[[Results], list[BaseMessage]]:
        def finish(results: Results) -> list[BaseMessage]:
            rows = sorted(results[-1], key=lambda row: row[0])
            return self._cache.decode_many([row[1] for row in rows], session_id=session_id)

        return finish

    def _page_decoder(self, session_id: str) -> Callable[[Results], list[BaseMessage]]:
        def finish(results: Results) -> list[BaseMessage]:
            return self._cache.decode_many([row[0] for row in results[-1]], session_id=session_id)

        return finish

    @staticmethod
    def _count_of(results: Results) -> int:
        rows = results[-1]
        return int(rows[0][0]) if rows else 0

    @staticmethod
    def _session_infos(results: Results) -> list[SessionInfo]:
        return [SessionInfo(sid, int(n), _aware(updated)) for sid, n, updated in results[-1]]

    @staticmethod
    def _expired_count(results: Results) -> int:
        return len(results[-3])

    # ---- the running summary -------------------------------------------------------------
    @staticmethod
    def _summary_of(results: Results) -> SessionSummary | None:
        rows = results[-1]
        if not rows or rows[0][0] is None:
            return None
        text_, covers, produced = rows[0]
        return SessionSummary(text_, int(covers), _aware(produced))

    def _summary_save_work(
        self, session_id: str, summary: SessionSummary, expected_covers: int | None
    ) -> Work:
        self._check_session_id(session_id)
        params = self._params(
            session_id,
            expected=expected_covers,
            text=summary.text,
            covers=summary.covers,
            produced=summary.updated_at or utcnow(),
        )
        return [(self._summary_save, params)]

    def load_summary(self, session_id: str) -> SessionSummary | None:
        """The session's summary, or ``None``."""
        self._check_session_id(session_id)
        work: Work = [(self._summary_load, self._params(session_id))]
        return self._run(work, session_id, self._summary_of, write=False)

    async def aload_summary(self, session_id: str) -> SessionSummary | None:
        """Async :meth:`load_summary`."""
        self._check_session_id(session_id)
        work: Work = [(self._summary_load, self._params(session_id))]
        return await self._arun(work, session_id, self._summary_of, write=False)

    def save_summary(
        self, session_id: str, summary: SessionSummary, *, expected_covers: int | None
    ) -> bool:
        """Compare-and-set the session's summary on its ``covers`` (one statement)."""
        work = self._summary_save_work(session_id, summary, expected_covers)
        return self._run(work, session_id, _renewed, write=True)

    async def asave_summary(
        self, session_id: str, summary: SessionSummary, *, expected_covers: int | None
    ) -> bool:
        """Async :meth:`save_summary`."""
        work = self._summary_save_work(session_id, summary, expected_covers)
        return await self._arun(work, session_id, _renewed, write=True)

    # ---- the ChatStore API -------------------------------------------------------------
    def try_begin_turn(
        self, session_id: str, token: str, *, last: int | None, lease_seconds: float
    ) -> TurnStart | None:
        """Take the lease and read the newest ``last`` messages in one transaction."""
        self._check_session_id(session_id)
        check_last(last)
        work = self._begin_work(session_id, token, last, lease_seconds)
        finish = self._begin_finish(session_id, token, lease_seconds)
        return self._run(work, session_id, finish, write=True)

    async def atry_begin_turn(
        self, session_id: str, token: str, *, last: int | None, lease_seconds: float
    ) -> TurnStart | None:
        """Async :meth:`try_begin_turn`."""
        self._check_session_id(session_id)
        check_last(last)
        work = self._begin_work(session_id, token, last, lease_seconds)
        finish = self._begin_finish(session_id, token, lease_seconds)
        return await self._arun(work, session_id, finish, write=True)

    def commit_turn(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
        """Append the turn if the session is still at ``lease.version``; release the lease."""
        work = self._commit_work(lease, encode_messages(messages))
        self._run(work, lease.session_id, self._commit_finish(lease, messages), write=True)

    async def acommit_turn(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`commit_turn`."""
        work = self._commit_work(lease, encode_messages(messages))
        await self._arun(work, lease.session_id, self._commit_finish(lease, messages), write=True)

    def _lease_work(self, stmt: Executable, lease: TurnLease) -> Work:
        params = self._params(lease.session_id, token=lease.token, lease=lease.lease_seconds)
        return [*((s, None) for s in self._write_prelude()), (stmt, params)]

    def release_turn(self, lease: TurnLease) -> None:
        """Give the lease back (a no-op if another token holds it)."""
        self._run(self._lease_work(self._release, lease), lease.session_id, _none, write=True)

    async def arelease_turn(self, lease: TurnLease) -> None:
        """Async :meth:`release_turn`."""
        work = self._lease_work(self._release, lease)
        await self._arun(work, lease.session_id, _none, write=True)

    def renew_turn(self, lease: TurnLease) -> bool:
        """Extend the lease; False if it is no longer held by ``lease.token``."""
        work = self._lease_work(self._renew, lease)
        return self._run(work, lease.session_id, _renewed, write=True)

    async def arenew_turn(self, lease: TurnLease) -> bool:
        """Async :meth:`renew_turn`."""
        work = self._lease_work(self._renew, lease)
        return await self._arun(work, lease.session_id, _renewed, write=True)

    def _prepare_append(self, session_id: str, messages: Sequence[BaseMessage]) -> list[str]:
        self._check_session_id(session_id)
        return encode_messages(messages)  # raises before any transaction is opened

    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages in one transaction (all or nothing), bumping the version.

        Raises:
            TypeError: If an item is not an encodable LangChain message (nothing stored).
            StoreError: If the database write failed (nothing stored).
        """
        encoded = self._prepare_append(session_id, messages)
        if encoded:
            self._run(self._append_work(session_id, encoded), session_id, _none, write=True)

    async def aappend(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`append`."""
        encoded = self._prepare_append(session_id, messages)
        if encoded:
            work = self._append_work(session_id, encoded)
            await self._arun(work, session_id, _none, write=True)

    def _load_work(self, session_id: str, last: int | None) -> Work:
        return [(self._load_newest, self._params(session_id, last=last))]

    def load(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Return the session's messages, oldest first (only the newest ``last`` are read)."""
        self._check_session_id(session_id)
        if check_last(last) == 0:
            return []
        work = self._load_work(session_id, last)
        return self._run(work, session_id, self._newest_decoder(session_id), write=False)

    async def aload(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Async :meth:`load`."""
        self._check_session_id(session_id)
        if check_last(last) == 0:
            return []
        work = self._load_work(session_id, last)
        return await self._arun(work, session_id, self._newest_decoder(session_id), write=False)

    def count(self, session_id: str) -> int:
        """Number of messages stored for a session."""
        self._check_session_id(session_id)
        work: Work = [(self._count, self._params(session_id))]
        return self._run(work, session_id, self._count_of, write=False)

    async def acount(self, session_id: str) -> int:
        """Async :meth:`count`."""
        self._check_session_id(session_id)
        work: Work = [(self._count, self._params(session_id))]
        return await self._arun(work, session_id, self._count_of, write=False)

    def _page_work(self, session_id: str, offset: int, limit: int) -> Work:
        check_page(offset, limit)
        return [(self._page, self._params(session_id, offset=offset, limit=limit))]

    def read_page(self, session_id: str, *, offset: int = 0, limit: int = 100) -> list[BaseMessage]:
        """Messages ``offset`` .. ``offset + limit - 1`` of a session, oldest first."""
        self._check_session_id(session_id)
        work = self._page_work(session_id, offset, limit)
        return self._run(work, session_id, self._page_decoder(session_id), write=False)

    async def aread_page(
        self, session_id: str, *, offset: int = 0, limit: int = 100
    ) -> list[BaseMessage]:
        """Async :meth:`read_page`."""
        self._check_session_id(session_id)
        work = self._page_work(session_id, offset, limit)
        return await self._arun(work, session_id, self._page_decoder(session_id), write=False)

    def _list_work(self, limit: int | None, offset: int) -> Work:
        check_page(offset, limit)
        return [(self._list, self._params("*", offset=offset, limit=limit))]

    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[SessionInfo]:
        """Live sessions, most recently updated first, with their message counts."""
        return self._run(self._list_work(limit, offset), "*", self._session_infos, write=False)

    async def alist_sessions(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        work = self._list_work(limit, offset)
        return await self._arun(work, "*", self._session_infos, write=False)

    def clear(self, session_id: str) -> None:
        """Remove all of a session's messages (its version moves on)."""
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
        """Delete expired sessions (and emptied ones no turn holds); returns how many expired."""
        return self._run(self._purge_work(), "*", self._expired_count, write=True)

    async def apurge_expired(self) -> int:
        """Async :meth:`purge_expired`."""
        return await self._arun(self._purge_work(), "*", self._expired_count, write=True)

    def close(self) -> None:
        """Dispose the engine this store created (an injected engine is left open)."""
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._autocommit = None
            self._ready = False


def _case(condition: Any, then: Any, otherwise: Any) -> Any:
    from sqlalchemy import case

    return case((condition, then), else_=otherwise)


def _case_expired(is_expired: Any, count: Any) -> Any:
    """``0`` for an expired session's old messages (they are purged), else ``count``."""
    return _case(is_expired, 0, count)


def _none(_results: Results) -> None:
    return None


def _renewed(results: Results) -> bool:
    return bool(results[-1])
