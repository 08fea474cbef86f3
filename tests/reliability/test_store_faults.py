"""Store faults under RunnableWithMemory: the database goes away, a write fails after the
model answered, rows are corrupted. The caller gets a clear error, nothing partial is stored,
other sessions are unaffected, and once the fault is gone the user can simply retry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import CorruptMessageError, StoreError
from langchain_arcee.stores.postgres import PostgresChatStore
from langchain_arcee.stores.redis import RedisChatStore
from langchain_arcee.stores.sqlite import SQLiteChatStore
from tests.arcee_server import ArceeTestServer
from tests.reliability.support import (
    RedisProcess,
    StoreUnderTest,
    TcpProxy,
    check_echo_conversation,
    run_turn,
    snapshot,
    unique,
    user_texts,
)

pytestmark = pytest.mark.loopback

NOT_REDIS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def assert_whole(store: object, session: str, texts: list[str]) -> None:
    stored = store.load(session)  # type: ignore[attr-defined]
    assert user_texts(stored) == texts
    assert check_echo_conversation(stored) == []


async def assert_failed_write_then_retry(
    chat: RunnableWithMemory,
    store: object,
    server: ArceeTestServer,
    fault: Callable[[], object],
    mode: str,
    match: str | None = None,
) -> None:
    """First turn ok; under ``fault`` the second turn fails with a ``StoreError``: at its start
    (the lease is a write: nothing sent, nothing billed) or at its commit (after the model
    answered); nothing of it is stored; after the fault the same turn is stored once."""
    session = unique("s")
    await run_turn(chat, "first question", session, mode)
    before = snapshot(store, session)  # type: ignore[arg-type]
    count_before = store.count(session)  # type: ignore[attr-defined]
    server.reset()
    with fault():  # type: ignore[attr-defined]
        with pytest.raises(StoreError, match=session) as info:
            await run_turn(chat, "second question", session, mode)
        if match:
            assert match in str(info.value)
        assert "second question" not in str(info.value)  # errors never quote the conversation
        assert server.count("chat") <= 1  # refused at the start, or after one answer
    assert snapshot(store, session) == before  # type: ignore[arg-type]
    assert store.count(session) == count_before  # type: ignore[attr-defined]
    await run_turn(chat, "second question", session, mode)
    assert_whole(store, session, ["first question", "second question"])


# ---- a write that fails after the model answered -------------------------------------------
@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream", "astream"])
@pytest.mark.parametrize("sut", NOT_REDIS, indirect=True)
async def test_failed_write_after_model_answer_stores_nothing_and_retry_works(
    sut: StoreUnderTest, chat: RunnableWithMemory, arcee_server: ArceeTestServer, mode: str
) -> None:
    match = "injected" if sut.kind != "memory" else None
    await assert_failed_write_then_retry(
        chat, sut.store, arcee_server, sut.failing_writes, mode, match
    )


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_redis_out_of_memory_write_stores_nothing_and_retry_works(
    redis_process: RedisProcess,
    make_model: Callable[..., ChatArcee],
    arcee_server: ArceeTestServer,
    mode: str,
) -> None:
    store = RedisChatStore(redis_process.url)
    chat = RunnableWithMemory(make_model(), store)

    class OutOfMemory:
        def __enter__(self) -> None:
            redis_process.config_set("maxmemory", "1")

        def __exit__(self, *exc: object) -> None:
            redis_process.config_set("maxmemory", "0")

    try:
        await assert_failed_write_then_retry(
            chat, store, arcee_server, OutOfMemory, mode, "maxmemory"
        )
    finally:
        await store.aclose()


@pytest.fixture
def read_only_sqlite(tmp_path: Path) -> Iterator[tuple[SQLiteChatStore, Callable[[bool], None]]]:
    """A SQLite store plus a switch that makes its connections read-only (PRAGMA query_only)."""
    state = {"read_only": False}

    class SwitchableStore(SQLiteChatStore):
        def _configure(self, conn: sqlite3.Connection) -> None:
            super()._configure(conn)
            if state["read_only"]:
                conn.execute("PRAGMA query_only = ON")

    store = SwitchableStore(tmp_path / "ro.db")

    def switch(read_only: bool) -> None:
        state["read_only"] = read_only
        store.close()  # the next unit of work opens a connection with the new setting

    yield store, switch
    store.close()


async def test_read_only_sqlite_file_fails_the_write_and_retry_works(
    read_only_sqlite: tuple[SQLiteChatStore, Callable[[bool], None]],
    make_model: Callable[..., ChatArcee],
    arcee_server: ArceeTestServer,
) -> None:
    store, switch = read_only_sqlite
    chat = RunnableWithMemory(make_model(), store)

    class ReadOnly:
        def __enter__(self) -> None:
            switch(True)

        def __exit__(self, *exc: object) -> None:
            switch(False)

    await assert_failed_write_then_retry(chat, store, arcee_server, ReadOnly, "invoke", "readonly")


# ---- the database goes away ------------------------------------------------------------------
@pytest.fixture
def proxied_postgres(
    postgres_url: str,
) -> Iterator[tuple[PostgresChatStore, TcpProxy]]:
    """A PostgreSQL store whose connections run through a proxy the test can cut."""
    from sqlalchemy.engine import make_url

    target = make_url(postgres_url)
    proxy = TcpProxy(target.port or 5432).start()
    url = target.set(host="127.0.0.1", port=proxy.port)
    store = PostgresChatStore(url, table_prefix=unique("rel"))
    try:
        yield store, proxy
    finally:
        proxy.stop()
        proxy.start()
        store.drop_tables()
        store.close()
        proxy.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_postgres_gone_between_turns_errors_clearly_then_recovers(
    proxied_postgres: tuple[PostgresChatStore, TcpProxy],
    make_model: Callable[..., ChatArcee],
    arcee_server: ArceeTestServer,
    mode: str,
) -> None:
    store, proxy = proxied_postgres
    chat = RunnableWithMemory(make_model(), store)
    session = unique("s")
    await run_turn(chat, "first question", session, mode)
    arcee_server.reset()
    proxy.stop()
    with pytest.raises(StoreError, match=session):
        await run_turn(chat, "lost question", session, mode)
    assert arcee_server.count("chat") == 0  # history could not be read: nothing was sent
    proxy.start()
    await run_turn(chat, "second question", session, mode)
    assert_whole(store, session, ["first question", "second question"])


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_postgres_gone_during_model_call_stores_nothing_then_retry_works(
    proxied_postgres: tuple[PostgresChatStore, TcpProxy],
    make_model: Callable[..., ChatArcee],
    arcee_server: ArceeTestServer,
    mode: str,
) -> None:
    store, proxy = proxied_postgres
    chat = RunnableWithMemory(make_model(), store)

    class CutDuringModelCall:
        def __enter__(self) -> None:
            arcee_server.set_responder(lambda _body: proxy.stop())

        def __exit__(self, *exc: object) -> None:
            arcee_server.set_responder(None)
            proxy.start()

    await assert_failed_write_then_retry(chat, store, arcee_server, CutDuringModelCall, mode)


@pytest.mark.parametrize(
    "sut",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ],
    indirect=True,
)
@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_killed_server_connections_reconnect_or_fail_cleanly(
    sut: StoreUnderTest, chat: RunnableWithMemory, arcee_server: ArceeTestServer, mode: str
) -> None:
    """pg_terminate_backend / CLIENT KILL between turns and during the model call.

    Each turn after the kill either succeeds (the client reconnected) or fails with a
    ``StoreError`` naming the session having stored nothing, and its retry succeeds.
    (Today PostgreSQL reconnects on every path; the async Redis client fails the first
    command on a killed connection, then reconnects.)
    """
    session = unique("s")
    texts = ["first question"]
    await run_turn(chat, texts[0], session, mode)
    for text, during_model_call in (("second question", False), ("third question", True)):
        if during_model_call:
            arcee_server.set_responder(lambda _body: sut.drop_connections() and None)
        else:
            assert sut.drop_connections() >= 1
        before = snapshot(sut.store, session)
        try:
            await run_turn(chat, text, session, mode)
        except StoreError as exc:
            assert session in str(exc)
            arcee_server.set_responder(None)
            assert snapshot(sut.store, session) == before
            await run_turn(chat, text, session, mode)
        arcee_server.set_responder(None)
        texts.append(text)
    assert_whole(sut.store, session, texts)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_redis_stopped_and_restarted_mid_conversation(
    redis_process: RedisProcess,
    make_model: Callable[..., ChatArcee],
    arcee_server: ArceeTestServer,
    mode: str,
) -> None:
    store = RedisChatStore(redis_process.url)
    chat = RunnableWithMemory(make_model(), store)
    session = unique("s")
    try:
        await run_turn(chat, "first question", session, mode)
        arcee_server.reset()
        redis_process.stop()
        with pytest.raises(StoreError, match=session):
            await run_turn(chat, "lost question", session, mode)
        assert arcee_server.count("chat") == 0
        redis_process.start()
        await run_turn(chat, "second question", session, mode)
        assert_whole(store, session, ["first question", "second question"])

        class StopDuringModelCall:
            def __enter__(self) -> None:
                arcee_server.set_responder(lambda _body: redis_process.stop())

            def __exit__(self, *exc: object) -> None:
                arcee_server.set_responder(None)
                redis_process.start()

        await assert_failed_write_then_retry(chat, store, arcee_server, StopDuringModelCall, mode)
    finally:
        await store.aclose()


# ---- corrupted and foreign rows --------------------------------------------------------------
CORRUPT_ROWS = {
    "garbage-json": "{not json",
    "foreign-type": '{"type": "alien", "data": {"content": "x"}}',
    "not-a-message": "[1, 2, 3]",
    "bare-number": "42",
}


@pytest.mark.parametrize("raw", list(CORRUPT_ROWS.values()), ids=list(CORRUPT_ROWS))
@pytest.mark.parametrize(
    "sut",
    [
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ],
    indirect=True,
)
@pytest.mark.parametrize("mode", ["invoke", "astream"])
async def test_corrupt_row_fails_its_session_clearly_and_spares_others(
    sut: StoreUnderTest,
    chat: RunnableWithMemory,
    arcee_server: ArceeTestServer,
    raw: str,
    mode: str,
) -> None:
    bad, good = unique("bad"), unique("good")
    await run_turn(chat, "first question", bad, mode)
    await run_turn(chat, "first question", good, mode)
    sut.write_raw(bad, raw)
    arcee_server.reset()
    with pytest.raises(CorruptMessageError, match=bad):
        await run_turn(chat, "next question", bad, mode)
    assert arcee_server.count("chat") == 0  # nothing sent for the corrupt session
    await run_turn(chat, "second question", good, mode)
    assert_whole(sut.store, good, ["first question", "second question"])


@pytest.mark.redis
@pytest.mark.parametrize("sut", [pytest.param("redis", marks=pytest.mark.redis)], indirect=True)
def test_redis_key_of_foreign_type_fails_its_session_clearly(
    sut: StoreUnderTest, chat: RunnableWithMemory
) -> None:
    assert isinstance(sut.store, RedisChatStore)
    bad = unique("bad")
    sut.store.client.set(sut.store.messages_key(bad), b"not a list")
    with pytest.raises(StoreError, match=bad):
        chat.invoke("hi", {"configurable": {"session_id": bad}})
