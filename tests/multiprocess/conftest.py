"""Fixtures of the multi-instance suite: a shared storage namespace per test, the server.

``shared_storage`` gives every test a fresh namespace on one backend, as a URL plus the
``store_from_url`` keyword arguments that isolate it: a SQLite file in ``tmp_path``, a
PostgreSQL schema of its own (dropped with everything in it afterwards, whatever tables the
store created), a Redis key prefix (its keys deleted afterwards).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from langchain_arcee.stores import ChatStore, store_from_url
from tests.arcee_server import ArceeTestServer
from tests.multiprocess.protocol import responder

SHARED_BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]


@dataclass
class SharedStorage:
    """One backend namespace that several store objects (and processes) open.

    Attributes:
        kind: ``"sqlite"``, ``"postgres"`` or ``"redis"``.
        url: The URL every store object is built from.
        kwargs: The ``store_from_url`` keyword arguments naming the namespace.
    """

    kind: str
    url: str
    kwargs: dict[str, Any]
    opened: list[ChatStore] = field(default_factory=list)

    def open(self) -> ChatStore:
        """A new store object over the namespace (closed at teardown)."""
        store = store_from_url(self.url, **self.kwargs)
        self.opened.append(store)
        return store


def _drop_postgres_schema(url: str, schema: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _delete_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _storage(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Iterator[SharedStorage]:
    name = "mp" + uuid.uuid4().hex[:10]
    if kind == "memory":
        storage = SharedStorage(kind, "memory://", {})
    elif kind == "sqlite":
        storage = SharedStorage(kind, f"sqlite:///{tmp_path / 'shared.db'}", {"table_prefix": name})
    elif kind == "postgres":
        storage = SharedStorage(kind, request.getfixturevalue("postgres_url"), {"schema": name})
    else:
        storage = SharedStorage(kind, request.getfixturevalue("redis_url"), {"key_prefix": name})
    try:
        yield storage
    finally:
        for store in storage.opened:
            store.close()
        if kind == "postgres":
            _drop_postgres_schema(storage.url, name)
        elif kind == "redis":
            _delete_redis_keys(storage.url, name)


@pytest.fixture(params=SHARED_BACKENDS)
def shared_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedStorage]:
    """A fresh namespace on each backend several processes can share."""
    yield from _storage(request, tmp_path, request.param)


@pytest.fixture(params=["memory", *SHARED_BACKENDS])
def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedStorage]:
    """A fresh namespace on every backend, the in-memory store included (one object per open)."""
    yield from _storage(request, tmp_path, request.param)


@pytest.fixture
def fingerprint_server() -> Iterator[ArceeTestServer]:
    """A loopback server answering with fingerprinted replies (a short delay widens races)."""
    with ArceeTestServer(responder=responder, delay=0.01) as server:
        yield server
