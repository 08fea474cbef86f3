"""Arcee's two-round conversation, with memory: the second round re-sends the first.

Round 1 asks "What is a small language model?", round 2 "How do they differ from LLMs?".
``RunnableWithMemory`` stores each turn and injects it into the next request: the printed
request of round 2 holds round 1's question, answer and reasoning (Arcee requires the reasoning
to be sent back).

Run it:

* with ``ARCEE_API_KEY`` set, it calls Arcee (``ARCEE_BASE_URL`` points it elsewhere);
* without a key, it replays ``cassettes/examples/multi_turn.yaml`` (needs vcrpy:
  ``pip install -e ".[examples]"``), run from a checkout of the repository.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from wire_log import logging_http_client

from langchain_arcee import ChatArcee
from langchain_arcee.catalog import resolve_base_url
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import InMemoryChatStore

REPO_ROOT = Path(__file__).resolve().parent.parent
CASSETTE = "examples/multi_turn.yaml"
QUESTIONS = ("What is a small language model?", "How do they differ from LLMs?")


def run(api_key: str | None = None) -> None:
    credentials = {"api_key": api_key} if api_key else {}  # default: ARCEE_API_KEY
    llm = ChatArcee(http_client=logging_http_client(), **credentials)
    chat = RunnableWithMemory(llm, InMemoryChatStore())
    config = {"configurable": {"session_id": "multi-turn-example"}}
    for round_number, question in enumerate(QUESTIONS, start=1):
        print(f"\n=== round {round_number}: {question}")
        reply = chat.invoke(question, config=config)
        print(f"reasoning: {reply.additional_kwargs.get('reasoning_content')}")
        print(f"answer:    {reply.content}")


def main() -> None:
    if os.environ.get("ARCEE_API_KEY"):
        print(f"Calling {resolve_base_url()} with ARCEE_API_KEY")
        run()
        return
    print(
        f"No ARCEE_API_KEY: replaying the recorded cassette cassettes/{CASSETTE} "
        "(recorded against the local Arcee-format test server, not live Arcee)"
    )
    sys.path.insert(0, str(REPO_ROOT))  # the project's one vcrpy configuration
    from tests.cassette_config import make_vcr

    with make_vcr("none").use_cassette(CASSETTE):
        run(api_key="replay-needs-no-key")  # replay still builds a client, so it needs a key


if __name__ == "__main__":
    main()
