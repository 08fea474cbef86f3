"""Bad and odd input through RunnableWithMemory + ChatArcee + every store.

Extends (does not repeat) ``tests/stores/test_conformance.py`` (store-level round trips and
session-id isolation, property round trip) and ``tests/memory/test_window.py`` (pure window
properties): here the same promises are checked end to end, through real HTTP and real stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_arcee import ChatArcee
from langchain_arcee.memory import ContextWindowExceededError, RunnableWithMemory
from langchain_arcee.stores import ChatStore, InMemoryChatStore, SQLiteChatStore
from tests.arcee_server import ArceeTestServer
from tests.memory.fakes import ScriptedChatModel
from tests.memory.test_window import assert_no_split_tool_group, conversation
from tests.reliability.support import (
    StoreUnderTest,
    cfg,
    check_echo_conversation,
    snapshot,
    unique,
    user_texts,
)

pytestmark = pytest.mark.loopback

ODD_TEXTS = {
    "empty": "",
    "whitespace": "  \n\t \r\n ",
    "nul-and-controls": "a\x00b\x01c\x07d\x08e\x0bf\x0cg\x1b[31mred\x1b[0m\x7f",
    "bidi-and-zero-width": "\u202eevil\u202c \u200b\u200d\ufeff",
    "combining-and-emoji": "e\u0301 \U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f3f3\ufe0f",
    "astral-and-cjk": "\U00010348 \U0001d11e 中文 日本語 한국어",
    "quotes-and-escapes": "'\"\\n\\u0000 `${x}` %s {0} <script>",
    "json-lookalike": '{"type": "ai", "data": {"content": "not really"}}',
}

SESSION_IDS = {
    "sql-injection": "x'; DROP TABLE arcee_messages; --",
    "sql-wildcards": "50%_off\\",
    "redis-glob": "sess:*?[a-z]",
    "redis-protocol": "a\r\nSET pwned 1\r\n",
    "spaces-unicode": "  ünï cødé 会话  ",
    "path-like": "../../etc/passwd",
}


@pytest.mark.parametrize("text", list(ODD_TEXTS.values()), ids=list(ODD_TEXTS))
def test_odd_text_round_trips_exactly_through_http_and_store(
    sut: StoreUnderTest, chat: RunnableWithMemory, text: str
) -> None:
    session = unique("s")
    chat.invoke(text, cfg(session))
    chat.invoke("and then?", cfg(session))
    stored = sut.store.load(session)
    assert user_texts(stored) == [text, "and then?"]
    assert check_echo_conversation(stored) == []  # the server got the text back exactly


def test_metacharacter_session_ids_are_isolated(
    sut: StoreUnderTest, chat: RunnableWithMemory
) -> None:
    suffix = unique("")
    for name, session in SESSION_IDS.items():
        chat.invoke(f"hello from {name}", cfg(session + suffix))
    for name, session in SESSION_IDS.items():
        stored = sut.store.load(session + suffix)
        assert user_texts(stored) == [f"hello from {name}"]
        assert check_echo_conversation(stored) == []
    assert sut.store.load(suffix + "*") == []


@pytest.mark.parametrize(
    ("config", "error", "match"),
    [
        ({"configurable": {"session_id": 123}}, TypeError, "must be a str"),
        ({"configurable": {"session_id": None}}, TypeError, "must be a str"),
        ({"configurable": {"session_id": ""}}, ValueError, "non-empty"),
        ({"configurable": {}}, ValueError, "session_id"),
        (None, ValueError, "session_id"),
    ],
    ids=["int", "none", "empty", "missing", "no-config"],
)
def test_bad_session_config_fails_before_anything_is_sent(
    chat: RunnableWithMemory,
    arcee_server: ArceeTestServer,
    config: Any,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        chat.invoke("hi", config)
    assert arcee_server.count("chat") == 0


@pytest.mark.parametrize("value", [None, 42, {"unknown": 1}], ids=["none", "int", "dict"])
def test_bad_input_value_fails_clearly_and_stores_nothing(
    sut: StoreUnderTest, chat: RunnableWithMemory, arcee_server: ArceeTestServer, value: Any
) -> None:
    session = unique("s")
    chat.invoke("first", cfg(session))
    before = snapshot(sut.store, session)
    arcee_server.reset()
    with pytest.raises(ValueError, match="Expected str, BaseMessage"):
        chat.invoke(value, cfg(session))
    assert arcee_server.count("chat") == 0
    assert snapshot(sut.store, session) == before


def test_input_larger_than_context_window_is_refused_and_nothing_stored(
    sut: StoreUnderTest, make_model: Callable[..., ChatArcee], arcee_server: ArceeTestServer
) -> None:
    chat = RunnableWithMemory(make_model(context_window=2_000), sut.store, reply_reserve=500)
    session = unique("s")
    chat.invoke("small question", cfg(session))
    before = snapshot(sut.store, session)
    arcee_server.reset()
    with pytest.raises(ContextWindowExceededError, match="Nothing was sent or stored"):
        chat.invoke("x" * 50_000, cfg(session))
    assert arcee_server.count("chat") == 0
    assert snapshot(sut.store, session) == before
    chat.invoke("small again", cfg(session))
    assert user_texts(sut.store.load(session)) == ["small question", "small again"]


def test_unknown_model_fails_naming_it_and_stores_nothing(
    sut: StoreUnderTest, make_model: Callable[..., ChatArcee]
) -> None:
    chat = RunnableWithMemory(make_model(model="acme/unknown-model-7b"), sut.store)
    session = unique("s")
    with pytest.raises(Exception, match="Arcee API error 404: Model 'acme/unknown-model-7b'"):
        chat.invoke("hi", cfg(session))
    assert sut.store.load(session) == []


# ---- property: what the adapter sends always fits, whatever is stored ------------------------
def _tokens(message: BaseMessage) -> int:
    return len(str(message.content)) + 1


@pytest.fixture(params=["memory", "sqlite"])
def window_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChatStore]:
    if request.param == "memory":
        yield InMemoryChatStore(max_messages_per_session=None)
        return
    store = SQLiteChatStore(tmp_path / "window.db")
    yield store
    store.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=conversation(),
    window=st.integers(40, 400),
    initial=st.integers(1, 8),
    question=st.text(max_size=30),
)
def test_sent_history_fits_budget_keeps_newest_and_whole_tool_groups(
    window_store: ChatStore, history: list[BaseMessage], window: int, initial: int, question: str
) -> None:
    """End to end through a real store and the growing reads: the request never exceeds the
    budget, never splits a tool group, always ends with the new user message, and the store
    keeps everything (history + the new turn)."""
    model = ScriptedChatModel(replies=["ok"])
    chat = RunnableWithMemory(
        model,
        window_store,
        context_window=window,
        reply_reserve=10,
        token_counter=_tokens,
        initial_history_messages=initial,
    )
    session = unique("p")
    if history:
        window_store.append(session, history)
    new = HumanMessage(question, id="newest")
    fixed = _tokens(new) + (
        _tokens(history[0]) if history and isinstance(history[0], SystemMessage) else 0
    )
    if fixed > window - 10:
        with pytest.raises(ContextWindowExceededError):
            chat.invoke([new], cfg(session))
        assert window_store.count(session) == len(history)
        return
    chat.invoke([new], cfg(session))
    (sent,) = model.requests
    assert sum(map(_tokens, sent)) <= window - 10
    assert sent[-1].id == "newest"
    assert not isinstance(sent[0], ToolMessage)
    assert_no_split_tool_group(sent)
    if history and isinstance(history[0], SystemMessage):
        assert sent[0].id == history[0].id
    assert window_store.count(session) == len(history) + 2
