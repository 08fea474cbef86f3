"""Arcee's own multi-turn example, replayed from ``cassettes/test_multi_turn/``.

The cassettes match on the request body, so replay only succeeds if round 2 resends round 1's
user message and the assistant's reply with its reasoning, exactly as Arcee's docs require.
"""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_arcee import ChatArcee, InMemoryChatStore

pytestmark = pytest.mark.vcr

FIRST = "What is a small language model?"
SECOND = "How do they differ from LLMs?"


def _sent_messages(cassette: object, index: int) -> list[dict[str, object]]:
    request = cassette.requests[index]  # type: ignore[attr-defined]
    return json.loads(request.body)["messages"]


def test_two_rounds_resend_history_with_reasoning(vcr: object) -> None:
    llm = ChatArcee(temperature=0)
    first = llm.invoke([HumanMessage(FIRST)])
    assert isinstance(first, AIMessage)
    reasoning = first.additional_kwargs["reasoning_content"]
    assert reasoning
    llm.invoke([HumanMessage(FIRST), first, HumanMessage(SECOND)])
    assert _sent_messages(vcr, 0) == [{"role": "user", "content": FIRST}]
    assert _sent_messages(vcr, 1) == [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": first.content, "reasoning_content": reasoning},
        {"role": "user", "content": SECOND},
    ]


def test_two_rounds_through_memory(vcr: object) -> None:
    chat = ChatArcee(temperature=0).with_memory(InMemoryChatStore())
    config = {"configurable": {"session_id": "arcee-example"}}
    first = chat.invoke(FIRST, config=config)
    chat.invoke(SECOND, config=config)
    round_two = _sent_messages(vcr, 1)
    assert [m["role"] for m in round_two] == ["user", "assistant", "user"]
    assert round_two[1]["reasoning_content"] == first.additional_kwargs["reasoning_content"]
