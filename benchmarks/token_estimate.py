"""Cost of the script-aware token estimate per message, against langchain-core's.

``approximate_token_count`` runs for every message of every turn the memory adapter fits (first
sight of each message; counts are cached per id afterwards), so it must stay about as cheap as
``count_tokens_approximately`` (~4 characters per token, script-blind). Prints one ratio line:

    python -m benchmarks.token_estimate [--repeat 5] [--messages 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

from langchain_arcee.messages import approximate_token_count

PROSE = "The quick brown fox jumps over the lazy dog while the farmer watches. " * 4
CJK = "今天天气很好，我们一起去公园散步吧。我想喝一杯咖啡。" * 6  # noqa: RUF001
CODE = 'def f(x):\n    return {"a": [i * 2 for i in range(x) if i % 3 == 0]}\n' * 4


def conversation(size: int) -> list[BaseMessage]:
    """A mix of prose, CJK, code, reasoning and tool turns (distinct objects, as stored)."""
    messages: list[BaseMessage] = []
    for i in range(size):
        kind = i % 4
        if kind == 0:
            messages.append(HumanMessage(PROSE if i % 8 else CJK))
        elif kind == 1:
            messages.append(
                AIMessage(
                    "",
                    additional_kwargs={"reasoning_content": PROSE},
                    tool_calls=[{"name": "run", "args": {"code": CODE}, "id": f"c{i}"}],
                )
            )
        elif kind == 2:
            messages.append(ToolMessage(CODE, tool_call_id=f"c{i - 1}"))
        else:
            messages.append(AIMessage(CJK, additional_kwargs={"reasoning_content": CJK}))
    return messages


def per_message_seconds(
    count: Callable[[Sequence[BaseMessage]], int], messages: list[BaseMessage], repeat: int
) -> float:
    """Median over ``repeat`` runs of the time to count each message on its own."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for message in messages:
            count([message])
        runs.append((time.perf_counter() - start) / len(messages))
    return statistics.median(runs)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args(argv)
    messages = conversation(args.messages)
    ours = per_message_seconds(approximate_token_count, messages, args.repeat)
    core = per_message_seconds(count_tokens_approximately, messages, args.repeat)
    print(
        f"per message: approximate_token_count {ours * 1e6:.1f} us, "
        f"count_tokens_approximately {core * 1e6:.1f} us; "
        f"approximate_token_count/count_tokens_approximately = {ours / core:.2f}x"
    )


if __name__ == "__main__":
    main()
