"""Context-window fitting: property tests of the pure rules, and the adapter's use of them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_arcee.memory import ContextWindowExceededError, RunnableWithMemory, WindowBudget
from langchain_arcee.memory.tokens import approximate_tokens, context_window_of, find_chat_model
from langchain_arcee.memory.window import (
    LoadHead,
    LoadNewest,
    apply_reasoning_retention,
    fit_history,
    plan_window,
    split_turns,
)
from langchain_arcee.stores import InMemoryChatStore
from tests.memory.conftest import cfg
from tests.memory.fakes import ScriptedChatModel, ai


def tokens(message: BaseMessage) -> int:
    return len(str(message.content)) + 1


# ---- strategies ---------------------------------------------------------------------------
@st.composite
def turn(draw: Any, index: int) -> list[BaseMessage]:
    messages: list[BaseMessage] = [HumanMessage("h" * draw(st.integers(0, 30)), id=f"h{index}")]
    for step in range(draw(st.integers(0, 3))):
        calls = draw(st.integers(1, 3))
        ids = [f"c{index}-{step}-{k}" for k in range(calls)]
        messages.append(
            AIMessage(
                "",
                id=f"a{index}-{step}",
                tool_calls=[{"name": "t", "args": {}, "id": i, "type": "tool_call"} for i in ids],
            )
        )
        messages.extend(
            ToolMessage("r" * draw(st.integers(0, 20)), tool_call_id=i, id=f"t{i}") for i in ids
        )
    messages.append(AIMessage("a" * draw(st.integers(0, 30)), id=f"final{index}"))
    return messages


@st.composite
def conversation(draw: Any) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    if draw(st.booleans()):
        messages.append(SystemMessage("s" * draw(st.integers(0, 20)), id="sys"))
    for index in range(draw(st.integers(0, 8))):
        messages.extend(draw(turn(index)))
    return messages


def assert_no_split_tool_group(messages: list[BaseMessage]) -> None:
    pending: set[str] = set()
    for message in messages:
        if isinstance(message, ToolMessage):
            assert message.tool_call_id in pending
            pending.discard(message.tool_call_id)
        else:
            assert not pending
            if isinstance(message, AIMessage):
                pending = {c["id"] for c in message.tool_calls if c["id"]}
    assert not pending


# ---- properties of fit_history ------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(history=conversation(), window=st.integers(20, 400), reserve=st.integers(0, 19))
def test_fit_history_properties(history: list[BaseMessage], window: int, reserve: int) -> None:
    new_input = [HumanMessage("newest question", id="input")]
    budget = WindowBudget(context_window=window, reply_reserve=reserve)
    fixed = sum(map(tokens, new_input)) + (
        tokens(history[0]) if history and isinstance(history[0], SystemMessage) else 0
    )
    if fixed > budget.prompt_tokens:
        with pytest.raises(ContextWindowExceededError) as info:
            fit_history(history, new_input, tokens, budget=budget)
        assert info.value.input_tokens == fixed
        assert str(budget.prompt_tokens) in str(info.value)
        return
    fit = fit_history(history, new_input, tokens, budget=budget)
    sent = fit.messages + new_input
    assert sum(map(tokens, sent)) <= budget.prompt_tokens  # never exceeds the budget
    assert sent[-1].id == "input"  # the newest user message is always kept
    if history and isinstance(history[0], SystemMessage):
        assert sent[0].id == "sys"  # the system prompt is kept
    assert_no_split_tool_group(sent)
    # a suffix of whole turns (after the pinned system message)
    body = fit.messages[1:] if history and isinstance(history[0], SystemMessage) else fit.messages
    if body:
        assert isinstance(body[0], HumanMessage)
        assert history[len(history) - len(body) :] == body


@settings(max_examples=200, deadline=None)
@given(history=conversation(), cap=st.integers(1, 40))
def test_fit_history_message_cap(history: list[BaseMessage], cap: int) -> None:
    fit = fit_history(history, [HumanMessage("q")], tokens, budget=None, max_messages=cap)
    assert len(fit.messages) <= max(cap, 1)
    assert_no_split_tool_group(fit.messages)


@settings(max_examples=200, deadline=None)
@given(history=conversation())
def test_split_turns_roundtrip(history: list[BaseMessage]) -> None:
    segments = split_turns(history)
    assert [m for s in segments for m in s] == history
    for segment in segments[1:]:
        assert isinstance(segment[0], HumanMessage)


def test_human_inside_open_tool_group_does_not_split() -> None:
    call = AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "c", "type": "tool_call"}])
    messages = [
        HumanMessage("a"),
        call,
        HumanMessage("interject"),
        ToolMessage("r", tool_call_id="c"),
    ]
    assert len(split_turns(messages)) == 1


# ---- the loading plan ---------------------------------------------------------------------
def drive(plan: Any, stored: list[BaseMessage]) -> tuple[list[BaseMessage], list[Any]]:
    requests = []
    try:
        request = next(plan)
        while True:
            requests.append(request)
            if isinstance(request, LoadHead):
                reply = stored[:1]
            else:
                reply = stored if request.last is None else stored[-request.last :]
            request = plan.send(reply)
    except StopIteration as done:
        return done.value.messages, requests


def long_history(turns: int) -> list[BaseMessage]:
    out: list[BaseMessage] = [SystemMessage("sys", id="sys")]
    for i in range(turns):
        out += [HumanMessage(f"q{i}", id=f"q{i}"), AIMessage(f"a{i}", id=f"a{i}")]
    return out


def test_plan_reads_a_modest_window_and_keeps_system() -> None:
    stored = long_history(5000)
    budget = WindowBudget(context_window=200, reply_reserve=0)
    sent, requests = drive(plan_window([HumanMessage("x")], tokens, budget=budget), stored)
    assert requests == [LoadNewest(257), LoadHead()]
    assert sent[0].id == "sys" and isinstance(sent[1], HumanMessage)
    assert sent[-1].id == "a4999"


def test_plan_grows_while_budget_not_full() -> None:
    stored = long_history(5000)
    budget = WindowBudget(context_window=10**9, reply_reserve=0)
    sent, requests = drive(plan_window([HumanMessage("x")], tokens, budget=budget), stored)
    assert [r.last for r in requests if isinstance(r, LoadNewest)] == [257, 1025, 4097, 16385]
    assert sent == stored


def test_plan_small_cap_is_read_at_once() -> None:
    stored = long_history(5000)
    budget = WindowBudget(context_window=10**9, reply_reserve=0)
    sent, requests = drive(
        plan_window([HumanMessage("x")], tokens, budget=budget, max_messages=1000), stored
    )
    assert requests == [LoadNewest(1001), LoadHead()]
    assert len(sent) <= 1000 and sent[0].id == "sys"


def test_plan_growth_stops_at_cap() -> None:
    stored = long_history(12000)
    budget = WindowBudget(context_window=10**9, reply_reserve=0)
    sent, requests = drive(
        plan_window([HumanMessage("x")], tokens, budget=budget, max_messages=5000), stored
    )
    assert requests == [
        LoadNewest(257),
        LoadHead(),
        LoadNewest(1025),
        LoadNewest(4097),
        LoadNewest(5001),
    ]
    assert len(sent) <= 5000 and sent[0].id == "sys"


def test_plan_without_budget_or_cap_reads_everything() -> None:
    stored = long_history(10)
    sent, requests = drive(plan_window([HumanMessage("x")], tokens, budget=None), stored)
    assert requests == [LoadNewest(None)] and sent == stored


# ---- the adapter: trimming what is sent, never what is stored -----------------------------
def test_adapter_trims_sent_history_but_stores_everything() -> None:
    store = InMemoryChatStore(max_messages_per_session=None)
    model = ScriptedChatModel(replies=["x" * 40])
    chat = RunnableWithMemory(model, store, context_window=300, reply_reserve=50)
    for i in range(20):
        chat.invoke(f"question {i} " + "y" * 40, cfg())
    assert len(store.load("s1")) == 40
    last_request = model.requests[-1]
    assert len(last_request) < 40
    assert sum(approximate_tokens(m) for m in last_request) <= 250
    assert isinstance(last_request[0], HumanMessage)
    assert last_request[-1].content.startswith("question 19")


def test_adapter_raises_when_input_exceeds_window() -> None:
    store = InMemoryChatStore()
    chat = RunnableWithMemory(ScriptedChatModel(), store, context_window=100, reply_reserve=10)
    with pytest.raises(ContextWindowExceededError, match="100") as info:
        chat.invoke("z" * 2000, cfg())
    assert isinstance(info.value, ValueError)
    assert info.value.context_window == 100 and info.value.reply_reserve == 10
    assert store.load("s1") == []


def test_context_window_discovered_from_nested_model() -> None:
    model = ScriptedChatModel(profile={"max_input_tokens": 1234})
    chain = (lambda x: x) | model.bind(stop=["x"])
    assert find_chat_model(chain) is model
    chat = RunnableWithMemory(chain, InMemoryChatStore())
    assert chat.budget == WindowBudget(context_window=1234, reply_reserve=1234 // 4)
    assert RunnableWithMemory(ScriptedChatModel(), InMemoryChatStore()).budget is None
    profiled = ScriptedChatModel(profile={"max_input_tokens": 5000})
    assert context_window_of(profiled) == 5000
    assert RunnableWithMemory(
        profiled, InMemoryChatStore(), context_window=99
    ).budget == WindowBudget(99, 24)


def test_reasoning_counts_toward_tokens() -> None:
    plain = AIMessage("hi")
    thinking = AIMessage("hi", additional_kwargs={"reasoning_content": "r" * 400})
    assert approximate_tokens(thinking) >= approximate_tokens(plain) + 100


# ---- reasoning retention ------------------------------------------------------------------
def test_reasoning_retention_current_turn_strips_earlier_turns_only_in_what_is_sent() -> None:
    store = InMemoryChatStore()
    model = ScriptedChatModel(replies=[ai("one", reasoning="r1"), ai("two", reasoning="r2")])
    chat = RunnableWithMemory(model, store, reasoning_retention="current_turn")
    chat.invoke("a", cfg())
    chat.invoke("b", cfg())
    assert "reasoning_content" not in model.requests[1][1].additional_kwargs
    stored = store.load("s1")
    assert stored[1].additional_kwargs["reasoning_content"] == "r1"  # the store keeps it
    assert stored[3].additional_kwargs["reasoning_content"] == "r2"


def test_reasoning_retention_keeps_current_turn_when_input_continues_it() -> None:
    call = AIMessage(
        "",
        additional_kwargs={"reasoning_content": "think"},
        tool_calls=[{"name": "t", "args": {}, "id": "c", "type": "tool_call"}],
    )
    old = AIMessage("old", additional_kwargs={"reasoning_content": "old"})
    history = [HumanMessage("1"), old, HumanMessage("2"), call]
    sent = apply_reasoning_retention(history, [ToolMessage("r", tool_call_id="c")], "current_turn")
    assert "reasoning_content" not in sent[1].additional_kwargs
    assert sent[3].additional_kwargs["reasoning_content"] == "think"
    assert apply_reasoning_retention(history, [HumanMessage("3")], "all") == history
    assert old.additional_kwargs == {"reasoning_content": "old"}  # never mutated


@settings(max_examples=300, deadline=None)
@given(
    history=conversation(),
    window=st.integers(60, 600),
    initial=st.integers(1, 6),
    cap=st.one_of(st.none(), st.integers(1, 30)),
)
def test_growing_reads_select_the_same_window_as_a_full_read(
    history: list[BaseMessage], window: int, initial: int, cap: int | None
) -> None:
    new_input = [HumanMessage("q", id="input")]
    budget = WindowBudget(context_window=window, reply_reserve=0)
    try:
        expected = fit_history(history, new_input, tokens, budget=budget, max_messages=cap)
    except ContextWindowExceededError:
        return
    plan = plan_window(new_input, tokens, budget=budget, max_messages=cap, initial_load=initial)
    sent, requests = drive(plan, history)
    assert sent == expected.messages
    for request in requests:
        if isinstance(request, LoadNewest) and cap is not None:
            assert request.last is not None and request.last <= cap + 1
