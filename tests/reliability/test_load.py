"""Load: concurrent sessions and concurrent turns on one session, threads and asyncio, every
store, ChatArcee over the loopback server; and a soak checking memory and order."""

from __future__ import annotations

import os

import pytest

from langchain_arcee.memory import RunnableWithMemory
from tests.arcee_server import ArceeTestServer
from tests.reliability.load import check_load, plan, run_tasks, run_threads, soak
from tests.reliability.support import StoreUnderTest, unique

pytestmark = pytest.mark.loopback

SHAPES = {
    "many-sessions": (16, 6),  # sessions, turns each
    "one-session": (1, 32),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_concurrent_turns_on_threads_lose_nothing(
    sut: StoreUnderTest, chat: RunnableWithMemory, arcee_server: ArceeTestServer, shape: str
) -> None:
    sessions, turns = SHAPES[shape]
    work = plan([unique("s") for _ in range(sessions)], turns)
    run_threads(chat, work)
    report = check_load(sut.store, work, arcee_server.chat_requests)
    assert report.problems == []
    assert report.messages_checked == 2 * len(work)


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_concurrent_turns_on_asyncio_lose_nothing(
    sut: StoreUnderTest, chat: RunnableWithMemory, arcee_server: ArceeTestServer, shape: str
) -> None:
    sessions, turns = SHAPES[shape]
    work = plan([unique("s") for _ in range(sessions)], turns)
    await run_tasks(chat, work)
    report = check_load(sut.store, work, arcee_server.chat_requests)
    assert report.problems == []
    assert report.messages_checked == 2 * len(work)


def assert_soak_ok(turns: int) -> None:
    report = soak(turns)
    assert report.problems == []
    assert report.messages_checked == 2 * turns
    # Memory grows by the stored conversation, not more (bounded per-message caches aside).
    assert report.growth <= 1.5 * report.data + 512 * 1024, (report.growth, report.data)


def test_soak_memory_tracks_stored_data_and_keeps_order() -> None:
    assert_soak_ok(1_500)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ARCEE_SOAK_TURNS"), reason="set ARCEE_SOAK_TURNS")
def test_long_soak() -> None:
    assert_soak_ok(int(os.environ["ARCEE_SOAK_TURNS"]))
