"""Client-side cost of one ChatArcee.invoke at long histories (issue: "fast at long histories").

Against a loopback Arcee-format server running in its own process, measures in one run the wall
time of one call at 10, 100 and 1,000 history messages for:

* raw: the same JSON body posted with the openai client (``client.post``): the floor, i.e. JSON
  encoding plus the loopback round trip;
* ChatArcee.invoke;
* ChatOpenAI.invoke (langchain-openai, through the SDK's typed ``create``).

Prints the ratios. Targets: ChatArcee within 2x of raw at 1,000 messages, and 25x or more faster
than ChatOpenAI.

Run from the repo root: ``python -m benchmarks.model_overhead``.
"""

from __future__ import annotations

import argparse
import json
import warnings

import openai
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletion

from benchmarks.common import conversation, interleaved_medians, loopback_server
from langchain_arcee import ChatArcee

KEY = "bench-key"


def measure(base_url: str, sizes: list[int], repeat: int) -> list[dict[str, float]]:
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

        medians = interleaved_medians(
            {
                "raw": raw,
                "arcee": lambda h=history: arcee.invoke(h),
                "chat_openai": lambda h=history: chat_openai.invoke(h),
            },
            repeat=repeat,
        )
        rows.append({"messages": size, **medians})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with loopback_server("--accept-any-model") as base_url:
        rows = measure(base_url, sizes, args.repeat)
    print(
        f"{'messages':>8} {'raw ms':>8} {'ChatArcee ms':>12} {'ChatOpenAI ms':>13} "
        f"{'Arcee/raw':>9} {'OpenAI/Arcee':>12}"
    )
    for row in rows:
        print(
            f"{row['messages']:>8} {row['raw']:>8.2f} {row['arcee']:>12.2f} "
            f"{row['chat_openai']:>13.2f} {row['arcee'] / row['raw']:>9.2f} "
            f"{row['chat_openai'] / row['arcee']:>12.1f}"
        )
    last = rows[-1]
    within = last["arcee"] / last["raw"]
    speedup = last["chat_openai"] / last["arcee"]
    print(
        f"\nAt {last['messages']} messages: ChatArcee/raw = {within:.2f}x (target <= 2x: "
        f"{'PASS' if within <= 2 else 'FAIL'}); ChatOpenAI/ChatArcee = {speedup:.1f}x "
        f"(target >= 25x: {'PASS' if speedup >= 25 else 'FAIL'})"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
