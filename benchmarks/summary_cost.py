"""Cost of the running summary: summarizer calls per 100 turns and tokens per turn, with/without.

Simulates a long conversation (fixed-size turns) against a context window that holds only part
of it, and plans every turn with :func:`langchain_arcee.memory.summary.plan_summary` (the
summarizer is a ``RunnableLambda`` returning a summary of fixed size, so only the planning's
cost model is measured, not a model's speed). Prints, per ``batch_turns``:

* summarizer calls per 100 turns;
* mean prompt tokens sent per turn to the main model, with the summary / without it (window
  only), and the summarizer's input tokens per turn (amortized).

Run: ``python -m benchmarks.summary_cost [--turns 100] [--window-turns 20] [--batches 1,4,8]``.
"""

from __future__ import annotations

import argparse
import statistics

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableLambda

from langchain_arcee.memory.summary import (
    LoadedHistory,
    SessionSummary,
    Summarize,
    SummaryPolicy,
    SummaryStep,
    plan_summary,
)
from langchain_arcee.memory.tokens import approximate_tokens
from langchain_arcee.memory.window import WindowBudget, fit_history


def make_turn(index: int, words: int) -> list[BaseMessage]:
    text = " ".join(f"w{index}" for _ in range(words))
    return [HumanMessage(f"question {index}: {text}"), AIMessage(f"answer {index}: {text}")]


def simulate(
    turns: int, window_turns: int, words: int, batch_turns: int | None
) -> tuple[int, list[int], list[int]]:
    """Returns (summarizer calls, prompt tokens per turn, summarizer input tokens per turn)."""
    turn_tokens = sum(map(approximate_tokens, make_turn(0, words)))
    budget = WindowBudget(context_window=window_turns * turn_tokens + 4096, reply_reserve=4096)
    summary_text = " ".join(["fact"] * 150)
    messages: list[BaseMessage] = []
    summary: SessionSummary | None = None
    calls = 0
    sent_tokens: list[int] = []
    summarizer_tokens: list[int] = []
    for index in range(turns):
        new = make_turn(index, words)
        if batch_turns is None:
            fit = fit_history(messages, new[:1], approximate_tokens, budget=budget)
            sent_tokens.append(sum(map(approximate_tokens, [*fit.messages, new[0]])))
        else:
            policy = SummaryPolicy(RunnableLambda(lambda _: summary_text), batch_turns=batch_turns)
            plan = plan_summary(
                policy,
                summary,
                LoadedHistory(messages, 0),
                new[:1],
                approximate_tokens,
                budget=budget,
                session_id="bench",
            )
            used = 0
            try:
                request = next(plan)
                while True:
                    if isinstance(request, Summarize):
                        calls += 1
                        used += sum(map(approximate_tokens, request.messages))
                        request = plan.send(summary_text)
                    else:
                        request = plan.send(True)
            except StopIteration as done:
                step: SummaryStep = done.value
            summary = step.summary
            summarizer_tokens.append(used)
            sent_tokens.append(sum(map(approximate_tokens, [*step.history, new[0]])))
        messages.extend(new)
    return calls, sent_tokens, summarizer_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--window-turns", type=int, default=20)
    parser.add_argument("--words", type=int, default=60, help="words per message")
    parser.add_argument("--batches", default="1,4,8")
    args = parser.parse_args()

    _, plain, _ = simulate(args.turns, args.window_turns, args.words, None)
    plain_mean = statistics.mean(plain)
    print(f"without summary: {plain_mean:.0f} prompt tokens per turn (window only)")
    for batch in (int(b) for b in args.batches.split(",")):
        calls, sent, extra = simulate(args.turns, args.window_turns, args.words, batch)
        per_100 = calls * 100 / args.turns
        with_mean = statistics.mean(sent)
        extra_mean = statistics.mean(extra)
        print(
            f"batch_turns={batch}: {per_100:.1f} summary calls per 100 turns; "
            f"prompt tokens with/without summary = {with_mean / plain_mean:.2f}; "
            f"(prompt + summarizer input)/without = {(with_mean + extra_mean) / plain_mean:.2f}"
        )


if __name__ == "__main__":
    main()
