"""Where a turn's time goes at 1,000 stored messages (issue 12), part by part, in one run.

* ``protocol``: a store's turn protocol alone (``begin_turn`` reading the newest 1,001
  messages, then ``commit_turn`` of two), no model, with the store's caches (the default) and
  without them (``cache_bytes=0``: no window cache and no decode cache, so every turn ships
  and decodes the window); with the caches also timed with the collector left running, and
  the client's CPU per turn (``time.process_time``); and with two store objects on the same
  data taking turns (two app instances serving one session: each start follows the other's
  commit, so only the two newer messages ship);
* ``sqlite async``: client CPU per turn of the SQLite store's async protocol (begin, a 1 ms
  pause standing for the model, commit) for N = 1 and 50 concurrent sessions at 100 messages;
* ``adapter CPU``: client CPU of one in-memory adapter turn (``chat.invoke`` / ``ainvoke`` with
  ``max_history_messages`` = the stored count) minus that of the wrapped model sending the same
  window right after it (``model.invoke(window)`` / ``ainvoke``), at 100 and ``--stored``
  messages: what the memory adapter itself costs the client per turn (session, window fit,
  checks, commit); medians of the per-pair differences;
* ``idle``: what one round trip costs when the other side was idle, as the database is between
  a turn's start and its commit (the model call) and between turns: a minimal round trip
  (PostgreSQL: a prepared ``SELECT 1`` and a one-row ``INSERT`` into a logged table, which
  waits for the WAL flush; Redis: ``PING``; the loopback server: ``GET /models``), and a
  pure-Python loop with no I/O (what idling does to this process's own work), back to back
  and after a ``--pause`` (default 3 ms, not counted), wall and client CPU; and each store's
  protocol with that pause before the start and between the start and the commit;
* ``gc``: one in-memory adapter turn against the loopback server measured as
  ``benchmarks.common.median_ms`` measures the other benchmarks (a full collection before each
  sample, the collector paused during it) and with the collector simply left running.

Medians over ``--rounds`` interleaved rounds, with [min-max] of the rounds' medians.
Run from the repo root: ``python -m benchmarks.turn_parts`` (``--quick`` for a smoke run;
``--only adapter`` for the adapter CPU lines alone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import itertools
import statistics
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from benchmarks.common import conversation, loopback_server, median_ms
from benchmarks.stores import POSTGRES_URL, REDIS_URL, libpq_url, open_store, open_twin, unavailable
from langchain_arcee import ChatArcee
from langchain_arcee.stores import ChatStore


def _protocol_turn(store: ChatStore, session: str, last: int) -> Callable[[], None]:
    def turn() -> None:
        start = store.try_begin_turn(session, uuid.uuid4().hex, last=last, lease_seconds=30)
        assert start is not None
        store.commit_turn(start.lease, [HumanMessage("q"), AIMessage("a")])

    return turn


def _alternating(*turns: Callable[[], None]) -> Callable[[], None]:
    """One turn per call, by each of ``turns`` in turn."""
    order = itertools.cycle(turns)

    def turn() -> None:
        next(order)()

    return turn


async def _async_cpu_us(store: ChatStore, sessions: int, turns: int) -> float:
    async def session(i: int) -> None:
        for _ in range(turns):
            start = await store.abegin_turn(f"a{i}", last=101, lock_timeout=30)
            await asyncio.sleep(0.001)  # the model call
            await store.acommit_turn(start.lease, [HumanMessage("q"), AIMessage("a")])

    await asyncio.gather(*(session(i) for i in range(sessions)))  # warm: loop connection open
    cpu = time.process_time()
    await asyncio.gather(*(session(i) for i in range(sessions)))
    return (time.process_time() - cpu) / (sessions * turns) * 1e6


class _SentWindow(BaseCallbackHandler):
    """Remembers the messages the chat model was last called with."""

    def __init__(self) -> None:
        self.messages: list[BaseMessage] = []

    def on_chat_model_start(
        self, serialized: object, messages: list[list[BaseMessage]], **kwargs: object
    ) -> None:
        self.messages = messages[0]


def _paired_cpu_us(
    turn: Callable[[], object], call: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Median client CPU of ``call`` and of ``turn`` minus ``call``, paired call by call, in µs.

    Each turn is followed by a model call and the difference is taken per pair, so drift falls
    out of the median. The collector is paused for the batch and run after it: its collections,
    which land in either part, swamp a difference of a few hundred µs (a collection before each
    pair would not do: it leaves the CPU caches cold for the turn, which comes first).
    """
    calls, differences = [], []
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.process_time()
            turn()
            middle = time.process_time()
            call()
            end = time.process_time()
            calls.append(end - middle)
            differences.append((middle - start) - (end - middle))
    finally:
        gc.enable()
        gc.collect()
    return statistics.median(calls) * 1e6, statistics.median(differences) * 1e6


def _adapter_cpu(base_url: str, stored: int, repeat: int, rounds: int) -> None:
    """Adapter CPU per turn: a memory turn's client CPU minus the model call's, sync and async."""
    with open_store("memory") as (store, _):
        model = ChatArcee(api_key="k", base_url=base_url, max_retries=0)
        chat = model.with_memory(store, max_history_messages=stored)
        store.append("adapter", conversation(stored))
        sent = _SentWindow()
        config = {"configurable": {"session_id": "adapter"}, "callbacks": [sent]}
        chat.invoke("New question?", config=config)
        window = sent.messages  # the window a turn sends (its size is the same every turn)
        config = {"configurable": {"session_id": "adapter"}}
        loop = asyncio.new_event_loop()
        modes: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "sync": (
                lambda: chat.invoke("New question?", config=config),
                lambda: model.invoke(window),
            ),
            "async": (
                lambda: loop.run_until_complete(chat.ainvoke("New question?", config=config)),
                lambda: loop.run_until_complete(model.ainvoke(window)),
            ),
        }
        calls: dict[str, list[float]] = {mode: [] for mode in modes}
        adapter: dict[str, list[float]] = {mode: [] for mode in modes}
        for turn, call in modes.values():  # warm-up: the first rounds ran ~2x high
            _paired_cpu_us(turn, call, repeat)
        for _ in range(rounds):
            for mode, (turn, call) in modes.items():
                call_us, adapter_us = _paired_cpu_us(turn, call, repeat)
                calls[mode].append(call_us)
                adapter[mode].append(adapter_us)
        loop.close()
        for mode in modes:
            _show(f"{mode}, {stored} messages: model call", calls[mode], "µs")
            _show(f"{mode}, {stored} messages: adapter (turn - model)", adapter[mode], "µs")


def _cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    """Client CPU per call (``time.process_time``), in milliseconds, collector running."""
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) / repeat * 1000


def _after_pause(
    steps: list[Callable[[], object]], pause: float, repeat: int
) -> tuple[float, float]:
    """Median wall and client CPU (ms) of running ``steps``, each after sleeping ``pause`` s.

    The sleeps are not counted: what is timed is what the steps cost when the other side (and
    this process) idled first, as a turn's statements do around the model call.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        wall = cpu = 0.0
        for step in steps:
            if pause:
                time.sleep(pause)
            start, start_cpu = time.perf_counter(), time.process_time()
            step()
            wall += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
        walls.append(wall * 1000)
        cpus.append(cpu * 1000)
    return statistics.median(walls), statistics.median(cpus)


@contextlib.contextmanager
def _minimal_round_trips(
    base_url: str, stores: list[str]
) -> Iterator[dict[str, Callable[[], object]]]:
    """The cheapest round trip to each server: what any request to it pays at least."""
    with contextlib.ExitStack() as stack:
        url = urllib.parse.urlsplit(base_url)
        server = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)
        stack.callback(server.close)
        models = f"{url.path.rstrip('/')}/models"

        def get_models() -> None:
            server.request("GET", models)
            server.getresponse().read()

        trips: dict[str, Callable[[], object]] = {
            # No I/O at all: what idling does to this process's own work.
            "no round trip: pure-Python loop": lambda: sum(i * i for i in range(5000)),
            "loopback server: GET /models": get_models,
        }
        if "postgres" in stores:
            import psycopg

            conn = stack.enter_context(psycopg.connect(libpq_url(POSTGRES_URL), autocommit=True))
            table = f"turn_parts_{uuid.uuid4().hex[:12]}"
            conn.execute(f"CREATE TABLE {table} (x int)")
            stack.callback(conn.execute, f"DROP TABLE {table}")
            trips["postgres: SELECT 1"] = lambda: conn.execute("SELECT 1", prepare=True).fetchone()
            trips["postgres: INSERT one row (WAL flush)"] = lambda: conn.execute(
                f"INSERT INTO {table} VALUES (1)", prepare=True
            )
        if "redis" in stores:
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            stack.callback(client.close)
            trips["redis: PING"] = client.ping
        yield trips


def _idle(
    base_url: str, stores: list[str], stored: int, pause: float, repeat: int, rounds: int
) -> None:
    """Round trips and each store's protocol, back to back and after idling ``pause`` s."""
    history = conversation(stored)
    with contextlib.ExitStack() as stack:
        trips = stack.enter_context(_minimal_round_trips(base_url, stores))
        plans: dict[str, list[Callable[[], object]]] = {
            label: [trip] for label, trip in trips.items()
        }
        for name in stores:
            store, _ = stack.enter_context(open_store(name))
            store.append("idle", history)
            leases: list[object] = []

            def begin(store: ChatStore = store, leases: list[object] = leases) -> None:
                start = store.try_begin_turn(
                    "idle", uuid.uuid4().hex, last=stored + 1, lease_seconds=30
                )
                assert start is not None
                leases.append(start.lease)

            def commit(store: ChatStore = store, leases: list[object] = leases) -> None:
                store.commit_turn(leases.pop(), [HumanMessage("q"), AIMessage("a")])  # type: ignore[arg-type]

            plans[f"{name}: protocol (begin, commit)"] = [begin, commit]
        samples: dict[str, list[tuple[float, float]]] = {}
        for _ in range(rounds):
            for label, steps in plans.items():
                for idle in (0.0, pause):
                    _after_pause(steps, idle, 5)  # warm-up
                    samples.setdefault(f"{label}|{idle}", []).append(
                        _after_pause(steps, idle, repeat)
                    )
        for key, values in samples.items():
            label, idled = key.split("|")
            walls = [wall for wall, _ in values]
            cpus = statistics.median(cpu for _, cpu in values)
            when = f"after {float(idled) * 1000:.0f} ms idle" if float(idled) else "back to back"
            _show(f"{label}, {when}", walls, f"ms wall, {cpus:.3f} ms CPU")


def _show(label: str, values: list[float], unit: str) -> None:
    print(
        f"  {label:<44} {statistics.median(values):9.3f} {unit}  "
        f"[{min(values):.3f}-{max(values):.3f}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=1000)
    parser.add_argument("--stores", default="sqlite,postgres,redis")
    parser.add_argument("--repeat", type=int, default=20, help="turns per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument(
        "--only", choices=("adapter", "idle"), help="run only the adapter CPU or the idle lines"
    )
    parser.add_argument("--pause", type=float, default=0.003, help="idle seconds (idle lines)")
    args = parser.parse_args()
    if args.quick:
        args.stored, args.repeat, args.rounds, args.stores = 40, 3, 2, "sqlite"

    # The in-memory store has no caches to turn off and no second object on the same data.
    stores = [s for s in args.stores.split(",") if s and s != "memory" and not unavailable(s)]
    if args.only in (None, "idle"):
        print(f"idle: round trips and protocol at {args.stored} messages, medians")
        with loopback_server("--accept-any-model") as base_url:
            _idle(base_url, stores, args.stored, args.pause, args.repeat, args.rounds)
    if args.only == "idle":
        return
    print("adapter CPU: in-memory turn minus the model call of the same window, µs per turn")
    with loopback_server("--accept-any-model") as base_url:
        for stored in sorted({min(100, args.stored), args.stored}):
            _adapter_cpu(base_url, stored, args.repeat * 5, args.rounds)
    if args.only == "adapter":
        return
    history = conversation(args.stored)

    print(f"protocol: begin (newest {args.stored + 1}) + commit, no model, ms per turn")
    with contextlib.ExitStack() as stack:
        parts: dict[str, Callable[[], None]] = {}
        for name in stores:
            for cached in (True, False):
                kwargs = {} if cached else {"cache_bytes": 0}
                store, prefix = stack.enter_context(open_store(name, **kwargs))
                store.append("parts", history)
                label = f"{name}, caches {'on' if cached else 'off (cache_bytes=0)'}"
                parts[label] = _protocol_turn(store, "parts", args.stored + 1)
                if cached:
                    twin = stack.enter_context(open_twin(name, prefix))
                    parts[f"{name}, caches on, two objects taking turns"] = _alternating(
                        _protocol_turn(store, "parts", args.stored + 1),
                        _protocol_turn(twin, "parts", args.stored + 1),
                    )
        samples: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for label, turn in parts.items():
                samples.setdefault(label, []).append(median_ms(turn, args.repeat))
                if "caches on" in label:
                    running = median_ms(turn, args.repeat, pause_gc=False)
                    samples.setdefault(f"{label}, collector running", []).append(running)
                    samples.setdefault(f"{label}, client CPU", []).append(
                        _cpu_ms(turn, args.repeat)
                    )
        for label, values in samples.items():
            _show(label, values, "ms")

    print("sqlite async: begin + 1 ms pause + commit at 100 messages, client CPU per turn")
    with open_store("sqlite") as (store, _):
        for i in range(50):
            store.append(f"a{i}", conversation(100))
        for sessions in (1, 50):
            values = [
                asyncio.run(_async_cpu_us(store, sessions, max(2, args.repeat // 2)))
                for _ in range(args.rounds)
            ]
            _show(f"N = {sessions}", values, "µs")

    print(f"gc: one in-memory adapter turn at {args.stored} messages, ms")
    with loopback_server("--accept-any-model") as base_url, open_store("memory") as (store, _):
        chat = ChatArcee(api_key="k", base_url=base_url, max_retries=0).with_memory(
            store, max_history_messages=args.stored
        )
        store.append("gc", history)
        config = {"configurable": {"session_id": "gc"}}

        def adapter_turn() -> object:
            return chat.invoke("New question?", config=config)

        paused: list[float] = []
        running: list[float] = []
        for _ in range(args.rounds):
            paused.append(median_ms(adapter_turn, args.repeat))
            gc.collect()
            running.append(median_ms(adapter_turn, args.repeat, pause_gc=False))
        _show("full collection first, collector paused", paused, "ms")
        _show("collector running", running, "ms")


if __name__ == "__main__":
    main()
