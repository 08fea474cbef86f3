"""PostgreSQL conversation store (SQLAlchemy Core on psycopg 3, sync and async).

Concurrency: every write transaction first takes a transaction-level advisory lock on
``hashtextextended(<table>/<session id>)``. Writers of one session therefore run one after
the other, and because the lock is taken *before* the identity values are drawn, a session's
ids increase in commit order: ordering ``load`` by id is the append order, and a reader never
sees a later turn without the earlier one. Writers of different sessions don't wait for each
other (a hash collision only makes two sessions share a lock, never mixes their data).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Identity, Table, create_engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateSchema
from sqlalchemy.sql import Executable

from langchain_arcee.extras import missing_extra
from langchain_arcee.stores.sql import SQLChatStore


def psycopg_url(url: str | URL) -> URL:
    """Normalize ``postgres://``/``postgresql://`` URLs to the psycopg 3 driver.

    Raises:
        ValueError: If it is not a PostgreSQL URL or names another driver.
    """
    raw = str(url) if isinstance(url, URL) else url
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    parsed = make_url(raw)
    if parsed.drivername not in ("postgresql", "postgresql+psycopg"):
        msg = f"PostgresChatStore needs a postgresql:// URL (psycopg 3), got {parsed.drivername!r}"
        raise ValueError(msg)
    return parsed.set(drivername="postgresql+psycopg")


class PostgresChatStore(SQLChatStore):
    """Conversation store in PostgreSQL.

    Sync methods use a psycopg engine, async methods a psycopg async engine; both are created
    lazily from ``url`` or injected (injected engines are not disposed by :meth:`close`).

    Args:
        url: ``postgresql://``, ``postgres://`` or ``postgresql+psycopg://`` URL. Needed
            unless both engines are injected.
        engine: Sync engine to use instead of creating one.
        async_engine: Async engine to use instead of creating one.
        ttl: Sessions expire this long after their last write (``timedelta`` or seconds);
            :meth:`purge_expired` deletes them.
        schema: Schema of the tables (created if absent); ``None`` for the search path.
        table_prefix: Prefix of the table names.
        cache_size: How many decoded messages to cache; 0 disables the cache.
        engine_kwargs: Extra keyword arguments for the engines this store creates
            (e.g. ``pool_size``).

    Example:
        ``store = PostgresChatStore("postgresql://user@localhost/app")``
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        engine: Engine | None = None,
        async_engine: AsyncEngine | None = None,
        ttl: timedelta | float | None = None,
        schema: str | None = None,
        table_prefix: str = "arcee",
        cache_size: int = 50_000,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if url is None and (engine is None or async_engine is None):
            msg = "PostgresChatStore needs a url unless both engine and async_engine are given"
            raise ValueError(msg)
        self.url = psycopg_url(url) if url is not None else None
        self.engine_kwargs = dict(engine_kwargs or {})
        super().__init__(
            engine=engine,
            async_engine=async_engine,
            ttl=ttl,
            table_prefix=table_prefix,
            schema=schema,
            cache_size=cache_size,
        )

    def __repr__(self) -> str:
        where = self.url.render_as_string(hide_password=True) if self.url else "<injected>"
        return f"{type(self).__name__}({where!r}, table_prefix={self.table_prefix!r})"

    # ---- dialect hooks -----------------------------------------------------------------
    def _id_column(self) -> Column[int]:
        # Identity values come from a sequence: never reused (short of a manual reset).
        return Column("id", BigInteger, Identity(), primary_key=True)

    def _check_session_id(self, session_id: str) -> str:
        super()._check_session_id(session_id)
        if "\x00" in session_id:
            msg = f"PostgreSQL text cannot contain NUL characters: session_id {session_id!r}"
            raise ValueError(msg)
        return session_id

    def _write_lock(self, session_id: str) -> Executable:
        key = f"{self.messages.fullname}/{session_id}"
        return select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0)))

    def _ddl_prelude(self) -> list[Executable]:
        # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalogs: serialize.
        lock = select(func.pg_advisory_xact_lock(func.hashtextextended("langchain-arcee-ddl", 0)))
        stmts: list[Executable] = [lock]
        if self.schema is not None:
            stmts.append(CreateSchema(self.schema, if_not_exists=True))
        return stmts

    def _insert(self, table: Table) -> Any:
        return pg_insert(table)

    def _require_url(self) -> URL:
        if self.url is None:  # pragma: no cover - guarded in __init__
            msg = "no url to create an engine from"
            raise ValueError(msg)
        return self.url

    def _create_engine(self) -> Engine:
        _require_psycopg()
        # hide_parameters: errors and logs never quote the conversation being written.
        kwargs = {"pool_pre_ping": True, "hide_parameters": True, **self.engine_kwargs}
        return create_engine(self._require_url(), **kwargs)

    def _create_async_engine(self) -> AsyncEngine:
        _require_psycopg()
        kwargs = {"pool_pre_ping": True, "hide_parameters": True, **self.engine_kwargs}
        return create_async_engine(self._require_url(), **kwargs)


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise missing_extra("PostgresChatStore", "psycopg 3", "postgres") from exc
