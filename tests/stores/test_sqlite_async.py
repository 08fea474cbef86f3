"""The SQLite store's async path: on the event loop when nothing waits, never blocking it.

``SQLiteChatStore`` runs an async unit of work on the loop's own connection (busy_timeout 0)
when SQLite grants its lock at once, and on a worker thread otherwise. These tests hold the
database's write lock from another OS process, run several event loops in threads at once,
and check that the loop's writes are still checkpointed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from langchain_arcee.stores import sqlite as sqlite_module
from langchain_arcee.stores.sqlite import SQLiteChatStore

HOLD_SECONDS = 1.0


def _hold_write_lock(path: Path) -> subprocess.Popen[str]:
    """Another process that takes the write lock, says so, and keeps it ``HOLD_SECONDS``."""
    code = textwrap.dedent(
        f"""
        import sqlite3, sys, time
        conn = sqlite3.connect({str(path)!r}, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO arcee_migrations (v) VALUES (1000)")
        print("locked", flush=True)
        time.sleep({HOLD_SECONDS})
        conn.execute("ROLLBACK")
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


async def test_a_write_waits_off_the_loop_while_another_process_holds_the_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "held.db"
    async with SQLiteChatStore(path) as store:
        for i in range(3):  # set up, open the loop's connection, then write on it
            await store.aappend("s", [HumanMessage(f"before {i}")])
        holder = _hold_write_lock(path)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        loop = asyncio.get_running_loop()
        started = loop.time()
        await store.aappend("s", [HumanMessage("while held")])
        waited = loop.time() - started
        ticking.cancel()
        holder.wait(10)
        assert waited > HOLD_SECONDS / 2  # it did wait for the other process...
        assert ticks > 10  # ...and the loop kept running meanwhile
        assert [m.content for m in await store.aload("s")][-1] == "while held"
        await store.aappend("s", [HumanMessage("after")])  # back on the loop's connection
        assert await store.acount("s") == 5


def test_event_loops_in_several_threads_share_one_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_EVERY", 7)  # checkpoints from every loop
    store = SQLiteChatStore(tmp_path / "threads.db")
    errors: list[BaseException] = []

    async def writes(worker: int) -> None:
        for i in range(40):
            await store.aappend("shared", [HumanMessage(f"w{worker}-{i}")])
            await store.aload("shared", last=3)

    def run(worker: int) -> None:
        try:
            asyncio.run(writes(worker))
            asyncio.run(writes(worker + 10))  # a second loop on the same thread
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    contents = [str(m.content) for m in store.load("shared")]
    assert len(contents) == len(set(contents)) == 4 * 2 * 40
    store.close()


async def _wal_after_loop_writes(path: Path, writes: int) -> int:
    async with SQLiteChatStore(path) as store:
        for i in range(writes):
            await store.aappend("s", [HumanMessage(f"{i}: " + "x" * 2000)])
        await asyncio.gather(*store._checkpoints)
        return path.with_name(path.name + "-wal").stat().st_size


async def test_writes_on_the_loop_are_checkpointed_off_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = 3 * sqlite_module.CHECKPOINT_EVERY
    checkpointed = await _wal_after_loop_writes(tmp_path / "checkpointed.db", writes)
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_EVERY", 10**9)
    never = await _wal_after_loop_writes(tmp_path / "never.db", writes)
    # Checkpointed, the WAL starts over and holds at most what one period wrote.
    assert checkpointed < never / 2, (checkpointed, never)


async def test_an_injected_engine_serves_the_async_api_on_its_own_connections(
    tmp_path: Path,
) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'injected.db'}")
    async with SQLiteChatStore(engine=engine) as store:
        for i in range(5):
            await store.aappend("s", [HumanMessage(f"m{i}")])
        assert [m.content for m in await store.aload("s", last=2)] == ["m3", "m4"]
        assert store._loop_connections == {}  # borrowed connections only: none of its own
    with engine.connect() as conn:  # the caller's engine still works
        assert conn.execute(text("SELECT count(*) FROM arcee_messages")).scalar() == 5
    engine.dispose()
