"""Run a multi-process campaign: spawn workers, SIGKILL some, then check what was stored.

Used by the tests in this folder (and meant for ``benchmarks/reliability_report.py``)::

    with ArceeTestServer(responder=responder, delay=0.01) as server:
        result = run_campaign(url, {"table_prefix": "mp1"}, server.base_url, plan, tmp_path)
    assert result.report.ok, result.report.summary()

Workers are real OS processes (``python -m tests.multiprocess.worker``), each with its own
store object(s) built by ``store_from_url``. The loopback server runs wherever the caller
runs it (reachable on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_arcee.stores import store_from_url
from tests.multiprocess.checker import Report, check, read_journals

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class WorkerSpec:
    """How one worker behaves.

    Attributes:
        mode: ``"sync"`` (invoke), ``"stream"`` or ``"async"`` (``asyncio.run`` per turn).
        store_per_turn: Build a new store object for every turn (as a web app per request).
        tool_rate: Share of actions that are a tool call answered in a later turn.
        clear_rate: Share of actions that clear a session.
        delete_rate: Share of actions that delete a session.
        killable: May be SIGKILLed (workers with tool groups are not: a group cut by a kill
            is legitimately left incomplete, which (a) would report).
    """

    mode: str = "sync"
    store_per_turn: bool = False
    tool_rate: float = 0.0
    clear_rate: float = 0.0
    delete_rate: float = 0.0
    killable: bool = False


@dataclass(frozen=True)
class Plan:
    """A campaign.

    Attributes:
        sessions: The shared session ids.
        workers: One spec per worker process.
        actions: Actions (turns, tool groups, clears, deletes) per worker.
        pause: Max random pause between a worker's actions (seconds).
        kills: How many killable workers are SIGKILLed, each at a random moment.
        seed: Seeds the workers' and the kills' randomness.
        lock_timeout: ``RunnableWithMemory(lock_timeout=...)``.
        lease_seconds: ``RunnableWithMemory(lease_seconds=...)``.
        deadline: Seconds the whole campaign may take before it is aborted.
    """

    sessions: tuple[str, ...]
    workers: tuple[WorkerSpec, ...]
    actions: int = 20
    pause: float = 0.01
    kills: int = 0
    seed: int = 0
    lock_timeout: float = 20.0
    lease_seconds: float = 2.0
    deadline: float = 120.0


@dataclass
class CampaignResult:
    """The verdict plus what it was computed from."""

    report: Report
    sessions: dict[str, list[BaseMessage]]
    events: list[dict[str, Any]]
    killed: list[str] = field(default_factory=list)


def _worker_argv(
    index: int,
    spec: WorkerSpec,
    plan: Plan,
    store_url: str,
    store_kwargs: dict[str, Any],
    base_url: str,
    journal: Path,
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "tests.multiprocess.worker",
        f"--store-url={store_url}",
        f"--store-kwargs={json.dumps(store_kwargs)}",
        f"--base-url={base_url}",
        f"--journal={journal}",
        f"--worker=w{index}",
        f"--sessions={','.join(plan.sessions)}",
        # Killable workers get more to do, so they are still running when their kill comes.
        f"--turns={plan.actions * (4 if spec.killable else 1)}",
        f"--seed={plan.seed * 1000 + index}",
        f"--mode={spec.mode}",
        f"--tool-rate={spec.tool_rate}",
        f"--clear-rate={spec.clear_rate}",
        f"--delete-rate={spec.delete_rate}",
        f"--pause={plan.pause}",
        f"--lock-timeout={plan.lock_timeout}",
        f"--lease-seconds={plan.lease_seconds}",
    ]
    if spec.store_per_turn:
        argv.append("--store-per-turn")
    return argv


def _started(journal: Path) -> bool:
    return journal.exists() and b'"event": "start"' in journal.read_bytes()


def run_campaign(
    store_url: str,
    store_kwargs: dict[str, Any],
    base_url: str,
    plan: Plan,
    workdir: Path,
) -> CampaignResult:
    """Run ``plan``'s workers against one storage, then check every session.

    Args:
        store_url: What every worker passes to ``store_from_url``.
        store_kwargs: Keyword arguments for ``store_from_url`` (the test's unique prefix).
        base_url: The loopback server's API base URL.
        plan: The campaign.
        workdir: Where journals and worker logs go.

    Returns:
        The checker's report over every session of the plan.

    Raises:
        AssertionError: If a worker that was not killed crashed, or the deadline passed.
    """
    rng = random.Random(plan.seed)
    workdir.mkdir(parents=True, exist_ok=True)
    journals = [workdir / f"w{i}.jsonl" for i in range(len(plan.workers))]
    logs = [workdir / f"w{i}.log" for i in range(len(plan.workers))]
    procs = []
    for i, spec in enumerate(plan.workers):
        argv = _worker_argv(i, spec, plan, store_url, store_kwargs, base_url, journals[i])
        with logs[i].open("wb") as log:
            procs.append(subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + plan.deadline
    killed: list[str] = []
    parent_journal = workdir / "campaign.jsonl"
    victims = [i for i, spec in enumerate(plan.workers) if spec.killable]
    try:
        for i in rng.sample(victims, min(plan.kills, len(victims))):
            while not _started(journals[i]) and procs[i].poll() is None:
                if time.monotonic() > deadline:
                    raise AssertionError("campaign deadline passed waiting for a worker")
                time.sleep(0.02)
            time.sleep(rng.uniform(0.1, 1.5))
            if procs[i].poll() is None:
                os.kill(procs[i].pid, signal.SIGKILL)
                procs[i].wait()
                event = {"event": "killed", "worker": f"w{i}", "t": time.monotonic()}
                with parent_journal.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(event) + "\n")
                killed.append(f"w{i}")
        for i, proc in enumerate(procs):
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            if f"w{i}" not in killed and proc.returncode != 0:
                tail = logs[i].read_text(errors="replace")[-3000:]
                raise AssertionError(f"worker w{i} exited with {proc.returncode}:\n{tail}")
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"campaign did not finish within {plan.deadline} s") from exc
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    events = read_journals([*journals, parent_journal] if killed else journals)
    sessions, listing = _load_all(store_url, store_kwargs, plan.sessions)
    report = check(sessions, events)
    for problem in listing:
        report.listing_mismatches += 1
        report.problem(problem)
    return CampaignResult(report, sessions, events, killed)


def _load_all(
    store_url: str, store_kwargs: dict[str, Any], session_ids: tuple[str, ...]
) -> tuple[dict[str, list[BaseMessage]], list[str]]:
    """Every session of the plan, and where ``list_sessions``/``count`` disagree with it."""
    store = store_from_url(store_url, **store_kwargs)
    try:
        sessions = {s: store.load(s) for s in session_ids}
        listed = {info.session_id: info.message_count for info in store.list_sessions()}
        counts = {s: store.count(s) for s in session_ids}
    finally:
        store.close()
    problems = []
    for session, messages in sessions.items():
        if counts[session] != len(messages):
            problems.append(f"count({session}) = {counts[session]}, load has {len(messages)}")
        if messages and listed.get(session) != len(messages):
            problems.append(f"list_sessions says {session}: {listed.get(session)}")
    problems.extend(f"list_sessions has unknown {s}" for s in set(listed) - set(session_ids))
    return sessions, problems
