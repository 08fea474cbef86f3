# ruff: noqa: RUF001 (full-width CJK punctuation is the point)
"""A window that never overflows: calibration from the server's counts and one overflow retry.

Over the loopback server, which counts tokens like a tokenizer (about one per CJK character)
and rejects an over-window request with vLLM's 400.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.exceptions import ContextOverflowError
from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import InMemoryChatStore
from tests.arcee_server import ArceeTestServer, Reply, count_prompt_tokens

pytestmark = pytest.mark.loopback

MODEL = "trinity-mini"
WINDOW = 2048
RESERVE = 256
QUESTION = "请用两三句话解释一下第{n}个问题：小型语言模型为什么回答迅速、成本低廉？"
ANSWER = "小型语言模型参数较少，推理时计算量小，所以回答迅速、成本低廉。"


def naive(message: BaseMessage) -> int:
    """LangChain's ~4 characters per token: 3-4x low on Chinese."""
    return count_tokens_approximately([message])


def chat_over(server: ArceeTestServer, **options: Any) -> RunnableWithMemory:
    server.set_responder(lambda _body: Reply(content=ANSWER))
    model = ChatArcee(model=MODEL, api_key="test", base_url=server.base_url, max_retries=0)
    return RunnableWithMemory(
        model, InMemoryChatStore(), context_window=WINDOW, reply_reserve=RESERVE, **options
    )


@pytest.fixture
def small_window_server() -> Any:
    with ArceeTestServer(context_lengths={MODEL: WINDOW}) as server:
        yield server


def run_turns(chat: RunnableWithMemory, turns: int) -> int:
    session = uuid.uuid4().hex
    failed = 0
    for n in range(turns):
        try:
            chat.invoke(QUESTION.format(n=n), {"configurable": {"session_id": session}})
        except ContextOverflowError:
            failed += 1
    return failed


def test_calibration_keeps_a_misjudged_language_inside_the_window(
    small_window_server: ArceeTestServer,
) -> None:
    # Without calibration the naive estimate overflows the window again and again ...
    assert run_turns(chat_over(small_window_server, token_counter=naive, calibrate=False), 40) > 0
    # ... with it, the server's counts teach the ratio and no turn fails.
    calibrated = chat_over(small_window_server, token_counter=naive)
    assert run_turns(calibrated, 40) == 0
    assert calibrated._calibration is not None
    assert calibrated._calibration.factor(MODEL) > 2  # learned: Chinese is ~3-4x the estimate
    last = small_window_server.chat_requests[-1]
    assert count_prompt_tokens(last.body) / (WINDOW - RESERVE) > 0.7  # the window is used


def test_an_overflow_is_retried_once_with_a_smaller_window_and_stored_once(
    small_window_server: ArceeTestServer,
) -> None:
    chat = chat_over(small_window_server)
    session = uuid.uuid4().hex
    config = {"configurable": {"session_id": session}}
    for n in range(40):  # more than the window holds
        chat.invoke(QUESTION.format(n=n), config)
    store = chat.get_session_history
    assert isinstance(store, InMemoryChatStore)
    before = len(store.load(session))
    requests_before = len(small_window_server.chat_requests)
    small_window_server.fail_next(
        status=400,
        message=(
            f"This model's maximum context length is {WINDOW} tokens. However, your request "
            "has 2600 input tokens. Please reduce the length of the input messages."
        ),
    )
    chat.invoke(QUESTION.format(n=99), config)
    first, retry = small_window_server.chat_requests[requests_before:]
    assert len(retry.body["messages"]) < len(first.body["messages"])  # a smaller window
    assert retry.body["messages"][-1] == first.body["messages"][-1]  # the same question
    assert len(store.load(session)) == before + 2  # the turn is stored once


def test_a_final_overflow_stores_nothing_and_names_the_session(
    small_window_server: ArceeTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A counter that sees almost nothing: even the smaller retry overflows.
    chat = chat_over(small_window_server, token_counter=lambda _m: 1, calibrate=False)
    session = f"overflow-{uuid.uuid4().hex[:6]}"
    config = {"configurable": {"session_id": session}}
    for n in range(6):
        chat.invoke(QUESTION.format(n=n) * 3, config)  # fills the window (stored)
    store = chat.get_session_history
    assert isinstance(store, InMemoryChatStore)
    stored_before = len(store.load(session))
    failures = 0
    for n in range(6, 30):
        try:
            chat.invoke(QUESTION.format(n=n) * 3, config)
        except ContextOverflowError:
            failures += 1
            assert len(store.load(session)) == stored_before
        stored_before = len(store.load(session))
    assert failures > 0
    assert any(
        session in r.getMessage() and "retrying once" in r.getMessage() for r in caplog.records
    )
