# ruff: noqa: RUF001 (full-width CJK punctuation is the point)
"""Long conversations in scripts a ~4-characters-per-token estimate misjudges, in a small window.

A 300-turn Chinese conversation and a 300-turn code conversation run through
``RunnableWithMemory(ChatArcee)`` against the loopback server, which counts prompt tokens the
way a real tokenizer roughly does (about one per CJK character, code denser than prose) and
rejects an over-window request with vLLM's 400. Printed per conversation and configuration:
failed turns, and the share of the prompt budget (window minus reply reserve) the requests
actually used once the conversation outgrew the window (mean and minimum, by the server's own
count). Configurations: this package's defaults (script-aware estimate + calibration from the
server's usage), the estimate without calibration, and LangChain's
``count_tokens_approximately`` without calibration (what 0.1.0 did).

Usage: ``python -m benchmarks.window_fill [--turns 300] [--window 4096] [--quick]``
"""

from __future__ import annotations

import argparse
import statistics
import uuid
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import InMemoryChatStore
from tests.arcee_server import ArceeTestServer, Reply, count_prompt_tokens

MODEL = "trinity-mini"
REPLY_RESERVE = 512

CJK_QUESTION = "请用两三句话解释一下第{n}个问题：小型语言模型为什么回答迅速、成本低廉？"
CJK_REPLY = (
    "小型语言模型参数较少，推理时计算量小，所以回答迅速、成本低廉。第{n}个问题的答案就是这样。"
)
CODE_QUESTION = (
    "Refactor step {n}:\n```python\ndef f_{n}(x):\n"
    "    return {{'a': [i * 2 for i in range(x) if i % 3 == 0], 'n': {n}}}\n```"
)
CODE_REPLY = (
    "```python\ndef f_{n}(x: int) -> dict[str, list[int]]:\n"
    "    evens = [i * 2 for i in range(0, x, 3)]\n    return {{'a': evens, 'n': {n}}}\n```"
)

CONVERSATIONS = {"chinese": (CJK_QUESTION, CJK_REPLY), "code": (CODE_QUESTION, CODE_REPLY)}


def _legacy_count(message: BaseMessage) -> int:
    return count_tokens_approximately([message])


CONFIGS: dict[str, dict[str, Any]] = {
    "defaults (script-aware + calibrated)": {},
    "script-aware, not calibrated": {"calibrate": False},
    "~4 chars/token, calibrated": {"token_counter": _legacy_count},
    "~4 chars/token (0.1.0), not calibrated": {"calibrate": False, "token_counter": _legacy_count},
}


def run_conversation(
    server: ArceeTestServer, kind: str, turns: int, window: int, options: dict[str, Any]
) -> tuple[int, list[float]]:
    """Failed turns and the share of the prompt budget used per turn once the window is full."""
    question, reply = CONVERSATIONS[kind]
    counter = iter(range(10**9))

    def responder(_body: dict[str, Any]) -> Reply:
        return Reply(content=reply.format(n=next(counter)))

    server.set_responder(responder)
    model = ChatArcee(model=MODEL, api_key="test", base_url=server.base_url, max_retries=0)
    chat = RunnableWithMemory(
        model,
        InMemoryChatStore(),
        context_window=window,
        reply_reserve=REPLY_RESERVE,
        **options,
    )
    session = uuid.uuid4().hex
    failed = 0
    shares: list[float] = []
    budget = window - REPLY_RESERVE
    full = False
    for n in range(turns):
        before = len(server.chat_requests)
        try:
            chat.invoke(question.format(n=n), {"configurable": {"session_id": session}})
        except Exception:  # counted: every failure is a lost turn for the user
            failed += 1
            continue
        request = server.chat_requests[-1]
        if len(server.chat_requests) - before > 1:
            full = True  # an overflow was retried: the window is full from here on
        used = count_prompt_tokens(request.body) / budget
        full = full or used > 0.6
        if full:
            shares.append(used)
    return failed, shares


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--window", type=int, default=4096)
    parser.add_argument("--quick", action="store_true", help="60 turns (smoke test)")
    args = parser.parse_args(argv)
    turns = 60 if args.quick else args.turns
    results: list[tuple[str, str, int, list[float]]] = []
    with ArceeTestServer(context_lengths={MODEL: args.window}) as server:
        for kind in CONVERSATIONS:
            for label, options in CONFIGS.items():
                failed, shares = run_conversation(server, kind, turns, args.window, options)
                results.append((kind, label, failed, shares))
    print(f"{turns} turns per conversation, window {args.window}, reply reserve {REPLY_RESERVE}")
    for kind, label, failed, shares in results:
        mean = statistics.mean(shares) if shares else 0.0
        low = min(shares) if shares else 0.0
        print(
            f"{kind:8} {label:41} failed turns: {failed:3d}/{turns}  "
            f"window used (server's count): mean {mean:.0%}, min {low:.0%}"
        )
    ours = [(failed, shares) for kind, label, failed, shares in results if label.startswith("def")]
    goal_met = all(f == 0 and shares and statistics.mean(shares) > 0.8 for f, shares in ours)
    print(f"goal (defaults: 0 failed turns, > 80% of the window used on average): {goal_met}")


if __name__ == "__main__":
    main()
