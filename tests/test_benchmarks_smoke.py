"""The benchmark scripts run end to end in a tiny configuration and print their ratio lines.

Only that they complete and report is checked here, never the targets: timings on a shared CI
machine are too noisy to assert on. Run the full benchmarks by hand (see the README).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.loopback


def run_module(module: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, f"{module} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_model_overhead_runs() -> None:
    out = run_module("benchmarks.model_overhead", "--quick")
    assert "run 2/2: at 100 messages" in out
    assert "At 100 messages: ChatArcee/raw = " in out
    assert "ChatOpenAI/ChatArcee = " in out
    assert "ChatArcee/raw_orjson = " in out


def test_model_overhead_cpu_runs() -> None:
    out = run_module("benchmarks.model_overhead", "--cpu", "--quick")
    assert "Client CPU ms per call" in out
    assert "     100 async " in out
    assert "Encoding the request body alone" in out


def test_memory_overhead_runs(tmp_path: Path) -> None:
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    plot = tmp_path / "per_turn_time.png" if has_matplotlib else None
    out = run_module(
        "benchmarks.memory_overhead",
        *("--sizes", "10,1000,3000", "--repeat", "2", "--rounds", "2", "--rwmh-max", "1000"),
        *("--sessions", "3", "--turns", "4", "--plot", str(plot) if plot else ""),
        *("--json", str(tmp_path / "rows.json")),
    )
    for line in (
        "[1] memory: 3000 vs 10 stored = ",
        "[1] sqlite: 3000 vs 10 stored = ",
        "[1] memory: 3000 vs 1000 stored",
        "[1] sqlite: 3000 vs 1000 stored",
        "[2] at 1000 messages: memory/raw = ",
        "[2] at 1000 messages: sqlite/raw = ",
        "[3] at 1000 messages: RWMH+ChatOpenAI / memory adapter = ",
    ):
        assert line in out, out
    # Losing or misordering a message is a correctness failure, not noise: assert it.
    assert "[4] memory: 3 concurrent sessions x 4 turns" in out, out
    assert "[4] sqlite: 3 concurrent sessions x 4 turns" in out, out
    assert out.count("lost or misordered: 0 problems (PASS)") == 2, out
    assert (tmp_path / "rows.json").exists()
    if plot is not None:
        assert plot.stat().st_size > 0


def test_cli_startup_runs() -> None:
    out = run_module("benchmarks.cli_startup", "--repeat", "1")
    assert "[1] arcee-chat --help: " in out
    assert "[1] arcee-chat --bogus (argument error): " in out
    assert "[2] one-shot overhead beyond import langchain_openai: " in out
    assert "[3] the same with --store memory://" in out


def test_token_estimate_runs() -> None:
    out = run_module("benchmarks.token_estimate", "--repeat", "1", "--messages", "200")
    assert "approximate_token_count/count_tokens_approximately = " in out


def test_throughput_runs(tmp_path: Path) -> None:
    out = run_module(
        "benchmarks.throughput",
        "--quick",
        *("--candidates", "raw,raw_orjson,model,memory,sqlite", "--json", str(tmp_path / "t.json")),
    )
    for candidate in ("raw", "raw_orjson", "model", "memory", "sqlite"):
        assert f"   3 {candidate:>10} " in out, out
    assert "lost: 0 (PASS)" in out, out
    assert "sqlite: lowest ratio to raw-post turns/s over N = 1,3: " in out, out
    assert (tmp_path / "t.json").exists()


def test_per_turn_runs() -> None:
    out = run_module("benchmarks.per_turn", "--quick", "--stores", "memory,sqlite")
    assert "at 20 messages: memory/raw = " in out, out
    assert "at 20 messages: sqlite/raw = " in out, out
    assert "sqlite/raw_orjson = " in out, out


def test_vs_langgraph_runs(tmp_path: Path) -> None:
    if importlib.util.find_spec("langgraph.checkpoint.sqlite") is None:
        pytest.skip("needs the bench extra (langgraph-checkpoint-sqlite)")
    plot = tmp_path / "vs.png"
    out = run_module(
        "benchmarks.vs_langgraph",
        *("--quick", "--plot", str(plot) if has_matplotlib() else ""),
    )
    assert "same history sent by langgraph-sqlite, adapter-sqlite over 3 turns" in out, out
    assert ": yes" in out, out
    assert "sqlite: LangGraph " in out and "x fewer bytes" in out, out
    if has_matplotlib():
        assert plot.stat().st_size > 0


def has_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def test_window_fill_runs() -> None:
    out = run_module("benchmarks.window_fill", "--quick")
    assert "chinese  defaults (script-aware + calibrated)" in out
    assert "goal (defaults: 0 failed turns, > 80% of the window used on average): " in out


def test_lease_cost_runs() -> None:
    out = run_module("benchmarks.lease_cost", "--quick", "--stores", "sqlite")
    assert "sqlite    0.1.0 " in out and "now/0.1.0 " in out


def test_copy_on_read_runs() -> None:
    out = run_module("benchmarks.copy_on_read", "--messages", "50", "--repeat", "3")
    assert "memory  load (copies)" in out and "sqlite  load (copies)" in out


def test_turn_parts_runs() -> None:
    out = run_module("benchmarks.turn_parts", "--quick")
    for line in ("sqlite, caches on", "sqlite, caches off (cache_bytes=0)", "N = 50", "collector"):
        assert line in out, out
