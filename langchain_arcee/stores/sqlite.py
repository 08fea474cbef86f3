"""SQLite conversation store (SQLAlchemy Core on the standard library's ``sqlite3``).

One file can be shared by several threads and processes: the database runs in WAL mode
(readers never block the writer), every write transaction starts with ``BEGIN IMMEDIATE`` (it
takes the write lock up front, so two writers queue on ``busy_timeout`` instead of failing on
a lock upgrade) and an append is one transaction. Leases and TTLs use the clock of the host
the processes run on (a SQLite file is shared by one host's processes only).

Async calls run each unit of work on a worker thread in one hop (a SQLite statement takes
microseconds, but a writer may wait on another process's lock, which must not block the
event loop); there is no async driver to bind to a loop, so one store serves any number of
event loops.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    Table,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.sql import Executable

from langchain_arcee.redaction import redact_url
from langchain_arcee.stores.serialization import DecodeCache
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
            msg = f"not a SQLite URL: {redact_url(raw)!r}"
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

    The engine is created lazily from the path (and disposed by :meth:`close`, or on leaving
    a ``with`` block), or injected (``engine=``: then no path is needed, the engine is left
    open and gets no pragmas from this store).

    Args:
        path_or_url: Database file path or ``sqlite:///path`` URL (not needed when an engine
            is injected).
        engine: Engine to use instead of creating one.
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
        if path_or_url is None and engine is None:
            msg = "SQLiteChatStore needs a database path (or an injected engine)"
            raise ValueError(msg)
        if path_or_url is not None:
            self.path: str | None = sqlite_path(path_or_url)
        else:
            assert engine is not None
            self.path = engine.url.database
        self.busy_timeout_ms = int(busy_timeout_ms)
        super().__init__(engine=engine, ttl=ttl, table_prefix=table_prefix, cache_bytes=cache_bytes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, table_prefix={self.table_prefix!r})"

    # ---- dialect hooks -----------------------------------------------------------------
    def _id_column(self) -> Column[int]:
        # INTEGER PRIMARY KEY AUTOINCREMENT: ids are never reused, even after deletes.
        return Column("id", Integer, primary_key=True, autoincrement=True)

    def _table_kwargs(self) -> dict[str, Any]:
        return {"sqlite_autoincrement": True}

    def _write_prelude(self) -> list[Executable]:
        # SQLite has one writer per database: take the write lock before the first statement.
        return [_BEGIN_IMMEDIATE]

    def _ddl_prelude(self) -> list[Executable]:
        # Check-then-migrate atomically across processes sharing the file.
        return [_BEGIN_IMMEDIATE]

    def _now(self) -> Any:
        return bindparam("now", type_=DateTime(timezone=True))

    def _after(self, seconds_param: str) -> Any:
        return bindparam(f"{seconds_param}_at", type_=DateTime(timezone=True))

    def _timestamp_ddl(self) -> str:
        return "DATETIME"

    def _params(self, session_id: str, **values: Any) -> dict[str, Any]:
        params = super()._params(session_id, **values)
        for name in ("lease", "ttl"):
            if name in params:
                seconds = params[name]
                params[f"{name}_at"] = (
                    None if seconds is None else params["now"] + timedelta(seconds=seconds)
                )
        return params

    def _insert(self, table: Table) -> Any:
        return sqlite_insert(table)

    def _create_engine(self) -> Engine:
        # hide_parameters: errors and logs never quote the conversation being written.
        engine = create_engine(f"sqlite:///{self.path}", hide_parameters=True)
        event.listen(engine, "connect", self._on_connect)
        return engine

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL needs a lock another process may hold.
            cursor.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms:d}")
            # Switching to WAL can fail at once with "database is locked" while another
            # process opens the same new file (SQLite's busy handler does not cover it): retry.
            deadline = time.monotonic() + self.busy_timeout_ms / 1000
            while True:
                try:
                    cursor.execute("PRAGMA journal_mode = WAL")
                    break
                except sqlite3.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()
