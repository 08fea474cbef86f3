"""The window's fast paths select exactly what the straightforward per-message rules select.

``reference_split_turns`` / ``reference_fit`` are the rules as plain per-message loops (the
implementation before the window's passes were made cheap). Arbitrary message sequences (tool
calls answered, half answered, never answered, orphan results, colliding message and tool-call
ids, questions inside open tool groups, a pinned system message, a partial first turn) must give
the same segments, the same selected messages (the very objects) and the same ``budget_full``,
with a plain counter and with the per-object cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_arcee.memory.tokens import IdentityCache
from langchain_arcee.memory.window import (
    ContextWindowExceededError,
    WindowBudget,
    fit_history,
    has_tool_messages,
    newest_fitting,
    split_turns,
)


def tokens(message: BaseMessage) -> int:
    return len(str(message.content)) + 1


def reference_split_turns(messages: Sequence[BaseMessage]) -> list[list[BaseMessage]]:
    segments: list[list[BaseMessage]] = []
    current: list[BaseMessage] = []
    pending: set[Any] = set()
    for message in messages:
        if isinstance(message, HumanMessage):
            if not pending and current:
                segments.append(current)
                current = []
        elif isinstance(message, AIMessage):
            pending = {call.get("id") for call in message.tool_calls}
        elif isinstance(message, ToolMessage) and pending:
            pending.discard(message.tool_call_id)
        current.append(message)
    if current:
        segments.append(current)
    return segments


def reference_newest_fitting(
    segments: Sequence[Sequence[BaseMessage]], tokens_left: int | None, messages: int | None
) -> int:
    kept = 0
    for segment in reversed(segments):
        if messages is not None:
            if len(segment) > messages:
                break
            messages -= len(segment)
        if tokens_left is not None:
            cost = sum(map(tokens, segment))
            if cost > tokens_left:
                break
            tokens_left -= cost
        kept += 1
    return kept


def reference_fit(
    history: list[BaseMessage],
    new_input: list[BaseMessage],
    budget: WindowBudget | None,
    max_messages: int | None,
    head: BaseMessage | None,
) -> tuple[list[BaseMessage], bool]:
    pinned = None
    rest = history
    if head is not None:
        pinned = head if isinstance(head, SystemMessage) else None
    elif history and isinstance(history[0], SystemMessage):
        pinned, rest = history[0], history[1:]
    segments = reference_split_turns(rest)
    if head is not None and segments and not isinstance(segments[0][0], HumanMessage):
        segments = segments[1:]
    left = None
    if budget is not None:
        left = budget.prompt_tokens - sum(map(tokens, new_input))
        left -= tokens(pinned) if pinned is not None else 0
    cap = max_messages
    if pinned is not None and cap is not None:
        cap = max(cap - 1, 0)
    kept = reference_newest_fitting(segments, left, cap)
    selected = [pinned] if pinned is not None else []
    for segment in segments[len(segments) - kept :]:
        selected.extend(segment)
    return selected, kept < len(segments)


CALL_IDS = st.sampled_from(["c1", "c2", "c3", "c1"])  # collisions on purpose


@st.composite
def message(draw: Any) -> BaseMessage:
    kind = draw(st.sampled_from(["human", "ai", "calls", "chunk", "tool", "system"]))
    text = "x" * draw(st.integers(0, 25))
    message_id = draw(st.sampled_from([None, "same", "other"]))  # colliding message ids
    if kind == "human":
        return HumanMessage(text, id=message_id)
    if kind == "ai":
        return AIMessage(text, id=message_id)
    if kind in ("calls", "chunk"):
        ids = draw(st.lists(CALL_IDS, min_size=1, max_size=3))
        calls = [{"name": "t", "args": {}, "id": i, "type": "tool_call"} for i in ids]
        if kind == "chunk":
            return AIMessageChunk(content=text, id=message_id, tool_calls=calls)
        return AIMessage(text, id=message_id, tool_calls=calls)
    if kind == "tool":
        return ToolMessage(text, tool_call_id=draw(CALL_IDS), id=message_id)
    return SystemMessage(text, id=message_id)


@st.composite
def history(draw: Any) -> list[BaseMessage]:
    plain = draw(st.booleans())  # half the examples take the no-tool-call fast path
    messages = draw(st.lists(message(), max_size=40))
    if plain:
        messages = [m for m in messages if not (isinstance(m, AIMessage) and m.tool_calls)]
    return messages


def same_objects(left: Sequence[BaseMessage], right: Sequence[BaseMessage]) -> bool:
    return len(left) == len(right) and all(a is b for a, b in zip(left, right, strict=True))


@settings(max_examples=500, deadline=None)
@given(messages=history())
def test_split_turns_matches_the_per_message_rules(messages: list[BaseMessage]) -> None:
    got = split_turns(messages)
    expected = reference_split_turns(messages)
    assert len(got) == len(expected)
    assert all(same_objects(a, b) for a, b in zip(got, expected, strict=True))
    assert has_tool_messages(messages) == any(
        isinstance(m, ToolMessage) or (isinstance(m, AIMessage) and m.tool_calls) for m in messages
    )


@settings(max_examples=1000, deadline=None)
@given(
    messages=history(),
    window=st.one_of(st.none(), st.integers(1, 600)),
    cap=st.one_of(st.none(), st.integers(1, 45)),
    head=st.one_of(st.none(), message()),
    cached=st.booleans(),
)
def test_fit_history_matches_the_per_message_rules(
    messages: list[BaseMessage],
    window: int | None,
    cap: int | None,
    head: BaseMessage | None,
    cached: bool,
) -> None:
    new_input = [HumanMessage("the new question")]
    budget = None if window is None else WindowBudget(context_window=window, reply_reserve=0)
    count = IdentityCache(tokens) if cached else tokens
    expected, expected_full = reference_fit(messages, new_input, budget, cap, head)
    fixed = sum(map(tokens, new_input)) + (
        tokens(head if head is not None else messages[0])
        if (head is not None and isinstance(head, SystemMessage))
        or (head is None and messages and isinstance(messages[0], SystemMessage))
        else 0
    )
    if budget is not None and fixed > budget.prompt_tokens:
        with pytest.raises(ContextWindowExceededError):
            fit_history(messages, new_input, count, budget=budget, max_messages=cap, head=head)
        return
    fit = fit_history(messages, new_input, count, budget=budget, max_messages=cap, head=head)
    assert same_objects(fit.messages, expected)
    assert fit.budget_full == expected_full


@settings(max_examples=500, deadline=None)
@given(
    messages=history(),
    left=st.one_of(st.none(), st.integers(0, 400)),
    cap=st.one_of(st.none(), st.integers(0, 45)),
)
def test_newest_fitting_matches_the_per_segment_rules(
    messages: list[BaseMessage], left: int | None, cap: int | None
) -> None:
    segments = reference_split_turns(messages)
    got = newest_fitting(segments, IdentityCache(tokens), tokens=left, messages=cap)
    assert got == reference_newest_fitting(segments, left, cap)


def test_long_windows_cross_the_counting_batches() -> None:
    """Windows longer than the first counting batch (64) cut at the same turn."""
    messages: list[BaseMessage] = []
    for index in range(400):
        messages += [HumanMessage("q" * (index % 7)), AIMessage("a" * (index % 11))]
    for window in (10, 150, 700, 1_500, 3_000, 5_000):
        budget = WindowBudget(context_window=window, reply_reserve=0)
        for cap in (None, 63, 64, 65, 300, 1_000):
            expected, full = reference_fit(messages, [HumanMessage("q")], budget, cap, None)
            fit = fit_history(
                messages, [HumanMessage("q")], tokens, budget=budget, max_messages=cap
            )
            assert same_objects(fit.messages, expected), (window, cap)
            assert fit.budget_full == full


def test_only_the_newest_messages_are_counted() -> None:
    """A long window that mostly does not fit is not counted whole."""
    counted: list[BaseMessage] = []

    def counting(message: BaseMessage) -> int:
        counted.append(message)
        return 10

    messages: list[BaseMessage] = []
    for _ in range(1_000):
        messages += [HumanMessage("q"), AIMessage("a")]
    budget = WindowBudget(context_window=200, reply_reserve=0)
    fit = fit_history(messages, [HumanMessage("q")], counting, budget=budget)
    assert len(fit.messages) == 18  # 190 tokens left after the input: 9 turns of 20
    assert len(counted) <= 1 + 64  # the input, then the first batch of newest messages


def test_a_negative_token_count_is_refused() -> None:
    """The cut is found by bisecting running totals, which needs counts of at least zero."""
    messages: list[BaseMessage] = [HumanMessage("q"), AIMessage("a")]
    budget = WindowBudget(context_window=100, reply_reserve=0)
    with pytest.raises(ValueError, match="negative"):
        fit_history(messages, [], lambda m: -1, budget=budget)
