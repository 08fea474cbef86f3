"""How fast ``arcee-chat`` starts: ``--help``, an argument error, and a one-shot question.

Each case is a fresh process (as a user runs it), timed from spawn to exit; cases are
interleaved round by round so machine load hits them alike, and medians are reported.

* ``--help`` and an argument error must not import openai, LangChain or langsmith:
  target < 0.3 s each.
* A one-shot ``-m`` (against the loopback Arcee-format server, SQLite store in a temp dir)
  necessarily imports ``langchain_openai`` (ChatArcee is built on it); its overhead beyond a
  bare ``import langchain_openai`` is the CLI's own cost: target < 0.2 s.

Usage: ``python -m benchmarks.cli_startup [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO_ROOT, loopback_server

HELP_TARGET_S = 0.3
ONE_SHOT_OVERHEAD_TARGET_S = 0.2


def _timed(cmd: list[str], env: dict[str, str], expect: int) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != expect:
        raise RuntimeError(f"{cmd} exited {result.returncode}: {result.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds (median reported)")
    args = parser.parse_args(argv)

    py = sys.executable
    with tempfile.TemporaryDirectory() as home, loopback_server() as url:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ARCEE", "OPENAI"))},
            "ARCEE_API_KEY": "test",
            "ARCEE_CHAT_HOME": home,
        }
        store = str(Path(home) / "bench.db")
        fresh = str(Path(home) / "fresh.db")
        cases: dict[str, tuple[list[str], int]] = {
            "python -c pass": ([py, "-c", "pass"], 0),
            "arcee-chat --help": ([py, "-m", "langchain_arcee", "--help"], 0),
            "arcee-chat --bogus (argument error)": ([py, "-m", "langchain_arcee", "--bogus"], 2),
            "import langchain_openai": ([py, "-c", "import langchain_openai"], 0),
            "arcee-chat -m (one-shot)": (
                [py, "-m", "langchain_arcee", "-m", "hi", "--base-url", url, "--store", store],
                0,
            ),
            # A first run: the database file does not exist yet (the tables are created).
            "arcee-chat -m (one-shot, new database)": (
                [py, "-m", "langchain_arcee", "-m", "hi", "--base-url", url, "--store", fresh],
                0,
            ),
            # The same without the SQLite store: what the store costs the one-shot.
            "arcee-chat -m --store memory://": (
                [
                    py,
                    "-m",
                    "langchain_arcee",
                    "-m",
                    "hi",
                    "--base-url",
                    url,
                    "--store",
                    "memory://",
                ],
                0,
            ),
            "import langchain_openai + the SQLite store": (
                [py, "-c", "import langchain_openai, langchain_arcee.stores.sqlite"],
                0,
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for cmd, code in cases.values():  # warm the OS caches once
            _timed(cmd, env, code)
        for _ in range(args.repeat):
            for name, (cmd, code) in cases.items():
                for leftover in Path(home).glob("fresh.db*"):
                    leftover.unlink()
                samples[name].append(_timed(cmd, env, code))

    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"Medians of {args.repeat} interleaved rounds (fresh process each):")
    for name, value in median.items():
        print(f"  {name:<38} {value * 1000:8.1f} ms")
    floor = median["python -c pass"]
    openai_import = median["import langchain_openai"]
    for name in ("arcee-chat --help", "arcee-chat --bogus (argument error)"):
        value = median[name]
        verdict = "PASS" if value < HELP_TARGET_S else "FAIL"
        print(
            f"[1] {name}: {value:.3f} s (target < {HELP_TARGET_S} s: {verdict}); "
            f"{value - floor:.3f} s above bare python; "
            f"import langchain_openai / this = {openai_import / value:.1f}x"
        )
    for name, what in (
        ("arcee-chat -m (one-shot)", "one-shot overhead beyond import langchain_openai"),
        ("arcee-chat -m (one-shot, new database)", "the same on a new database (tables created)"),
    ):
        overhead = median[name] - openai_import
        verdict = "PASS" if overhead < ONE_SHOT_OVERHEAD_TARGET_S else "FAIL"
        print(
            f"[2] {what}: {overhead:.3f} s (target < {ONE_SHOT_OVERHEAD_TARGET_S} s: {verdict}); "
            f"one-shot / import langchain_openai = {median[name] / openai_import:.2f}x"
        )
    memory_overhead = median["arcee-chat -m --store memory://"] - openai_import
    store_cost = median["import langchain_openai + the SQLite store"] - openai_import
    print(
        f"[3] the same with --store memory://: {memory_overhead:.3f} s; "
        f"importing the SQLite store adds {store_cost:.3f} s"
    )


if __name__ == "__main__":
    main()
