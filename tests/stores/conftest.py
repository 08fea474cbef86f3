"""Fixtures of the store tests: one ``backend`` fixture parametrized over every store.

Each test gets its own storage namespace (SQLite file in ``tmp_path``, a unique PostgreSQL
table prefix, a unique Redis key prefix) and it is removed afterwards, so parallel runs
don't collide.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from langchain_arcee.stores import ChatStore
from langchain_arcee.stores.memory import InMemoryChatStore
from langchain_arcee.stores.postgres import PostgresChatStore
from langchain_arcee.stores.redis import RedisChatStore
from langchain_arcee.stores.sqlite import SQLiteChatStore
from tests.store_helpers import write_raw_row

BACKENDS = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]


@dataclass
class Backend:
    """A store under test plus what the tests need to poke at it."""

    name: str
    factory: Callable[..., ChatStore]
    store: ChatStore = field(init=False)
    extra: list[ChatStore] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = self.factory()

    def make(self, **kwargs: Any) -> ChatStore:
        """Another store over the same storage (e.g. with a TTL); closed at teardown."""
        store = self.factory(**kwargs)
        self.extra.append(store)
        return store

    def write_raw(self, session_id: str, raw: str) -> None:
        """Store a raw row for a session, bypassing encoding (the session must exist)."""
        if not write_raw_row(self.store, session_id, raw):
            pytest.skip(f"{self.name} stores objects, not encoded rows")


def _unique() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    name: str = request.param
    prefix = _unique()
    factory: Callable[..., ChatStore]
    if name == "memory":
        shared = InMemoryChatStore()

        def factory(**kwargs: Any) -> ChatStore:  # one shared memory store unless kwargs
            return InMemoryChatStore(**kwargs) if kwargs else shared

    elif name == "sqlite":
        path = tmp_path / "chats.db"

        def factory(**kwargs: Any) -> ChatStore:
            return SQLiteChatStore(path, table_prefix=prefix, **kwargs)

    elif name == "postgres":
        url = request.getfixturevalue("postgres_url")

        def factory(**kwargs: Any) -> ChatStore:
            return PostgresChatStore(url, table_prefix=prefix, **kwargs)

    else:
        url = request.getfixturevalue("redis_url")

        def factory(**kwargs: Any) -> ChatStore:
            return RedisChatStore(url, key_prefix=f"{prefix}:", **kwargs)

    backend = Backend(name, factory)
    try:
        yield backend
    finally:
        store = backend.store
        if isinstance(store, PostgresChatStore):
            store.drop_tables()
        if isinstance(store, RedisChatStore):
            keys = list(store.client.scan_iter(match=f"{prefix}:*"))
            if keys:
                store.client.delete(*keys)
        for s in [store, *backend.extra]:
            await s.aclose()


class Api:
    """Calls a store's sync or async methods behind one awaitable interface."""

    def __init__(self, store: ChatStore, mode: str) -> None:
        self.store = store
        self.mode = mode

    async def append(self, session_id: str, messages: Any) -> None:
        if self.mode == "async":
            await self.store.aappend(session_id, messages)
        else:
            self.store.append(session_id, messages)

    async def load(self, session_id: str, *, last: int | None = None) -> list[Any]:
        if self.mode == "async":
            return await self.store.aload(session_id, last=last)
        return self.store.load(session_id, last=last)

    async def count(self, session_id: str) -> int:
        if self.mode == "async":
            return await self.store.acount(session_id)
        return self.store.count(session_id)

    async def read_page(self, session_id: str, *, offset: int = 0, limit: int = 100) -> Any:
        if self.mode == "async":
            return await self.store.aread_page(session_id, offset=offset, limit=limit)
        return self.store.read_page(session_id, offset=offset, limit=limit)

    async def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> Any:
        if self.mode == "async":
            return await self.store.alist_sessions(limit=limit, offset=offset)
        return self.store.list_sessions(limit=limit, offset=offset)

    async def clear(self, session_id: str) -> None:
        if self.mode == "async":
            await self.store.aclear(session_id)
        else:
            self.store.clear(session_id)

    async def delete(self, session_id: str) -> None:
        if self.mode == "async":
            await self.store.adelete(session_id)
        else:
            self.store.delete(session_id)

    async def export(self, session_id: str) -> Any:
        if self.mode == "async":
            return await self.store.aexport(session_id)
        return self.store.export(session_id)

    async def purge_expired(self) -> int:
        if self.mode == "async":
            return await self.store.apurge_expired()
        return self.store.purge_expired()


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, backend: Backend) -> Api:
    return Api(backend.store, request.param)
