"""A turn's shortcuts (what the window fit already knows) never change what is sent or stored.

The fit tells the turn whether its window holds any tool call or result (then the tool-group
check is skipped) and how many tokens it counted (then calibration does not count the window
again). These tests would fail if that knowledge were stale or wrong: a message gaining a tool
call between turns, a summary or a dropped group replacing the fitted history, stripped
reasoning, copies sent to a runnable that is not a chat model, colliding message ids, a session
cleared between turns, a reply equal to (but not the same object as) a message sent.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableLambda

from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.memory.tokens import approximate_tokens
from langchain_arcee.stores import InMemoryChatStore, SQLiteChatStore
from langchain_arcee.stores.base import SessionSummary
from tests.memory.conftest import cfg
from tests.memory.fakes import ScriptedChatModel, ai

LOGGER = "langchain_arcee.memory.adapter"
CALL = {"name": "t", "args": {}, "id": "call-1", "type": "tool_call"}


def observed_estimates(chat: RunnableWithMemory) -> list[int]:
    """Record the estimates the adapter hands its calibration."""
    calibration = chat._calibration
    assert calibration is not None
    estimates: list[int] = []
    observe = calibration.observe

    def spy(model: str, estimated: int, actual: int) -> float:
        estimates.append(estimated)
        return observe(model, estimated, actual)

    calibration.observe = spy  # type: ignore[method-assign]
    return estimates


def replies_with_usage() -> list[Any]:
    return [ai(f"answer {i}", reasoning=f"thought {i}", usage=(100, 5)) for i in range(6)]


def history_with_reasoning() -> list[BaseMessage]:
    return [
        SystemMessage("be brief"),
        HumanMessage("first"),
        AIMessage("one", additional_kwargs={"reasoning_content": "long reasoning " * 20}),
        HumanMessage("second"),
        AIMessage("two", additional_kwargs={"reasoning_content": "more reasoning " * 20}),
    ]


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("fitted", {"context_window": 100_000}),
        ("no budget", {}),
        ("message cap", {"context_window": 100_000, "max_history_messages": 3}),
        ("stripped reasoning", {"context_window": 100_000, "reasoning_retention": "current_turn"}),
        ("incomplete tool group", {"context_window": 100_000}),
        ("copies for a runnable", {"context_window": 100_000}),
        ("summary", {"context_window": 200, "reply_reserve": 20}),
    ],
)
def test_the_calibration_estimate_is_the_count_of_what_was_sent(
    case: str, options: dict[str, Any]
) -> None:
    model = ScriptedChatModel(replies=replies_with_usage())
    store = InMemoryChatStore()
    history = history_with_reasoning()
    if case == "incomplete tool group":
        history[3:3] = [HumanMessage("third"), AIMessage("", tool_calls=[CALL])]
    store.append("s1", history)
    runnable: Any = model
    if case == "copies for a runnable":
        runnable = RunnableLambda(lambda messages: model.invoke(messages))
    if case == "summary":
        summarizer = ScriptedChatModel(replies=["the summary"])
        options = {**options, "summary": summarizer}
    chat = RunnableWithMemory(runnable, store, **options)
    estimates = observed_estimates(chat)
    for question in ("q1", "q2", "q3"):
        chat.invoke(question, config=cfg())
    if case == "no budget":  # nothing to calibrate: the factor only scales a budget
        assert estimates == []
        return
    assert len(estimates) == 3
    sent_counts = [sum(map(approximate_tokens, request)) for request in model.requests[-3:]]
    assert estimates == sent_counts
    if case == "summary":  # the summary did replace the fitted history, inside the prompt
        assert all(
            isinstance(request[0], SystemMessage)
            and str(request[0].content).startswith("be brief\n\nSummary")
            for request in model.requests
        )


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_turns_under_one_summary_send_the_same_leading_message_object(
    kind: str, tmp_path: Any
) -> None:
    """The prompt-plus-summary message is built once while both last, not once per turn.

    Token counts are cached per message object; a lead rebuilt every turn would be counted
    again, and held by that cache, on every turn.
    """
    model = ScriptedChatModel(replies=[f"answer {i}" for i in range(4)])
    store = InMemoryChatStore() if kind == "memory" else SQLiteChatStore(tmp_path / "s.db")
    store.append("s1", history_with_reasoning())  # a system prompt, then two turns
    assert store.save_summary("s1", SessionSummary("the gist", covers=3), expected_covers=None)
    chat = RunnableWithMemory(model, store, context_window=100_000, summary=ScriptedChatModel())
    for question in ("q1", "q2", "q3"):
        chat.invoke(question, config=cfg())
    leads = [request[0] for request in model.requests]
    assert str(leads[0].content).startswith("be brief\n\nSummary")
    assert leads[0] is leads[1] is leads[2]


def test_a_tool_call_appearing_in_a_held_message_is_seen_next_turn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A model that mutates its input (history objects the store hands out) adds a tool call:
    the next turn must treat the message as an incomplete tool group, as if read afresh."""

    def mutate_then_answer(messages: list[BaseMessage]) -> AIMessage:
        if len(messages) == 3:  # turn 2: first, one, second
            target = messages[1]
            assert isinstance(target, AIMessage)
            target.tool_calls = [dict(CALL)]  # type: ignore[list-item]
        return AIMessage(f"answer to {len(messages)}")

    model = ScriptedChatModel(replies=[mutate_then_answer])
    store = InMemoryChatStore()
    chat = RunnableWithMemory(model, store, context_window=100_000)
    chat.invoke("first", config=cfg())
    chat.invoke("second", config=cfg())
    held = model.requests[1][1]
    assert isinstance(held, AIMessage) and held.tool_calls  # the mutation took
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        chat.invoke("third", config=cfg())
    assert [m.content for m in model.requests[2]] == ["first", "second", "answer to 3", "third"]
    assert any("incomplete tool-call groups" in r.getMessage() for r in caplog.records)


def test_tool_results_are_still_checked_when_the_window_has_no_tool_messages() -> None:
    from langchain_arcee.memory.window import StaleToolResultsError

    store = InMemoryChatStore()
    store.append("s1", [HumanMessage("q"), AIMessage("a")])
    model = ScriptedChatModel()
    chat = RunnableWithMemory(model, store, context_window=100_000)
    with pytest.raises(StaleToolResultsError):
        chat.invoke([ToolMessage("r", tool_call_id="nobody-asked")], config=cfg())
    assert model.requests == []


def test_a_new_tool_call_reply_is_a_group_the_next_turn_completes() -> None:
    """Turn 1 is tool-free; its reply calls a tool; the results continue the group."""
    model = ScriptedChatModel(replies=[ai("", tool_calls=[CALL]), "done"])
    store = InMemoryChatStore()
    store.append("s1", [HumanMessage("earlier"), AIMessage("fine")])
    chat = RunnableWithMemory(model, store, context_window=100_000)
    chat.invoke("use the tool", config=cfg())
    chat.invoke([ToolMessage("result", tool_call_id="call-1")], config=cfg())
    second = model.requests[1]
    assert [type(m).__name__ for m in second] == [
        "HumanMessage",
        "AIMessage",
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
    ]
    assert second[3].tool_calls[0]["id"] == "call-1"  # type: ignore[attr-defined]


def test_colliding_message_ids_neither_merge_nor_drop_messages() -> None:
    store = InMemoryChatStore()
    same = [HumanMessage("q", id="same"), AIMessage("a", id="same")] * 5
    store.append("s1", same)
    model = ScriptedChatModel(replies=[AIMessage("new", id="same")])
    chat = RunnableWithMemory(model, store, context_window=100_000, max_history_messages=6)
    for _ in range(3):
        chat.invoke(HumanMessage("next", id="same"), config=cfg())
    for request in model.requests:
        assert len(request) == 7  # 3 whole turns of history and the input
    assert len(store.load("s1")) == 16


def test_a_session_cleared_between_turns_sends_no_old_history() -> None:
    store = InMemoryChatStore()
    store.append("s1", [HumanMessage("old"), AIMessage("old answer")])
    model = ScriptedChatModel()
    chat = RunnableWithMemory(model, store, context_window=100_000)
    chat.invoke("before", config=cfg())
    store.clear("s1")
    chat.invoke("after", config=cfg())
    assert [m.content for m in model.requests[1]] == ["after"]


def test_a_reply_equal_to_a_sent_message_is_still_new() -> None:
    """Only the very object sent is echoed history; an equal copy is a new message."""
    store = InMemoryChatStore()
    earlier = AIMessage("same words", id="a1")
    store.append("s1", [HumanMessage("q"), earlier])

    def echo(messages: list[BaseMessage]) -> BaseMessage:
        return messages[1]

    def copy(messages: list[BaseMessage]) -> BaseMessage:
        return messages[1].model_copy()

    RunnableWithMemory(RunnableLambda(echo), store).invoke("again", config=cfg())
    assert len(store.load("s1")) == 3  # the input only: the reply was a message sent
    RunnableWithMemory(RunnableLambda(copy), store).invoke("again", config=cfg())
    stored = store.load("s1")
    assert len(stored) == 5 and stored[-1].content == "same words"
