"""SQLAlchemy Core half of the PostgreSQL store: tables, migrations, statements.

The turn protocol itself (units of work and what their results mean) is
:class:`~langchain_arcee.stores.relational.RelationalChatStore`; this class builds its
statements once, in the constructor, with bound parameters, and migrates the schema on a sync
``Engine``. Where the statements run is the backend's (PostgreSQL compiles them once and runs
them on psycopg connections).
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

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
    cast,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.sql import Executable

from langchain_arcee.redaction import scrub
from langchain_arcee.stores.base import StoreError
from langchain_arcee.stores.relational import (
    RelationalChatStore,
    check_identifier,
)
from langchain_arcee.stores.serialization import DecodeCache

_T = TypeVar("_T")

_TIMESTAMP = "TIMESTAMP WITH TIME ZONE"
"""DDL of the timestamp columns the migrations add."""


def _invalidated(exc: SQLAlchemyError) -> bool:
    """Whether the error means the pooled connection was dead (safe to retry once)."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class SQLChatStore(RelationalChatStore):
    """The turn protocol's schema, migrations and statements, on SQLAlchemy Core.

    Args:
        engine: Sync engine to use (left open by :meth:`close`), or ``None`` to create one
            lazily with :meth:`_create_engine`.
        ttl: Sessions expire this long after their last write (``timedelta`` or seconds).
        table_prefix: Prefix of the table names.
        schema: Database schema of the tables (``None``: the default one).
        cache_bytes: Bound of the decoded-message cache, in bytes of stored text (see
            :class:`DecodeCache`); 0 disables it.
    """

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
        super().__init__(ttl=ttl, table_prefix=table_prefix, cache_bytes=cache_bytes)
        if schema is not None:
            check_identifier(schema, "schema")
        self.schema = schema
        self._engine = engine
        self._owns_engine = engine is None
        self._engine_lock = threading.Lock()

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

    @abstractmethod
    def _create_engine(self) -> Engine:
        """Create the sync engine (called once, lazily)."""

    @abstractmethod
    def _now(self) -> Any:
        """SQL for "now": the database's clock (PostgreSQL) or a ``now`` parameter (SQLite)."""

    @abstractmethod
    def _after(self, seconds_param: str) -> Any:
        """SQL for now plus the seconds in parameter ``seconds_param`` (NULL stays NULL)."""

    def _ddl_prelude(self) -> list[Executable]:
        """Statements run before migrating (e.g. a DDL lock, ``CREATE SCHEMA``)."""
        return []

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
                ("lease_expires_at", _TIMESTAMP),
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
                ("summary_updated_at", _TIMESTAMP),
            ],
        )

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

    def _apply_migrations(self) -> None:
        try:
            with self.engine.begin() as conn:
                self._setup_on(conn)
        except SQLAlchemyError as exc:
            msg = f"setting up the tables of {self!r} failed: {scrub(str(exc))}"
            raise StoreError(msg) from exc
        finally:
            if self._owns_engine:  # statements run elsewhere: keep no idle connection for it
                self.engine.dispose()

    def drop_tables(self) -> None:
        """Drop this store's tables and everything in them (for tests and teardown).

        This object forgets what it cached of them. Other store objects on the same tables
        don't know: message ids start again in recreated tables, so one of them could take a
        recreated session for the one it cached. Drop tables no other object is using.
        """
        self._windows.forget_all()
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

    # ---- statements (built once) --------------------------------------------------------
    def _build_statements(self) -> None:
        s, m = self.sessions, self.messages
        sid: Any = bindparam("sid")
        live = (s.c.expires_at.is_(None)) | (s.c.expires_at > self._now())
        is_expired = (s.c.expires_at.is_not(None)) & (s.c.expires_at <= self._now())

        # A turn's start, commit and a plain append are one statement each in the dialect
        # (e.g. PostgreSQL's data-modifying CTEs); what every dialect shares is built here.
        own_lease = s.c.lease_token == bindparam("token")
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
        # Made in a turn: stored only while the session is at its version and in its life.
        at_version = cast(bindparam("at_version", type_=BigInteger), BigInteger)
        at_life = cast(bindparam("at_life", type_=BigInteger), BigInteger)
        newest = (
            select(func.coalesce(func.max(m.c.id), 0)).where(m.c.session_id == sid)
        ).scalar_subquery()
        made_in_turn = or_(
            at_version.is_(None),
            (s.c.version == at_version) & or_(at_life.is_(None), newest == at_life),
        )
        self._summary_save = (
            update(s)
            .where(
                s.c.session_id == sid,
                func.coalesce(s.c.summary_covers, no_covers)
                == func.coalesce(bindparam("expected", type_=Integer), no_covers),
                made_in_turn,
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

    def close(self) -> None:
        """Dispose the engine this store created (an injected engine is left open)."""
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._ready = False
