"""This package's memory against LangChain 1.x's own answer: time per turn and bytes stored.

LangChain 1.x deprecates ``RunnableWithMessageHistory`` and points to LangGraph persistence:
``langchain.agents.create_agent(model, tools=[], checkpointer=...)``. This script runs one long
conversation through each of:

* ``langgraph-sqlite``: ``create_agent(ChatArcee(...), tools=[], checkpointer=SqliteSaver)``;
* ``adapter-sqlite``: ``ChatArcee(...).with_memory(SQLiteChatStore)``;
* ``langgraph-postgres``: the agent with ``PostgresSaver`` (its own schema, dropped afterwards);
* ``adapter-postgres``: ``ChatArcee(...).with_memory(PostgresChatStore)`` (unique table prefix);

the same model against the loopback Arcee-format server in its own process, turn by turn in
round robin (turn ``i`` of every candidate, then turn ``i + 1``), so drift hits all alike. Before
timing, a few turns of each run against a recording in-process server and the ``messages`` each
sends are compared: both must send the same history (the check is printed).

Printed and plotted (``--plot``, matplotlib): wall time per turn (median per bucket of turns)
and bytes stored (SQLite: the database file plus its WAL; PostgreSQL: ``pg_total_relation_size``
of the candidate's tables) as the conversation grows, and at the end the speed ratio
(LangGraph time / adapter time over the last bucket) and the bytes ratio.

Run from the repo root: ``python -m benchmarks.vs_langgraph`` (``--turns 1000`` for the full
1,000-turn conversation: LangGraph then writes gigabytes; ``--quick`` for a smoke run). Needs the
``bench`` extra (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import HumanMessage

from benchmarks.common import REPO_ROOT, loopback_server
from benchmarks.stores import POSTGRES_URL, open_store, postgres_bytes, unavailable
from langchain_arcee import ChatArcee
from tests.arcee_server import ArceeTestServer

KEY = "bench-key"
DEFAULT_PLOT = REPO_ROOT / "benchmarks" / "vs_langgraph.png"


@dataclass
class Candidate:
    name: str
    turn: Callable[[str], object]
    size: Callable[[], int]
    times_ms: list[float] = field(default_factory=list)
    bytes_at: dict[int, int] = field(default_factory=dict)


def question(index: int) -> str:
    return f"Question {index}: how does part {index} of the system work, and why?"


def file_bytes(path: Path) -> int:
    """Size of a SQLite database once its WAL (if any) is checkpointed into the file."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextlib.contextmanager
def langgraph_sqlite(model: ChatArcee, tmp: Path) -> Iterator[Candidate]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = tmp / "langgraph.db"
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        agent = create_agent(model, tools=[], checkpointer=SqliteSaver(conn))
        yield _agent_candidate("langgraph-sqlite", agent, lambda: file_bytes(path))
    finally:
        conn.close()


@contextlib.contextmanager
def langgraph_postgres(model: ChatArcee) -> Iterator[Candidate]:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    schema = f"bench_lg_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    conn = psycopg.connect(
        _libpq(POSTGRES_URL),
        autocommit=True,
        prepare_threshold=0,
        row_factory=dict_row,
        options=f"-c search_path={schema}",
    )
    try:
        saver = PostgresSaver(conn)  # type: ignore[arg-type]
        saver.setup()
        agent = create_agent(model, tools=[], checkpointer=saver)

        def size() -> int:
            row = conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS n FROM pg_class c "
                "JOIN pg_namespace s ON s.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND s.nspname = %s",
                (schema,),
            ).fetchone()
            return int(row["n"]) if row else 0

        yield _agent_candidate("langgraph-postgres", agent, size)
    finally:
        conn.close()
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _agent_candidate(name: str, agent: Any, size: Callable[[], int]) -> Candidate:
    config = {"configurable": {"thread_id": "conversation"}}

    def turn(text: str) -> object:
        return agent.invoke({"messages": [HumanMessage(text)]}, config)

    return Candidate(name, turn, size)


@contextlib.contextmanager
def adapter(model: ChatArcee, store_name: str) -> Iterator[Candidate]:
    with open_store(store_name) as (store, where):
        chat = model.with_memory(store)
        config = {"configurable": {"session_id": "conversation"}}
        if store_name == "sqlite":
            path = Path(where)

            def size() -> int:
                return file_bytes(path)
        else:

            def size() -> int:
                return postgres_bytes(where)

        yield Candidate(
            f"adapter-{store_name}", lambda text: chat.invoke(text, config=config), size
        )


@contextlib.contextmanager
def candidates(model: ChatArcee, backends: list[str]) -> Iterator[list[Candidate]]:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        found: list[Candidate] = []
        for backend in backends:
            if backend == "sqlite":
                found.append(stack.enter_context(langgraph_sqlite(model, Path(tmp))))
            else:
                found.append(stack.enter_context(langgraph_postgres(model)))
            found.append(stack.enter_context(adapter(model, backend)))
        yield found


def same_history_check(backends: list[str], turns: int = 3) -> bool:
    """Run a few turns of every candidate against a recording server; compare what was sent."""
    sent: dict[str, list[Any]] = {}
    with ArceeTestServer(accept_any_model=True) as server:
        model = ChatArcee(api_key=KEY, base_url=server.base_url, max_retries=0)
        with candidates(model, backends) as found:
            for candidate in found:
                before = len(server.chat_requests)
                for index in range(turns):
                    candidate.turn(question(index))
                sent[candidate.name] = [
                    r.body["messages"] for r in server.chat_requests[before:] if r.body
                ]
    reference = next(iter(sent.values()))
    same = all(bodies == reference for bodies in sent.values())
    last = len(reference[-1]) if reference else 0
    print(
        f"same history sent by {', '.join(sent)} over {turns} turns "
        f"({last} messages in the last request): {'yes' if same else 'NO'}"
    )
    return same


def run(base_url: str, backends: list[str], turns: int, bucket: int) -> list[Candidate]:
    model = ChatArcee(api_key=KEY, base_url=base_url, max_retries=0)
    with candidates(model, backends) as found:
        for index in range(turns):
            for candidate in found:
                start = time.perf_counter()
                candidate.turn(question(index))
                candidate.times_ms.append((time.perf_counter() - start) * 1000)
            if (index + 1) % bucket == 0 or index + 1 == turns:
                for candidate in found:
                    candidate.bytes_at[index + 1] = candidate.size()
                line = ", ".join(
                    f"{c.name} {statistics.median(c.times_ms[-bucket:]):.1f} ms "
                    f"{c.bytes_at[index + 1] / 1e6:.2f} MB"
                    for c in found
                )
                print(f"turn {index + 1}: {line}", flush=True)
    return found


def report(found: list[Candidate], backends: list[str], bucket: int) -> dict[str, Any]:
    by_name = {c.name: c for c in found}
    summary: dict[str, Any] = {}
    turns = len(found[0].times_ms)
    print(f"\nOver the last {bucket} of {turns} turns (medians), and bytes stored at the end:")
    for backend in backends:
        graph, ours = by_name[f"langgraph-{backend}"], by_name[f"adapter-{backend}"]
        graph_ms = statistics.median(graph.times_ms[-bucket:])
        ours_ms = statistics.median(ours.times_ms[-bucket:])
        graph_bytes, ours_bytes = graph.bytes_at[turns], ours.bytes_at[turns]
        speed, size = graph_ms / ours_ms, graph_bytes / max(ours_bytes, 1)
        summary[backend] = {"speed_ratio": speed, "bytes_ratio": size}
        print(
            f"{backend}: LangGraph {graph_ms:.1f} ms/turn, {graph_bytes / 1e6:.2f} MB; adapter "
            f"{ours_ms:.1f} ms/turn, {ours_bytes / 1e6:.2f} MB -> adapter {speed:.1f}x faster "
            f"per turn, {size:.0f}x fewer bytes"
        )
    return summary


def plot(found: list[Candidate], bucket: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_time, ax_bytes) = plt.subplots(1, 2, figsize=(11, 4.2))
    for candidate in found:
        style = "-" if candidate.name.startswith("adapter") else "--"
        marks = list(range(bucket, len(candidate.times_ms) + 1, bucket))
        medians = [statistics.median(candidate.times_ms[m - bucket : m]) for m in marks]
        ax_time.plot(marks, medians, style, marker="o", label=candidate.name)
        points = sorted(candidate.bytes_at.items())
        ax_bytes.plot([t for t, _ in points], [b / 1e6 for _, b in points], style, marker="o")
    ax_time.set(xlabel="turn", ylabel=f"ms per turn (median of {bucket})", yscale="log")
    ax_time.set_title("Time per turn")
    ax_bytes.set(xlabel="turn", ylabel="MB stored", yscale="log")
    ax_bytes.set_title("Bytes stored")
    ax_time.legend()
    for ax in (ax_time, ax_bytes):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("create_agent + LangGraph checkpointer vs RunnableWithMemory (ChatArcee)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300, help="turns of the conversation")
    parser.add_argument("--bucket", type=int, default=50, help="turns per median / size sample")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--plot", default=str(DEFAULT_PLOT), help="PNG path ('' to skip)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 turns, SQLite only")
    parser.add_argument("--json", help="also write the per-turn times and sizes here")
    args = parser.parse_args()
    if args.quick:
        args.turns, args.bucket, args.backends = 6, 3, "sqlite"
    backends = [b for b in args.backends.split(",") if b]
    if "postgres" in backends and (reason := unavailable("postgres")):
        print(f"skipping postgres: {reason}")
        backends.remove("postgres")
    if not same_history_check(backends):
        raise SystemExit("the candidates sent different histories: the comparison is void")
    with loopback_server("--accept-any-model") as base_url:
        found = run(base_url, backends, args.turns, args.bucket)
    summary = report(found, backends, args.bucket)
    if args.plot:
        plot(found, args.bucket, Path(args.plot))
    if args.json:
        rows = {c.name: {"times_ms": c.times_ms, "bytes_at": c.bytes_at} for c in found}
        with open(args.json, "w") as fh:
            json.dump({"candidates": rows, "summary": summary}, fh, indent=2)


if __name__ == "__main__":
    main()
