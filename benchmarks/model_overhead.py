"""Client-side cost of one ChatArcee.invoke at long histories (issue: "fast at long histories").

Against a loopback Arcee-format server running in its own process, measures the wall time of one
call at 10, 100 and 1,000 history messages for:

* raw: the same JSON body posted with the openai client (``client.post``): the floor, i.e. JSON
  encoding (the SDK's, stdlib ``json``) plus the loopback round trip;
* raw_orjson: the same body encoded by orjson, as ``ChatArcee`` encodes it, and posted as bytes
  (``client.post(content=...)``): the tighter floor, what the adapter costs beyond sending the
  same bytes the cheapest way;
* ChatArcee.invoke;
* ChatOpenAI.invoke (langchain-openai, through the SDK's typed ``create``).

The whole measurement is repeated ``--runs`` times (each run: interleaved rounds, medians), and
the ratios are reported as the median over runs with their spread (min-max). Targets: ChatArcee
within 2x of raw at 1,000 messages, and 25x or more faster than ChatOpenAI. ChatOpenAI/raw is
printed too (ChatOpenAI/ChatArcee = ChatOpenAI/raw divided by ChatArcee/raw), and ChatArcee
against raw_orjson: ChatArcee encodes with orjson, so it can run under raw, and raw_orjson shows
what it costs beyond the same bytes sent the cheapest way.

``--cpu`` measures instead the client CPU time (``time.process_time``, so other processes on a
shared machine do not count) of one call at 2, 100 and 1,000 messages, sync (``client.post`` vs
``ChatArcee.invoke``) and async (``AsyncOpenAI.post`` vs ``ChatArcee.ainvoke``), in interleaved
rounds; it prints per size the medians over rounds with their spread and ChatArcee's overhead
(ChatArcee minus raw, per round), and the CPU of encoding the body alone, by the SDK's encoder
(what the raw post's client does) and by orjson (what ChatArcee's transport does).

Run from the repo root: ``python -m benchmarks.model_overhead`` (``--quick`` for a smoke run;
``--cpu`` for the CPU table).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import warnings
from collections.abc import Awaitable, Callable

import openai
import orjson
from langchain_openai import ChatOpenAI
from openai._utils._json import openapi_dumps
from openai.types.chat import ChatCompletion

from benchmarks.common import conversation, interleaved_medians, loopback_server, spread
from langchain_arcee import ChatArcee
from langchain_arcee.body_encoding import encoded_body

KEY = "bench-key"


def measure(base_url: str, sizes: list[int], repeat: int) -> list[dict[str, float]]:
    """One run: interleaved medians per size (ms) of raw, ChatArcee and ChatOpenAI."""
    arcee = ChatArcee(api_key=KEY, base_url=base_url, max_retries=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chat_openai = ChatOpenAI(
            api_key=KEY, base_url=base_url, model="trinity-large-thinking", max_retries=0
        )
    raw_client = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0)
    rows = []
    for size in sizes:
        history = conversation(size - 1) + conversation(1)
        body = arcee._get_request_payload(history)

        def raw(body: dict = body) -> object:
            return raw_client.post("/chat/completions", body=body, cast_to=ChatCompletion)

        def raw_orjson(body: dict = body) -> object:
            return raw_client.post(
                "/chat/completions", content=orjson.dumps(body), cast_to=ChatCompletion
            )

        medians = interleaved_medians(
            {
                "raw": raw,
                "raw_orjson": raw_orjson,
                "arcee": lambda h=history: arcee.invoke(h),
                "chat_openai": lambda h=history: chat_openai.invoke(h),
            },
            repeat=repeat,
        )
        rows.append({"messages": size, **medians})
    return rows


async def _cpu_ms(call: Callable[[], Awaitable[object]], calls: int) -> float:
    """Client CPU milliseconds per call of ``call``, over ``calls`` calls after a warm-up."""
    for _ in range(3):
        await call()
    start = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - start) / calls * 1000


async def measure_cpu(
    base_url: str, sizes: list[int], rounds: int, calls: int
) -> dict[int, dict[str, list[float]]]:
    """Per size, per candidate: CPU ms per call in each of ``rounds`` interleaved rounds."""
    arcee = ChatArcee(api_key=KEY, base_url=base_url, max_retries=0)
    raw_client = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0)
    raw_async = openai.AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0)
    samples: dict[int, dict[str, list[float]]] = {}
    for size in sizes:
        history = conversation(size - 1) + conversation(1)
        body = arcee._get_request_payload(history)

        async def raw_sync(body: dict = body) -> object:
            return raw_client.post("/chat/completions", body=body, cast_to=ChatCompletion)

        async def arcee_sync(history: list = history) -> object:
            return arcee.invoke(history)

        async def raw_async_post(body: dict = body) -> object:
            return await raw_async.post("/chat/completions", body=body, cast_to=ChatCompletion)

        async def encode_sdk(body: dict = body) -> object:
            return openapi_dumps(body)  # what the raw post's client does with the body

        async def encode_orjson(body: dict = body) -> object:
            return encoded_body(body)  # what ChatArcee's transport does with it

        candidates: dict[str, Callable[[], Awaitable[object]]] = {
            "raw": raw_sync,
            "invoke": arcee_sync,
            "raw_async": raw_async_post,
            "ainvoke": lambda h=history: arcee.ainvoke(h),
            "encode_sdk": encode_sdk,
            "encode_orjson": encode_orjson,
        }
        per_size = samples[size] = {name: [] for name in candidates}
        n = max(1, calls * 100 // max(size, 100))  # fewer calls on long histories
        for _ in range(rounds):
            for name, call in candidates.items():
                per_size[name].append(await _cpu_ms(call, n))
    return samples


def print_cpu(samples: dict[int, dict[str, list[float]]]) -> None:
    """CPU ms per call: medians over rounds [min-max], and ChatArcee minus raw per round."""
    print("Client CPU ms per call, medians over rounds [min-max]:")
    print(f"{'messages':>8} {'path':>5} {'raw':>22} {'ChatArcee':>22} {'ChatArcee - raw':>22}")
    for size, per in samples.items():
        for path, raw, arcee in (("sync", "raw", "invoke"), ("async", "raw_async", "ainvoke")):
            extra = [a - r for a, r in zip(per[arcee], per[raw], strict=True)]
            cells = [
                f"{statistics.median(v):.3f} {spread(v, digits=3)}"
                for v in (per[raw], per[arcee], extra)
            ]
            print(f"{size:>8} {path:>5} {cells[0]:>22} {cells[1]:>22} {cells[2]:>22}")
    print("Encoding the request body alone, CPU ms per body, medians over rounds [min-max]:")
    print(f"{'messages':>8} {'SDK (stdlib json)':>22} {'orjson (ChatArcee)':>22}")
    for size, per in samples.items():
        cells = [
            f"{statistics.median(v):.3f} {spread(v, digits=3)}"
            for v in (per["encode_sdk"], per["encode_orjson"])
        ]
        print(f"{size:>8} {cells[0]:>22} {cells[1]:>22}")


def summarize(runs: list[list[dict[str, float]]]) -> list[dict[str, float | str]]:
    """Per size: median times over runs, and each ratio's median with its min-max spread."""
    summary: list[dict[str, float | str]] = []
    for index, first in enumerate(runs[0]):
        rows = [run[index] for run in runs]
        arcee_raw = [r["arcee"] / r["raw"] for r in rows]
        arcee_orjson = [r["arcee"] / r["raw_orjson"] for r in rows]
        openai_arcee = [r["chat_openai"] / r["arcee"] for r in rows]
        openai_raw = [r["chat_openai"] / r["raw"] for r in rows]
        summary.append(
            {
                "messages": first["messages"],
                **{
                    k: statistics.median(r[k] for r in rows)
                    for k in ("raw", "raw_orjson", "arcee", "chat_openai")
                },
                "arcee_raw": statistics.median(arcee_raw),
                "arcee_raw_spread": spread(arcee_raw),
                "arcee_orjson": statistics.median(arcee_orjson),
                "arcee_orjson_spread": spread(arcee_orjson),
                "openai_arcee": statistics.median(openai_arcee),
                "openai_arcee_spread": spread(openai_arcee, digits=1),
                "openai_raw": statistics.median(openai_raw),
                "openai_raw_spread": spread(openai_raw, digits=1),
            }
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=30, help="samples per candidate per run")
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the whole run")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 2 runs")
    parser.add_argument("--json", help="also write the per-run rows and the summary here")
    parser.add_argument("--cpu", action="store_true", help="client CPU per call, sync and async")
    args = parser.parse_args()
    if args.cpu:
        sizes, rounds, calls = ([2, 100], 2, 5) if args.quick else ([2, 100, 1000], 7, 300)
        with loopback_server("--accept-any-model") as base_url:
            print_cpu(asyncio.run(measure_cpu(base_url, sizes, rounds, calls)))
        return
    if args.quick:
        args.sizes, args.repeat, args.runs = "10,100", 2, 2
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    with loopback_server("--accept-any-model") as base_url:
        for index in range(args.runs):
            runs.append(measure(base_url, sizes, args.repeat))
            last = runs[-1][-1]
            print(
                f"run {index + 1}/{args.runs}: at {last['messages']} messages "
                f"ChatArcee/raw = {last['arcee'] / last['raw']:.2f}x, "
                f"ChatOpenAI/ChatArcee = {last['chat_openai'] / last['arcee']:.1f}x",
                flush=True,
            )
    summary = summarize(runs)
    print(f"\nMedians of {args.runs} runs (ratios: median [min-max]):")
    print(
        f"{'messages':>8} {'raw ms':>8} {'raw_orjson ms':>13} {'ChatArcee ms':>12} "
        f"{'ChatOpenAI ms':>13} {'ChatArcee/raw':>20} {'ChatArcee/raw_orjson':>20} "
        f"{'ChatOpenAI/ChatArcee':>22} {'ChatOpenAI/raw':>18}"
    )
    for row in summary:
        print(
            f"{row['messages']:>8} {row['raw']:>8.2f} {row['raw_orjson']:>13.2f} "
            f"{row['arcee']:>12.2f} {row['chat_openai']:>13.2f} "
            f"{row['arcee_raw']:>6.2f}x {row['arcee_raw_spread']:>12} "
            f"{row['arcee_orjson']:>6.2f}x {row['arcee_orjson_spread']:>12} "
            f"{row['openai_arcee']:>6.1f}x {row['openai_arcee_spread']:>14} "
            f"{row['openai_raw']:>6.1f}x {row['openai_raw_spread']:>10}"
        )
    last = summary[-1]
    within, speedup = float(last["arcee_raw"]), float(last["openai_arcee"])
    print(
        f"\nAt {last['messages']} messages: ChatArcee/raw = {within:.2f}x "
        f"{last['arcee_raw_spread']} (target <= 2x: {'PASS' if within <= 2 else 'FAIL'}); "
        f"ChatOpenAI/ChatArcee = {speedup:.1f}x {last['openai_arcee_spread']} "
        f"(target >= 25x: {'PASS' if speedup >= 25 else 'FAIL'}); "
        f"ChatArcee/raw_orjson = {float(last['arcee_orjson']):.2f}x {last['arcee_orjson_spread']}"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"runs": runs, "summary": summary}, fh, indent=2)


if __name__ == "__main__":
    main()
