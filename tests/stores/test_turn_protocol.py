"""The turn protocol (lease + version) and the running summary's store API, on every store.

Each test runs on the in-memory store, a SQLite file, PostgreSQL and Redis, through the sync
and the async API.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_arcee.stores import ConcurrentTurnError, SessionBusyError
from langchain_arcee.stores.base import ChatStore, SessionSummary
from tests.event_loops import live_event_loops
from tests.stores.conftest import Backend


def sid() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


async def call(store: ChatStore, mode: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """``store.<name>`` (sync) or ``store.a<name>`` (async)."""
    if mode == "async":
        return await getattr(store, f"a{name}")(*args, **kwargs)
    return getattr(store, name)(*args, **kwargs)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_lease_excludes_other_turns_and_commit_releases_it(
    backend: Backend, mode: str
) -> None:
    store, session = backend.store, sid()
    start = await call(store, mode, "begin_turn", session, last=10)
    assert start.messages == [] and start.total == 0
    with pytest.raises(SessionBusyError, match=session):
        await call(store, mode, "begin_turn", session, lock_timeout=0.05)
    other = backend.make()  # another store object over the same storage: the same lease
    with pytest.raises(SessionBusyError):
        await call(other, mode, "begin_turn", session, lock_timeout=0.05)
    await call(store, mode, "commit_turn", start.lease, [HumanMessage("q"), AIMessage("a")])
    again = await call(other, mode, "begin_turn", session, last=10, lock_timeout=1)
    assert [m.content for m in again.messages] == ["q", "a"]
    assert again.lease.version > start.lease.version
    await call(other, mode, "release_turn", again.lease)
    await call(store, mode, "release_turn", again.lease)  # releasing twice is harmless


async def test_commit_from_a_stale_version_is_refused_and_stores_nothing(
    backend: Backend, mode: str
) -> None:
    store, session = backend.store, sid()
    store.append(session, [HumanMessage("first")])
    stale = await call(store, mode, "begin_turn", session, lease_seconds=0.2)
    time.sleep(0.3)  # the lease expires; another instance takes the session and commits
    fresh = await call(backend.make(), mode, "begin_turn", session, lock_timeout=1)
    await call(store, mode, "commit_turn", fresh.lease, [HumanMessage("winner")])
    with pytest.raises(ConcurrentTurnError) as info:
        await call(store, mode, "commit_turn", stale.lease, [HumanMessage("loser")])
    assert [m.content for m in info.value.messages] == ["loser"]
    assert [m.content for m in store.load(session)] == ["first", "winner"]


@pytest.mark.parametrize("change", ["clear", "delete", "append"])
async def test_clear_delete_or_append_during_a_turn_refuse_its_commit(
    backend: Backend, mode: str, change: str
) -> None:
    store, session = backend.store, sid()
    store.append(session, [HumanMessage("before")])
    start = await call(store, mode, "begin_turn", session)
    if change == "append":
        await call(store, mode, "append", session, [HumanMessage("by another client")])
    else:
        await call(store, mode, change, session)
    with pytest.raises(ConcurrentTurnError):
        await call(store, mode, "commit_turn", start.lease, [HumanMessage("late")])
    contents = [m.content for m in store.load(session)]
    assert "late" not in contents
    if change != "append":
        assert contents == []  # a deleted session does not come back
        assert session not in {i.session_id for i in store.list_sessions()}


@pytest.mark.parametrize("change", ["clear", "delete"])
async def test_a_clear_during_a_turn_leaves_the_turns_lease_in_place(
    backend: Backend, mode: str, change: str
) -> None:
    # The clear refuses the turn in flight at its commit; until then that turn still holds the
    # session, so another instance's turn waits instead of running beside it (Redis deleted
    # the lease key with the list).
    store, session = backend.store, sid()
    other = store if backend.name == "memory" else backend.make()
    store.append(session, [HumanMessage("before")])
    start = await call(store, mode, "begin_turn", session)
    await call(store, mode, change, session)
    assert other.try_begin_turn(session, "another", last=10, lease_seconds=30) is None
    await call(store, mode, "release_turn", start.lease)
    assert other.try_begin_turn(session, "another", last=10, lease_seconds=30) is not None


async def test_commit_retried_after_a_lost_reply_is_stored_once(
    backend: Backend, mode: str
) -> None:
    store, session = backend.store, sid()
    start = await call(store, mode, "begin_turn", session)
    turn = [HumanMessage("q"), AIMessage("a")]
    await call(store, mode, "commit_turn", start.lease, turn)
    await call(store, mode, "commit_turn", start.lease, turn)  # same token: already stored
    assert [m.content for m in store.load(session)] == ["q", "a"]


async def test_renew_keeps_the_lease_and_fails_once_lost(backend: Backend, mode: str) -> None:
    store, session = backend.store, sid()
    start = await call(store, mode, "begin_turn", session, lease_seconds=0.3)
    assert await call(store, mode, "renew_turn", start.lease)
    await call(store, mode, "release_turn", start.lease)
    assert not await call(store, mode, "renew_turn", start.lease)


def test_one_store_serves_successive_event_loops(backend: Backend) -> None:
    store, session = backend.store, sid()

    async def turn(text: str) -> list[str]:
        start = await store.abegin_turn(session, lock_timeout=1)
        await store.acommit_turn(start.lease, [HumanMessage(text)])
        return [str(m.content) for m in await store.aload(session)]

    assert asyncio.run(turn("one")) == ["one"]
    assert asyncio.run(turn("two")) == ["one", "two"]  # no "Event loop is closed"
    assert asyncio.run(turn("three")) == ["one", "two", "three"]


def test_successive_event_loops_leave_no_loop_behind(backend: Backend) -> None:
    """A long-lived store used from many ``asyncio.run()`` calls keeps no closed loop alive.

    Per-loop clients kept in a ``WeakKeyDictionary`` never let their loop go: a pooled
    connection's transport (or a semaphore a task once waited on) references it.
    """
    import warnings

    store, session = backend.store, sid()

    async def turn(text: str) -> None:
        start = await store.abegin_turn(session, lock_timeout=1)
        await store.acommit_turn(start.lease, [HumanMessage(text)])

    before = live_event_loops()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # connections of closed loops
        for index in range(10):
            asyncio.run(turn(f"turn {index}"))
        assert live_event_loops() - before <= 1  # at most the last loop, until a new one arrives
    assert store.count(session) == 10


async def test_loaded_messages_are_copies(backend: Backend, mode: str) -> None:
    store, session = backend.store, sid()
    store.append(session, [AIMessage("stored", additional_kwargs={"k": "v"})])
    loaded = await call(store, mode, "load", session)
    loaded[0].content = "mutated"
    loaded[0].additional_kwargs["k"] = "mutated"
    again = (await call(store, mode, "load", session))[0]
    assert (again.content, again.additional_kwargs) == ("stored", {"k": "v"})
    start = await call(store, mode, "begin_turn", session)
    assert start.messages[0].content == "stored"
    await call(store, mode, "release_turn", start.lease)


async def test_summary_compare_and_set_and_cleared_with_the_session(
    backend: Backend, mode: str
) -> None:
    store, session = backend.store, sid()
    first = SessionSummary("Bob likes tea.", 4)
    assert await call(store, mode, "save_summary", session, first, expected_covers=None) is False
    store.append(session, [HumanMessage(str(i)) for i in range(6)])
    assert await call(store, mode, "load_summary", session) is None
    assert await call(store, mode, "save_summary", session, first, expected_covers=None)
    stored = await call(store, mode, "load_summary", session)
    assert (stored.text, stored.covers) == ("Bob likes tea.", 4)
    assert stored.updated_at is not None
    competing = SessionSummary("a competing summary", 4)
    assert not await call(store, mode, "save_summary", session, competing, expected_covers=None)
    newer = SessionSummary("Bob likes tea and lives in Paris.", 6)
    assert await call(store, mode, "save_summary", session, newer, expected_covers=4)
    assert (await call(store, mode, "load_summary", session)).covers == 6
    assert [m.content for m in store.load(session)] == [str(i) for i in range(6)]  # untouched
    await call(store, mode, "clear", session)
    assert await call(store, mode, "load_summary", session) is None


async def test_an_expired_session_starts_afresh_without_its_old_summary(
    backend: Backend, mode: str
) -> None:
    store, session = backend.make(ttl=0.4), sid()
    store.append(session, [HumanMessage("old 1"), AIMessage("old 2")])
    assert store.save_summary(
        session, SessionSummary("about the old talk", 2), expected_covers=None
    )
    time.sleep(0.6)  # the session expires
    start = await call(store, mode, "begin_turn", session)
    assert start.messages == [] and start.total == 0
    await call(store, mode, "commit_turn", start.lease, [HumanMessage("new")])
    assert [m.content for m in store.load(session)] == ["new"]
    assert await call(store, mode, "load_summary", session) is None
