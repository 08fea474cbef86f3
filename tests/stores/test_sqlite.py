"""SQLite-specific behaviour: several OS processes sharing one database file."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from sqlalchemy import create_engine

from langchain_arcee.stores.sqlite import SQLiteChatStore

WORKERS = 3
TURNS = 60
SIZE = 4


def _writer(path: str, worker: int, start: multiprocessing.synchronize.Event) -> None:
    store = SQLiteChatStore(path)
    start.wait(30)
    for t in range(TURNS):
        store.append("shared", [HumanMessage(f"p{worker}t{t}/{k}") for k in range(SIZE)])
        store.append(f"own-{worker}", [HumanMessage(f"{t}")])
    store.close()


def test_two_processes_append_to_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    SQLiteChatStore(path).create_schema()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(path, w, start)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0

    store = SQLiteChatStore(path)
    contents = [str(m.content) for m in store.load("shared")]
    assert len(contents) == WORKERS * TURNS * SIZE
    seen = set()
    for i in range(0, len(contents), SIZE):
        tag = contents[i].split("/")[0]
        assert contents[i : i + SIZE] == [f"{tag}/{k}" for k in range(SIZE)]
        seen.add(tag)
    assert seen == {f"p{w}t{t}" for w in range(WORKERS) for t in range(TURNS)}
    # Each process's own turns are in its order.
    for w in range(WORKERS):
        assert [m.content for m in store.load(f"own-{w}")] == [str(t) for t in range(TURNS)]
    assert store.count("shared") == WORKERS * TURNS * SIZE
    store.close()


def test_schema_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    store = SQLiteChatStore(f"sqlite:///{path}", table_prefix="chat")
    store.append("s", [HumanMessage("x")])
    conn = store._open_connection()  # a connection as the store configures them
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    conn.close()
    store.close()
    raw = sqlite3.connect(path)
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    sql = raw.execute("SELECT sql FROM sqlite_master WHERE name='chat_messages'").fetchone()[0]
    raw.close()
    assert {"chat_sessions", "chat_messages"} <= tables
    assert "chat_messages_session_idx" in indexes
    assert "AUTOINCREMENT" in sql


def test_injected_engine_is_not_disposed(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'i.db'}")
    store = SQLiteChatStore(tmp_path / "ignored.db", engine=engine)
    store.append("s", [HumanMessage("x")])
    store.close()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM arcee_messages").scalar() == 1
    engine.dispose()


def test_rejects_in_memory_and_bad_prefix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="InMemoryChatStore"):
        SQLiteChatStore(":memory:")
    with pytest.raises(ValueError, match="table_prefix"):
        SQLiteChatStore(tmp_path / "x.db", table_prefix="x; DROP TABLE y")


def test_failed_write_raises_store_error_and_stores_nothing(tmp_path: Path) -> None:
    from langchain_arcee.stores import StoreError

    store = SQLiteChatStore(tmp_path / "f.db")
    store.append("s", [HumanMessage("kept")])
    # Make the messages insert fail inside the transaction, after the session upsert.
    with sqlite3.connect(tmp_path / "f.db") as conn:
        conn.execute(
            "CREATE TRIGGER no_boom BEFORE INSERT ON arcee_messages "
            "WHEN NEW.data LIKE '%boom%' BEGIN SELECT RAISE(ABORT, 'boom rejected'); END"
        )
    conn.close()
    with pytest.raises(StoreError, match="'s'") as info:
        store.append("s", [HumanMessage("fine"), HumanMessage("boom")])
    assert info.value.__cause__ is not None
    assert [m.content for m in store.load("s")] == ["kept"]
    assert store.count("s") == 1
    store.close()


def test_context_manager_closes_what_it_opened_and_leaves_injected_engines_open(
    tmp_path: Path,
) -> None:
    from langchain_core.messages import HumanMessage
    from sqlalchemy import create_engine, text

    with SQLiteChatStore(tmp_path / "own.db") as store:
        store.append("s", [HumanMessage("hi")])
        assert store._connections._idle
    assert not store._connections._idle  # closed on leaving

    engine = create_engine(f"sqlite:///{tmp_path / 'injected.db'}")
    with SQLiteChatStore(engine=engine) as injected:  # no path needed with an engine
        injected.append("s", [HumanMessage("hi")])
        assert injected.path == str(tmp_path / "injected.db")
    with engine.connect() as conn:  # still usable: the caller owns it
        assert conn.execute(text("SELECT count(*) FROM arcee_messages")).scalar() == 1
    engine.dispose()


async def test_async_context_manager(tmp_path: Path) -> None:
    from langchain_core.messages import HumanMessage

    async with SQLiteChatStore(tmp_path / "a.db") as store:
        await store.aappend("s", [HumanMessage("hi")])
        assert [m.content for m in await store.aload("s")] == ["hi"]
    assert not store._connections._idle
