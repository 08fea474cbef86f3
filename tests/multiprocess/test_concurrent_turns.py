"""Issue 8: app instances in separate OS processes share sessions on one store.

Each test runs a campaign (see :mod:`tests.multiprocess.campaign`): worker processes, each with
its own store object(s), run plain turns, tool calls answered in a later turn, and clears and
deletes on three shared sessions, in sync, streamed and async (``asyncio.run`` per turn) mode;
some workers build a store per turn, some are SIGKILLed mid-run. The checker then proves, for
every stored session, that it is a valid request, that every reply was computed from exactly
the stored history before it (no lost update), and that every turn a worker saw succeed is
stored exactly once unless a clear/delete may have followed it.

On 0.1.0 (turns serialized per store object only) these fail: replies computed from a history
missing another instance's turn, tool groups split by another instance's turn, and Redis
stores broken by a second event loop.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.arcee_server import ArceeTestServer
from tests.multiprocess.campaign import Plan, WorkerSpec, run_campaign
from tests.multiprocess.conftest import SharedStorage

pytestmark = pytest.mark.loopback

SESSIONS = ("s0", "s1", "s2")
WORKERS = (
    WorkerSpec(mode="sync"),
    WorkerSpec(mode="stream", store_per_turn=True),
    WorkerSpec(mode="async", store_per_turn=True, tool_rate=0.3),
    WorkerSpec(mode="sync", tool_rate=0.3),
    WorkerSpec(mode="async", clear_rate=0.06, delete_rate=0.04, killable=True),
    WorkerSpec(mode="sync", store_per_turn=True, clear_rate=0.04, delete_rate=0.04, killable=True),
)


def _assert_campaign(
    storage: SharedStorage, server: ArceeTestServer, plan: Plan, tmp: Path
) -> None:
    result = run_campaign(storage.url, storage.kwargs, server.base_url, plan, tmp / "campaign")
    report = result.report
    if not report.ok:
        pytest.fail(f"{storage.kind}: {report.summary()}", pytrace=False)
    # The campaign was a real one: most actions ran as turns, and the kills happened.
    assert report.turns_run >= len(plan.workers) * plan.actions // 2, report.summary()
    assert len(result.killed) == plan.kills
    starts = [e for e in result.events if e["event"] == "start"]
    assert len(starts) == len(plan.workers)
    assert all(e["protocol"] for e in starts), "RunnableWithMemory lacks lock_timeout/lease_seconds"


def test_turn_pairs_from_many_processes(
    shared_storage: SharedStorage, fingerprint_server: ArceeTestServer, tmp_path: Path
) -> None:
    plan = Plan(sessions=SESSIONS, workers=WORKERS, actions=30, kills=2, seed=8)
    _assert_campaign(shared_storage, fingerprint_server, plan, tmp_path)


@pytest.mark.slow
def test_turn_pairs_from_many_processes_long(
    shared_storage: SharedStorage, fingerprint_server: ArceeTestServer, tmp_path: Path
) -> None:
    workers = (*WORKERS, WorkerSpec(mode="stream", tool_rate=0.2), WorkerSpec(mode="async"))
    plan = Plan(sessions=SESSIONS, workers=workers, actions=80, kills=2, seed=88, deadline=240)
    _assert_campaign(shared_storage, fingerprint_server, plan, tmp_path)
