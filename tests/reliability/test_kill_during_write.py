"""A process SIGKILLed during SQLite writes leaves every turn whole or absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.kill_writes import PARTS, kill_campaign

KILLS = int(os.environ.get("ARCEE_KILL_RUNS", "4"))


@pytest.mark.timeout(120)
def test_sigkill_during_sqlite_appends_keeps_every_turn_whole_or_absent(tmp_path: Path) -> None:
    report = kill_campaign(tmp_path / "killed.db", kills=KILLS, seed=1234)
    assert report.problems == []
    assert report.kills == KILLS
    assert report.stored_turns >= len(report.reported) >= KILLS
    assert report.messages_checked == report.stored_turns * PARTS
