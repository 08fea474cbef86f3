"""``store_from_url`` picks the backend from the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from langchain_arcee.stores import store_from_url
from langchain_arcee.stores.memory import InMemoryChatStore
from langchain_arcee.stores.postgres import PostgresChatStore
from langchain_arcee.stores.redis import RedisChatStore
from langchain_arcee.stores.sqlite import SQLiteChatStore


def test_memory() -> None:
    store = store_from_url("memory://", max_sessions=3)
    assert isinstance(store, InMemoryChatStore)
    assert store.max_sessions == 3


@pytest.mark.parametrize("form", ["sqlite:///{p}", "{p}", "sqlite+aiosqlite:///{p}", "path"])
def test_sqlite(tmp_path: Path, form: str) -> None:
    path = tmp_path / "chats.db"
    arg = path if form == "path" else form.format(p=path)
    store = store_from_url(arg)  # type: ignore[arg-type]
    assert isinstance(store, SQLiteChatStore)
    assert store.path == str(path)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@h/db",
        "postgres://u@h/db",
        "postgresql+psycopg://u@h/db",
    ],
)
def test_postgres(url: str) -> None:
    store = store_from_url(url, table_prefix="x")
    assert isinstance(store, PostgresChatStore)
    assert store.url is not None
    assert store.url.drivername == "postgresql+psycopg"


@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "rediss://localhost:6380/1"])
def test_redis(url: str) -> None:
    assert isinstance(store_from_url(url, ttl=60), RedisChatStore)


@pytest.mark.parametrize("url", ["ftp://x", "mysql://u@h/db", "", "   "])
def test_unknown(url: str) -> None:
    with pytest.raises(ValueError):
        store_from_url(url)


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delitem(sys.modules, "langchain_arcee.stores.redis", raising=False)
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    with pytest.raises(ImportError, match=r'pip install "langchain-arcee\[redis\]"'):
        store_from_url("redis://localhost")
