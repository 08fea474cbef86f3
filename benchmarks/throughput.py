"""Throughput of concurrent async sessions with memory (issue 12: "memory that costs a turn almost
nothing").

Against the loopback Arcee-format server in its own process, N concurrent async sessions (N = 1,
10, 50, 200) each run ``--turns`` timed turns, every session starting from ``--stored`` stored
messages and first running ``--warmup`` untimed turns (default 2), so what is timed is a
server's steady state, not one-time costs (connections, prepared statements, caches, the first
read's size); every candidate is warmed up alike.
Candidates, measured in one run:

* ``raw``: raw posts of the same bodies: each session keeps its own list of wire messages (the
  same history the adapter sends) and posts it with the async openai client (``client.post``),
  appending the question and the reply it gets back: JSON encoding (the SDK's, stdlib ``json``)
  plus the round trip;
* ``raw_orjson``: the same, each body encoded by orjson (as ``ChatArcee`` encodes it) and posted
  as bytes: the tighter floor;
* ``model``: ``ChatArcee.ainvoke`` on a list of messages the session keeps itself (no store):
  what the model alone adds to a raw post;
* ``memory``, ``sqlite``, ``postgres``, ``redis``: ``ChatArcee.with_memory(store).ainvoke`` over
  ``InMemoryChatStore``, ``SQLiteChatStore`` (a file), ``PostgresChatStore`` and
  ``RedisChatStore`` (unique table/key prefixes, dropped afterwards).

Printed per candidate and N: turns/s, client CPU per turn (``time.process_time`` of this process,
so it includes the database drivers' client side), the loopback server's CPU in cores (to show it
was not the bottleneck), the ratio of turns/s to raw posts (and to raw_orjson's), and "lost":
after the run each session must hold exactly ``stored + 2 x turns`` messages (for raw/model:
every reply received).

Only the public API is used (stores, ``ChatArcee.with_memory``), so the script keeps working as
the stores change. Run from the repo root: ``python -m benchmarks.throughput`` (``--quick`` for a
smoke run; ``--candidates`` to choose).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import openai
import orjson
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from openai.types.chat import ChatCompletion

from benchmarks.common import LoopbackServer, conversation, loopback_server_process, spread
from benchmarks.stores import STORE_NAMES, open_store, unavailable
from langchain_arcee import ChatArcee
from langchain_arcee.stores import ChatStore

KEY = "bench-key"
FLOORS = ("raw", "raw_orjson")
CANDIDATES = (*FLOORS, "model", *STORE_NAMES)


@dataclass
class Result:
    candidate: str
    sessions: int
    turns: int
    turns_per_s: float
    cpu_ms_per_turn: float
    server_cores: float
    lost: int
    failed: int
    first_error: str


Turn = Callable[[int, int], Awaitable[int]]
"""``turn(session, index)`` runs one turn and returns how many messages it added."""


@dataclass
class Outcome:
    wall: float
    cpu: float
    server_cpu: float
    added: list[int]
    """Messages each session's successful turns added."""
    errors: list[str]
    """A failed turn is reported, and its session goes on with its next turn."""


def question(session: int, index: int) -> str:
    return f"Session {session}, question {index}: what changed since last time?"


async def drive(
    server: LoopbackServer, sessions: int, turns: int, turn: Turn, warmup: int = 0
) -> Outcome:
    """Run ``sessions`` concurrent sessions of ``turns`` timed turns each.

    Each session first runs ``warmup`` untimed turns (counted in ``added``), so one-time costs
    (connections, prepared statements, caches, the first read's size) are not timed.
    """
    errors: list[str] = []

    async def one_session(session: int, first: int, count: int) -> int:
        added = 0
        for index in range(first, first + count):
            try:
                added += await turn(session, index)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        return added

    warmed = await asyncio.gather(*(one_session(s, 0, warmup) for s in range(sessions)))
    gc.collect()
    server_cpu = server.cpu_seconds()
    cpu = time.process_time()
    start = time.perf_counter()
    added = await asyncio.gather(*(one_session(s, warmup, turns) for s in range(sessions)))
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    total = [w + a for w, a in zip(warmed, added, strict=True)]
    return Outcome(wall, cpu, server.cpu_seconds() - server_cpu, total, errors)


def raw_turns(
    server: LoopbackServer, model: ChatArcee, stored: list[BaseMessage], n: int, *, encode: bool
) -> Turn:
    """Raw posts; ``encode``: bodies encoded by orjson, else by the SDK (stdlib ``json``)."""
    client = openai.AsyncOpenAI(api_key=KEY, base_url=server.url, max_retries=0)
    template = model._get_request_payload(stored)
    wire = template.pop("messages")
    histories = [list(wire) for _ in range(n)]

    async def turn(session: int, index: int) -> int:
        history = histories[session]
        history.append({"role": "user", "content": question(session, index)})
        body = {**template, "messages": history}
        reply = await (
            client.post("/chat/completions", content=orjson.dumps(body), cast_to=ChatCompletion)
            if encode
            else client.post("/chat/completions", body=body, cast_to=ChatCompletion)
        )
        message = reply.choices[0].message
        extras = message.model_extra or {}
        history.append(
            {
                "role": "assistant",
                "content": message.content or "",
                "reasoning_content": extras.get("reasoning_content"),
            }
        )
        return 2

    return turn


def model_turns(model: ChatArcee, stored: list[BaseMessage], n: int) -> Turn:
    histories = [list(stored) for _ in range(n)]

    async def turn(session: int, index: int) -> int:
        history = histories[session]
        history.append(HumanMessage(question(session, index)))
        history.append(await model.ainvoke(history))
        return 2

    return turn


def memory_turns(model: ChatArcee, store: ChatStore) -> Turn:
    chat = model.with_memory(store)

    async def turn(session: int, index: int) -> int:
        config = {"configurable": {"session_id": f"s{session}"}}
        reply = await chat.ainvoke(question(session, index), config=config)
        if not isinstance(reply, AIMessage):
            raise TypeError(f"unexpected reply {reply!r}")
        return 2

    return turn


async def run_store(
    server: LoopbackServer,
    model: ChatArcee,
    store: ChatStore,
    stored: list[BaseMessage],
    sessions: int,
    turns: int,
    warmup: int,
) -> tuple[Outcome, int]:
    """Run the sessions over ``store``; also return how many messages were lost (or extra)."""
    for session in range(sessions):  # untimed: every session starts from `stored` messages
        await store.aappend(f"s{session}", stored)
    try:
        outcome = await drive(server, sessions, turns, memory_turns(model, store), warmup)
        counts = [await store.acount(f"s{session}") for session in range(sessions)]
    finally:
        await store.aclose()
    expected = [len(stored) + added for added in outcome.added]  # every successful turn, whole
    return outcome, sum(abs(e - c) for e, c in zip(expected, counts, strict=True))


async def warm_up(server: LoopbackServer, model: ChatArcee, stored: list[BaseMessage]) -> None:
    await asyncio.gather(*(model.ainvoke([*stored, HumanMessage("warm up")]) for _ in range(4)))
    client = openai.AsyncOpenAI(api_key=KEY, base_url=server.url, max_retries=0)
    body = model._get_request_payload([*stored, HumanMessage("warm up")])
    await client.post("/chat/completions", body=body, cast_to=ChatCompletion)


def measure(
    server: LoopbackServer, candidate: str, sessions: int, turns: int, stored_n: int, warmup: int
) -> Result:
    stored = conversation(stored_n)

    async def main() -> tuple[Outcome, int]:
        model = ChatArcee(api_key=KEY, base_url=server.url, max_retries=0)
        await warm_up(server, model, stored)
        if candidate in FLOORS:
            turn = raw_turns(server, model, stored, sessions, encode=candidate == "raw_orjson")
        elif candidate == "model":
            turn = model_turns(model, stored, sessions)
        else:
            with open_store(candidate) as (store, _):
                return await run_store(server, model, store, stored, sessions, turns, warmup)
        # The histories live in the sessions: nothing can be lost.
        return await drive(server, sessions, turns, turn, warmup), 0

    outcome, lost = asyncio.run(main())
    done = sessions * turns - len(outcome.errors)
    return Result(
        candidate,
        sessions,
        turns,
        done / outcome.wall,
        outcome.cpu / max(done, 1) * 1000,
        outcome.server_cpu / outcome.wall,
        lost,
        len(outcome.errors),
        outcome.errors[0] if outcome.errors else "",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,10,50,200", help="concurrent sessions, N")
    parser.add_argument("--turns", type=int, default=10, help="turns per session")
    parser.add_argument("--stored", type=int, default=100, help="messages stored per session")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--runs", type=int, default=3, help="repetitions (medians reported)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed turns per session before the timed ones"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: N=1,3, 2 turns, 1 run")
    parser.add_argument("--json", help="also write every result to this file")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.turns, args.stored, args.runs, args.warmup = "1,3", 2, 10, 1, 1
    sizes = [int(n) for n in args.sessions.split(",")]
    candidates = [c for c in args.candidates.split(",") if c]
    for name in list(candidates):
        reason = unavailable(name) if name in STORE_NAMES else None
        if reason:
            print(f"skipping {name}: {reason}")
            candidates.remove(name)
    results: list[Result] = []
    with loopback_server_process("--accept-any-model") as server:
        for _ in range(args.runs):
            for sessions in sizes:
                for candidate in candidates:  # interleaved: drift hits every candidate alike
                    result = measure(
                        server, candidate, sessions, args.turns, args.stored, args.warmup
                    )
                    results.append(result)
                    print(
                        f"N={sessions} {candidate}: {result.turns_per_s:.0f} turns/s, "
                        f"{result.cpu_ms_per_turn:.2f} ms CPU/turn, lost {result.lost}, "
                        f"failed {result.failed}",
                        flush=True,
                    )
    report(results, sizes, candidates, args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([asdict(r) for r in results], fh, indent=2)


def report(results: list[Result], sizes: list[int], candidates: list[str], args: Any) -> None:
    print(
        f"\n{args.turns} timed turns per session (after {args.warmup} untimed) at {args.stored} "
        f"stored messages, {args.runs} run(s); medians [min-max of the ratio]"
    )
    print(
        f"{'N':>4} {'candidate':>10} {'turns/s':>9} {'CPU ms/turn':>11} {'server cores':>12} "
        f"{'ratio to raw':>24} {'to raw_orjson':>24} {'lost':>5} {'failed turns':>12}"
    )
    lost_total = 0
    failures: list[str] = []
    for sessions in sizes:
        raw_runs = [r for r in results if r.sessions == sessions and r.candidate == "raw"]
        orjson_runs = [r for r in results if r.sessions == sessions and r.candidate == "raw_orjson"]
        for candidate in candidates:
            runs = [r for r in results if r.sessions == sessions and r.candidate == candidate]
            rate = statistics.median(r.turns_per_s for r in runs)
            ratio, tight = "-", "-"
            if raw_runs:
                ratios = [
                    r.turns_per_s / raw.turns_per_s for r, raw in zip(runs, raw_runs, strict=True)
                ]
                ratio = f"{statistics.median(ratios):.2f}x {spread(ratios)}"
            if orjson_runs:
                ratios = [
                    r.turns_per_s / raw.turns_per_s
                    for r, raw in zip(runs, orjson_runs, strict=True)
                ]
                tight = f"{statistics.median(ratios):.2f}x {spread(ratios)}"
            lost = sum(r.lost for r in runs)
            lost_total += lost
            failed = sum(r.failed for r in runs)
            failures.extend(
                f"N={sessions} {candidate}: {r.failed} failed turns, first: {r.first_error}"
                for r in runs
                if r.failed
            )
            print(
                f"{sessions:>4} {candidate:>10} {rate:>9.0f} "
                f"{statistics.median(r.cpu_ms_per_turn for r in runs):>11.2f} "
                f"{statistics.median(r.server_cores for r in runs):>12.2f} {ratio:>24} "
                f"{tight:>24} "
                f"{lost:>5} {failed:>12}"
            )
    print(f"\nlost: {lost_total} ({'PASS' if lost_total == 0 else 'FAIL'})")
    for failure in failures:
        print(f"FAILED TURNS {failure}")
    for candidate in ("sqlite", "postgres"):
        if candidate not in candidates or "raw" not in candidates:
            continue
        ratios = []
        for sessions in sizes:
            pairs = zip(
                [r for r in results if r.sessions == sessions and r.candidate == candidate],
                [r for r in results if r.sessions == sessions and r.candidate == "raw"],
                strict=True,
            )
            ratios.extend(r.turns_per_s / raw.turns_per_s for r, raw in pairs)
        if ratios:
            worst = min(ratios)
            print(
                f"{candidate}: lowest ratio to raw-post turns/s over N = {args.sessions}: "
                f"{worst:.2f}x (target >= 0.5x: {'PASS' if worst >= 0.5 else 'FAIL'})"
            )


if __name__ == "__main__":
    main()
