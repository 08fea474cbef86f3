"""SQLite conversation store (SQLAlchemy Core; pysqlite for sync, aiosqlite for async).

One file can be shared by several threads and processes: the database runs in WAL mode
(readers never block the writer), every write transaction starts with ``BEGIN IMMEDIATE`` (it
takes the write lock up front, so two writers queue on ``busy_timeout`` instead of failing on
a lock upgrade) and an append is one transaction.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Integer, Table, create_engine, event, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from langchain_arcee.extras import missing_extra
from langchain_arcee.stores.sql import SQLChatStore

_BEGIN_IMMEDIATE = text("BEGIN IMMEDIATE")


def sqlite_path(path_or_url: str | Path) -> str:
    """The database file path of a plain path or a ``sqlite[+driver]:///path`` URL.

    Raises:
        ValueError: For an in-memory database or a non-SQLite URL.
    """
    raw = str(path_or_url)
    if "://" in raw:
        url = make_url(raw)
        if url.get_backend_name() != "sqlite":
            msg = f"not a SQLite URL: {raw!r}"
            raise ValueError(msg)
        database = url.database or ""
    else:
        database = raw
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        msg = (
            "SQLiteChatStore needs a database file (an in-memory SQLite database is not shared "
            "between its sync and async engines); use InMemoryChatStore instead"
        )
        raise ValueError(msg)
    return database


class SQLiteChatStore(SQLChatStore):
    """Conversation store in a SQLite file.

    Sync methods use a pysqlite engine, async methods an aiosqlite engine; both are created
    lazily from the path, or injected (``engine=`` / ``async_engine=``; injected engines are not
    disposed by :meth:`close` and get no pragmas from this store).

    Args:
        path_or_url: Database file path or ``sqlite:///path`` URL (ignored for an engine
            that is injected).
        engine: Sync engine to use instead of creating one.
        async_engine: Async engine to use instead of creating one.
        ttl: Sessions expire this long after their last write (``timedelta`` or seconds);
            :meth:`purge_expired` deletes them.
        table_prefix: Prefix of the table names.
        busy_timeout_ms: How long a writer waits for another's lock before failing.
        cache_size: How many decoded messages to cache; 0 disables the cache.

    Example:
        ``store = SQLiteChatStore("chats.db")``
    """

    def __init__(
        self,
        path_or_url: str | Path,
        *,
        engine: Engine | None = None,
        async_engine: AsyncEngine | None = None,
        ttl: timedelta | float | None = None,
        table_prefix: str = "arcee",
        busy_timeout_ms: int = 30_000,
        cache_size: int = 50_000,
    ) -> None:
        self.path = sqlite_path(path_or_url)
        self.busy_timeout_ms = int(busy_timeout_ms)
        super().__init__(
            engine=engine,
            async_engine=async_engine,
            ttl=ttl,
            table_prefix=table_prefix,
            cache_size=cache_size,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, table_prefix={self.table_prefix!r})"

    # ---- dialect hooks -----------------------------------------------------------------
    def _id_column(self) -> Column[int]:
        # INTEGER PRIMARY KEY AUTOINCREMENT: ids are never reused, even after deletes.
        return Column("id", Integer, primary_key=True, autoincrement=True)

    def _table_kwargs(self) -> dict[str, Any]:
        return {"sqlite_autoincrement": True}

    def _write_lock(self, session_id: str) -> Executable:
        # SQLite has one writer per database: take the write lock before the first statement.
        return _BEGIN_IMMEDIATE

    def _ddl_prelude(self) -> list[Executable]:
        # Check-then-create atomically across processes sharing the file.
        return [_BEGIN_IMMEDIATE]

    def _insert(self, table: Table) -> Any:
        return sqlite_insert(table)

    def _create_engine(self) -> Engine:
        # hide_parameters: errors and logs never quote the conversation being written.
        engine = create_engine(f"sqlite:///{self.path}", hide_parameters=True)
        event.listen(engine, "connect", self._on_connect)
        return engine

    def _create_async_engine(self) -> AsyncEngine:
        try:
            import aiosqlite  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            # A base dependency: missing only from a broken install.
            raise missing_extra("async SQLite", "aiosqlite", "sqlite") from exc
        engine = create_async_engine(f"sqlite+aiosqlite:///{self.path}", hide_parameters=True)
        event.listen(engine.sync_engine, "connect", self._on_connect)
        return engine

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL needs a lock another process may hold.
            cursor.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms:d}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()
