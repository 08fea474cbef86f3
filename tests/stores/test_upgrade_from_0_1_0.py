"""Storage written by langchain-arcee 0.1.0 opens with today's stores, with nothing lost.

The fixtures in ``tests/fixtures/v0_1_0/`` were made by the 0.1.0 code (see the README there):
a SQLite file, a PostgreSQL dump and a Redis keyspace dump, each holding the same sessions
(system message, reasoning, tool calls and results, unicode, a 320-message session, a session
with a TTL), plus ``expected.json`` (what 0.1.0 loaded). Each test restores a fixture into a
fresh namespace, opens it with the current store class (which may migrate it in place) and
checks every session, the listing and the counts, before and after a new append.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, messages_to_dict

from langchain_arcee.stores import ChatStore
from langchain_arcee.stores.postgres import PostgresChatStore
from langchain_arcee.stores.redis import RedisChatStore
from langchain_arcee.stores.sqlite import SQLiteChatStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "v0_1_0"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
SESSIONS: dict[str, list[dict[str, Any]]] = EXPECTED["sessions"]


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _restore_postgres(url: str, schema: str) -> None:
    import psycopg

    dump = (FIXTURES / "postgres.sql").read_text(encoding="utf-8")
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(dump.replace("__SCHEMA__", schema))  # type: ignore[call-overload]


def _restore_redis(url: str, prefix: str) -> None:
    import redis

    dump = json.loads((FIXTURES / "redis.json").read_text(encoding="utf-8"))
    client = redis.Redis.from_url(url)
    try:
        for entry in dump["keys"]:
            key = (prefix + entry["key"]).encode()
            if entry["type"] == "list":
                client.rpush(key, *(v.encode() for v in entry["value"]))
            else:
                client.zadd(key, {member.encode(): score for member, score in entry["value"]})
            if entry["pttl"] > 0:
                client.pexpire(key, entry["pttl"])
    finally:
        client.close()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChatStore]:
    """The 0.1.0 fixture of one backend, restored into a fresh namespace and opened."""
    name = "up" + uuid.uuid4().hex[:10]
    store: ChatStore
    if request.param == "sqlite":
        shutil.copy(FIXTURES / "chats.sqlite3", tmp_path / "chats.sqlite3")
        store = SQLiteChatStore(tmp_path / "chats.sqlite3")
        yield store
        store.close()
    elif request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        _restore_postgres(url, name)
        store = PostgresChatStore(url, schema=name)
        try:
            yield store
        finally:
            store.close()
            import psycopg

            with psycopg.connect(_libpq(url), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')  # type: ignore[call-overload]
    else:
        url = request.getfixturevalue("redis_url")
        _restore_redis(url, f"{name}:")
        store = RedisChatStore(url, key_prefix=f"{name}:")
        try:
            yield store
        finally:
            assert isinstance(store, RedisChatStore)
            keys = list(store.client.scan_iter(match=f"{name}:*"))
            if keys:
                store.client.delete(*keys)
            store.close()


def _assert_holds(store: ChatStore, sessions: dict[str, list[dict[str, Any]]]) -> None:
    for session_id, expected in sessions.items():
        assert messages_to_dict(store.load(session_id)) == expected, session_id
        assert store.count(session_id) == len(expected), session_id
    listed = {info.session_id: info.message_count for info in store.list_sessions()}
    assert listed == {s: len(m) for s, m in sessions.items()}


def test_fixture_covers_what_it_promises() -> None:
    kinds = {m["type"] for messages in SESSIONS.values() for m in messages}
    assert kinds == {"system", "human", "ai", "tool"}
    assert max(len(m) for m in SESSIONS.values()) >= 300
    assert EXPECTED["ttl_sessions"] == ["ttl"]
    assert any("reasoning_content" in m["data"]["additional_kwargs"] for m in SESSIONS["plain"])
    assert any(m["data"].get("tool_calls") for m in SESSIONS["tools"])


def test_every_session_loads_as_0_1_0_wrote_it(upgraded: ChatStore) -> None:
    _assert_holds(upgraded, SESSIONS)
    loaded = asyncio.run(upgraded.aload("unicode ☃ 会话"))
    assert messages_to_dict(loaded) == SESSIONS["unicode ☃ 会话"]
    tail = upgraded.load("long", last=3)
    assert messages_to_dict(tail) == SESSIONS["long"][-3:]


def test_new_turns_append_after_the_upgrade(upgraded: ChatStore) -> None:
    turn = [HumanMessage("after the upgrade 🚀", id="new-h"), AIMessage("still here", id="new-a")]
    upgraded.append("plain", turn)
    asyncio.run(upgraded.aappend("new session", turn))
    sessions = dict(SESSIONS)
    sessions["plain"] = [*SESSIONS["plain"], *messages_to_dict(turn)]
    sessions["new session"] = messages_to_dict(turn)
    _assert_holds(upgraded, sessions)


def test_the_upgrade_records_every_migration_and_turns_use_the_new_protocol(
    upgraded: ChatStore,
) -> None:
    from langchain_arcee.stores.base import SessionSummary
    from langchain_arcee.stores.sql import SQLChatStore

    start = upgraded.begin_turn("plain", last=4, lock_timeout=1)
    assert start.total == len(SESSIONS["plain"])
    assert messages_to_dict(start.messages) == SESSIONS["plain"][-4:]
    upgraded.commit_turn(start.lease, [HumanMessage("turn after the upgrade")])
    assert upgraded.save_summary("plain", SessionSummary("so far", 2), expected_covers=None)
    if isinstance(upgraded, SQLiteChatStore):
        with sqlite3.connect(str(upgraded.path)) as conn:
            rows = conn.execute(f"SELECT v FROM {upgraded.migrations_table}").fetchall()
        conn.close()
        assert sorted(v for (v,) in rows) == list(range(len(upgraded.MIGRATIONS)))
    if isinstance(upgraded, SQLChatStore):
        from sqlalchemy import select

        with upgraded.engine.connect() as conn:
            recorded = conn.execute(select(upgraded.migrations_table.c.v)).scalars().all()
        assert sorted(recorded) == list(range(len(upgraded.MIGRATIONS)))
    if isinstance(upgraded, RedisChatStore):
        assert int(upgraded.client.get(upgraded.schema_key)) == len(upgraded.MIGRATIONS) - 1
