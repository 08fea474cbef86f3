"""What the turn protocol (lease + version check) costs per turn, as a ratio to 0.1.0's turn.

0.1.0 (commit ``c8354cb``, before the protocol) is extracted from this checkout's git history
into a temporary folder; the same measurement then runs alternately under 0.1.0 and under this
checkout, each in its own process (the two versions can't share one), against one loopback
server in its own process. A measurement is a real turn through the public API,
``RunnableWithMemory(ChatArcee(base_url=server), store).invoke(question, config)``, on a session
pre-filled with ``--stored`` messages, for each store. Per store the median turn time of each
run is printed, and the ratio current / 0.1.0 (median over ``--runs`` alternating pairs, with
the spread). Target (issue 8): <= 1.1x.

Run from the repo root: ``python -m benchmarks.lease_cost`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from benchmarks.common import REPO_ROOT, loopback_server_process
from benchmarks.stores import POSTGRES_URL, REDIS_URL, unavailable

BASELINE_COMMIT = "c8354cb"
TARGET = 1.1

# Runs in a child process with PYTHONPATH pointing at one version of the package.
MEASURE = r"""
import json, statistics, sys, time, uuid
from langchain_core.messages import AIMessage, HumanMessage
from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import store_from_url

base_url, url, stored, turns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
prefix = "lc" + uuid.uuid4().hex[:8]
kwargs = {}
if url.startswith("postgres"):
    kwargs["table_prefix"] = prefix
elif url.startswith("redis"):
    kwargs["key_prefix"] = prefix + ":"
store = store_from_url(url, **kwargs)
session = "bench"
history = []
for i in range(stored // 2):
    history += [HumanMessage(f"question {i} " * 8), AIMessage(f"answer {i} " * 12)]
store.append(session, history)
chat = RunnableWithMemory(
    ChatArcee(api_key="bench", base_url=base_url, max_retries=0),
    store,
    max_history_messages=stored,
)
config = {"configurable": {"session_id": session}}
chat.invoke("warm up", config)
times = []
for n in range(turns):
    started = time.perf_counter()
    chat.invoke(f"turn {n}", config)
    times.append(time.perf_counter() - started)
try:
    store.drop_tables()
except AttributeError:
    if url.startswith("redis"):
        keys = list(store.client.scan_iter(match=prefix + ":*"))
        if keys:
            store.client.delete(*keys)
store.close()
print(json.dumps(statistics.median(times)))
"""


def extract_baseline(target: Path) -> Path:
    """The 0.1.0 package, from git history, in ``target``."""
    archive = target / "baseline.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "archive", BASELINE_COMMIT, "langchain_arcee"],
            cwd=REPO_ROOT,
            stdout=out,
            check=True,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(target / "baseline", filter="data")
    return target / "baseline"


def measure(pythonpath: Path, base_url: str, url: str, stored: int, turns: int) -> float:
    """Median seconds per turn of one version, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, base_url, url, str(stored), str(turns)],
        env=env,
        cwd=pythonpath,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=40, help="turns per measurement")
    parser.add_argument("--runs", type=int, default=5, help="alternating pairs per store")
    parser.add_argument("--stores", default="sqlite,postgres,redis")
    parser.add_argument("--quick", action="store_true", help="smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.stored, args.turns, args.runs = 20, 3, 1
    with tempfile.TemporaryDirectory() as tmp, loopback_server_process() as server:
        baseline = extract_baseline(Path(tmp))
        urls = {
            "sqlite": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "postgres": POSTGRES_URL,
            "redis": REDIS_URL,
        }
        print(f"one turn at {args.stored} stored messages; {args.runs} alternating pairs")
        for name in [s for s in args.stores.split(",") if s]:
            reason = unavailable(name)
            if reason:
                print(f"{name:9} skipped: {reason}")
                continue
            ratios, old_ms, new_ms = [], [], []
            for run in range(args.runs):
                for label in ("old", "new") if run % 2 == 0 else ("new", "old"):
                    path = baseline if label == "old" else REPO_ROOT
                    if name == "sqlite":
                        Path(urls["sqlite"].removeprefix("sqlite:///")).unlink(missing_ok=True)
                    seconds = measure(path, server.url, urls[name], args.stored, args.turns)
                    (old_ms if label == "old" else new_ms).append(seconds * 1000)
                ratios.append(new_ms[-1] / old_ms[-1])
            median = statistics.median(ratios)
            print(
                f"{name:9} 0.1.0 {statistics.median(old_ms):6.2f} ms  now "
                f"{statistics.median(new_ms):6.2f} ms  now/0.1.0 {median:.2f}x "
                f"[{min(ratios):.2f}-{max(ratios):.2f}]  target <= {TARGET}x: {median <= TARGET}"
            )


if __name__ == "__main__":
    main()
