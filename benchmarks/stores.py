"""The benchmarks' stores: built through the public API, isolated, and removed afterwards.

Every store gets a unique table/key prefix (or its own file), so benchmarks can run next to the
test suite on the same PostgreSQL and Redis servers; :func:`open_store` drops what it created.
Servers default to the test suite's (``ARCEE_TEST_POSTGRES_URL``, ``ARCEE_TEST_REDIS_URL``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_arcee.stores import ChatStore

POSTGRES_URL = os.environ.get(
    "ARCEE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("ARCEE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
STORE_NAMES = ("memory", "sqlite", "postgres", "redis")


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def unavailable(name: str) -> str | None:
    """Why store ``name`` can't run here (its server is unreachable), or ``None``."""
    try:
        if name == "postgres":
            import psycopg

            psycopg.connect(libpq_url(POSTGRES_URL), connect_timeout=3).close()
        elif name == "redis":
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _prefix() -> str:
    return f"bench_{uuid.uuid4().hex[:10]}_"


def postgres_bytes(prefix: str) -> int:
    """``pg_total_relation_size`` summed over the tables whose name starts with ``prefix``."""
    import psycopg

    with psycopg.connect(libpq_url(POSTGRES_URL)) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "WHERE c.relkind = 'r' AND c.relname LIKE %s",
            (prefix.replace("_", r"\_") + "%",),
        ).fetchone()
    return int(row[0]) if row else 0


def drop_postgres_tables(prefix: str) -> None:
    """Drop every table whose name starts with ``prefix`` (with its indexes and sequences)."""
    import psycopg

    with psycopg.connect(libpq_url(POSTGRES_URL), autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE %s",
                (prefix.replace("_", r"\_") + "%",),
            )
        ]
        for name in names:
            conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')


def _delete_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _construct(name: str, where: str, **kwargs: Any) -> ChatStore:
    """A store object of kind ``name`` on ``where`` (SQLite file, or table/key prefix)."""
    if name == "memory":
        from langchain_arcee.stores import InMemoryChatStore

        return InMemoryChatStore(**kwargs)
    if name == "sqlite":
        from langchain_arcee.stores import SQLiteChatStore

        return SQLiteChatStore(where, **kwargs)
    if name == "postgres":
        from langchain_arcee.stores import PostgresChatStore

        return PostgresChatStore(POSTGRES_URL, table_prefix=where, **kwargs)
    if name == "redis":
        from langchain_arcee.stores import RedisChatStore

        return RedisChatStore(REDIS_URL, key_prefix=where, **kwargs)
    raise ValueError(f"unknown store {name!r} (one of {', '.join(STORE_NAMES)})")


@contextlib.contextmanager
def open_twin(name: str, where: str) -> Iterator[ChatStore]:
    """A second store object on the data of the store ``open_store(name)`` yielded with
    ``where`` (another app instance); closed on exit, the data left to that store."""
    if name == "memory":
        raise ValueError("an in-memory store has no second object on the same data")
    store = _construct(name, where)
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def open_store(name: str, **kwargs: Any) -> Iterator[tuple[ChatStore, str]]:
    """A fresh, empty store of kind ``name``; everything it wrote is removed on exit.

    ``kwargs`` go to the store's constructor (e.g. ``cache_bytes=0``).

    Yields:
        The store and where it lives (table/key prefix, or the SQLite file path).
    """
    with contextlib.ExitStack() as cleanup:
        where = _prefix()
        if name == "sqlite":
            where = str(Path(cleanup.enter_context(tempfile.TemporaryDirectory())) / "bench.db")
        elif name == "postgres":
            cleanup.callback(drop_postgres_tables, where)
        elif name == "redis":
            cleanup.callback(_delete_redis_keys, where)
        store = _construct(name, where, **kwargs)
        cleanup.callback(store.close)
        yield store, where
