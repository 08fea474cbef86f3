"""SIGKILL during SQLite writes: a child process appends big turns; the parent kills it.

The child (``python -m tests.reliability.kill_writes <db> <run>``) appends turns of
``PARTS`` large messages through ``SQLiteChatStore`` in a loop and prints each turn's tag
once ``append`` returned. The parent kills it with SIGKILL at random moments, several times,
then checks the file: ``PRAGMA integrity_check`` is ok, every turn is whole (all its parts,
contiguous, in order) or absent, every turn the child reported committed is there, and the
session's message count matches its rows.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PARTS = 6
PART_CHARS = 40_000
SESSION = "killed-session"
TABLE_PREFIX = "kill"


def _turn(tag: str) -> list[object]:
    from langchain_core.messages import AIMessage, HumanMessage

    filler = (tag + " ") * (PART_CHARS // (len(tag) + 1))
    return [
        (HumanMessage if part % 2 == 0 else AIMessage)(f"{tag} part {part}/{PARTS} {filler}")
        for part in range(PARTS)
    ]


def child(path: str, run: str) -> None:
    """Append turns forever, reporting each committed one on stdout."""
    from langchain_arcee.stores.sqlite import SQLiteChatStore

    store = SQLiteChatStore(path, table_prefix=TABLE_PREFIX)
    for index in range(1_000_000):  # bounded; the parent kills it long before
        tag = f"{run}-{index}"
        store.append(SESSION, _turn(tag))  # type: ignore[arg-type]
        print(tag, flush=True)


@dataclass
class KillReport:
    """What a kill campaign did and found."""

    kills: int = 0
    reported: list[str] = field(default_factory=list)
    stored_turns: int = 0
    messages_checked: int = 0
    problems: list[str] = field(default_factory=list)


def kill_campaign(path: Path, kills: int, seed: int = 0) -> KillReport:
    """Start, and SIGKILL at random moments, ``kills`` writer processes; then verify the file."""
    rng = random.Random(seed)
    report = KillReport()
    root = Path(__file__).resolve().parents[2]
    for run in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.kill_writes", str(path), f"r{run}"],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        # Let it commit a few turns, then kill it at a random moment (likely mid-append).
        for _ in range(rng.randint(1, 3)):
            line = proc.stdout.readline().strip()
            if not line:
                break
            report.reported.append(line)
        time.sleep(rng.uniform(0, 0.02))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        report.reported.extend(x.strip() for x in proc.stdout.read().splitlines() if x.strip())
        proc.stdout.close()
        report.kills += 1
    verify(path, report)
    return report


def verify(path: Path, report: KillReport) -> None:
    """Check the database after the kills; problems go to ``report.problems``."""
    with sqlite3.connect(path) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            report.problems.append(f"integrity_check: {integrity}")
        counted = conn.execute(
            f"SELECT message_count FROM {TABLE_PREFIX}_sessions WHERE session_id = ?", (SESSION,)
        ).fetchone()
    from langchain_arcee.stores.sqlite import SQLiteChatStore

    store = SQLiteChatStore(path, table_prefix=TABLE_PREFIX)
    try:
        messages = store.load(SESSION)
    finally:
        store.close()
    report.messages_checked = len(messages)
    if counted is None or counted[0] != len(messages):
        report.problems.append(f"message_count {counted} != {len(messages)} rows")
    seen: list[str] = []
    for start in range(0, len(messages), PARTS):
        turn = [str(m.content) for m in messages[start : start + PARTS]]
        tag = turn[0].split(" ", 1)[0]
        expected = [str(m.content) for m in _turn(tag)]  # type: ignore[attr-defined]
        if turn != expected:
            report.problems.append(f"turn at message {start} ({tag}) is not whole")
            break
        seen.append(tag)
    if len(set(seen)) != len(seen):
        report.problems.append("a turn is stored twice")
    missing = [tag for tag in report.reported if tag not in set(seen)]
    if missing:
        report.problems.append(f"committed turns lost: {missing}")
    report.stored_turns = len(seen)


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2])
