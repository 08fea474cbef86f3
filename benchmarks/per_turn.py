"""One turn at 1,000 stored messages, per store, as a ratio to a raw post (issue 12).

Against the loopback Arcee-format server in its own process, one session per store is pre-filled
with ``--stored`` messages; each measured turn is a real turn through the public API,
``ChatArcee(...).with_memory(store, max_history_messages=--stored).invoke(question, config)``:
it reads the window, calls the server and appends the question and the reply (the session grows
by two messages a turn; the window sent stays ``--stored`` messages). Candidates:

* ``raw``: the floor, the same-sized request body (the window plus the question) posted with the
  openai client (``client.post``): JSON encoding (the SDK's, stdlib ``json``) plus the round trip;
* ``raw_orjson``: the tighter floor, the same body encoded by orjson (as ``ChatArcee`` encodes
  it) and posted as bytes (``client.post(content=...)``);
* ``model``: ``ChatArcee.invoke`` on that same list of messages, no store;
* ``memory``, ``sqlite``, ``postgres``, ``redis``: the adapter over each store (unique
  prefixes, dropped afterwards; a store whose server is unreachable is skipped and said so).

Candidates are measured in interleaved rounds; per candidate the median of each round, then the
median over rounds is printed with the spread (min-max) of its ratio to raw, and to raw_orjson.
Target: every store within 1.5x of a raw post. Against raw_orjson the ratio shows what the adapter
costs beyond the cheapest way to send the same bytes.

Run from the repo root: ``python -m benchmarks.per_turn`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
from collections.abc import Callable

import openai
import orjson
from langchain_core.messages import HumanMessage
from openai.types.chat import ChatCompletion

from benchmarks.common import conversation, loopback_server, median_ms, spread
from benchmarks.stores import STORE_NAMES, open_store, unavailable
from langchain_arcee import ChatArcee

KEY = "bench-key"
TARGET = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=1000, help="stored (and sent) messages")
    parser.add_argument("--stores", default=",".join(STORE_NAMES))
    parser.add_argument("--repeat", type=int, default=10, help="turns per candidate per round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 messages, 2 rounds")
    parser.add_argument("--json", help="also write the per-round medians to this file")
    parser.add_argument(
        "--gc",
        choices=("paused", "running"),
        default="paused",
        help="paused: a full collection before each turn, the collector off during it "
        "(the default); running: the collector left running, as in an app",
    )
    args = parser.parse_args()
    if args.quick:
        args.stored, args.repeat, args.rounds = 20, 2, 2
    stores = [s for s in args.stores.split(",") if s]
    for name in list(stores):
        reason = unavailable(name)
        if reason:
            print(f"skipping {name}: {reason}")
            stores.remove(name)
    config = {"configurable": {"session_id": "per-turn"}}
    stored = conversation(args.stored)
    samples: dict[str, list[float]] = {}
    with loopback_server("--accept-any-model") as base_url, contextlib.ExitStack() as stack:
        model = ChatArcee(api_key=KEY, base_url=base_url, max_retries=0)
        client = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0)
        window = [*stored, HumanMessage("New question?")]
        body = model._get_request_payload(window)
        candidates: dict[str, Callable[[], object]] = {
            "raw": lambda: client.post("/chat/completions", body=body, cast_to=ChatCompletion),
            "raw_orjson": lambda: client.post(
                "/chat/completions", content=orjson.dumps(body), cast_to=ChatCompletion
            ),
            "model": lambda: model.invoke(window),
        }
        for name in stores:
            store, _ = stack.enter_context(open_store(name))
            store.append("per-turn", stored)
            chat = model.with_memory(store, max_history_messages=args.stored)
            candidates[name] = lambda chat=chat: chat.invoke("New question?", config=config)
        samples = {name: [] for name in candidates}
        for _ in range(args.rounds):
            for name, turn in candidates.items():
                pause_gc = args.gc == "paused"
                samples[name].append(median_ms(turn, args.repeat, pause_gc=pause_gc))
    report(samples, args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(samples, fh, indent=2)


def report(samples: dict[str, list[float]], args: argparse.Namespace) -> None:
    print(
        f"\nOne turn at {args.stored} stored messages ({args.rounds} rounds x {args.repeat} turns, "
        f"collector {args.gc}; medians, ratio spread [min-max] over rounds)"
    )
    floors = ("raw", "raw_orjson")
    print(f"{'candidate':>10} {'ms/turn':>9} {'ratio to raw':>22} {'to raw_orjson':>22}")
    for name, values in samples.items():
        cells = []
        for floor in floors:
            ratios = [v / r for v, r in zip(values, samples[floor], strict=True)]
            cells.append(f"{statistics.median(ratios):>8.2f}x {spread(ratios):>12}")
        print(f"{name:>10} {statistics.median(values):>9.2f} {cells[0]} {cells[1]}")
    print()
    for name in samples:
        if name in (*floors, "model"):
            continue
        ratio, tight = (
            statistics.median(v / r for v, r in zip(samples[name], samples[floor], strict=True))
            for floor in floors
        )
        print(
            f"at {args.stored} messages: {name}/raw = {ratio:.2f}x "
            f"(target <= {TARGET}x: {'PASS' if ratio <= TARGET else 'FAIL'}); "
            f"{name}/raw_orjson = {tight:.2f}x"
        )


if __name__ == "__main__":
    main()
