"""Contract parity with ``RunnableWithMessageHistory``.

The same scenarios run through stock RWMH and through ``RunnableWithMemory`` (only the class
name differs); the stored conversations and the requests the model sees must match. RWMH's own
documented examples are ported verbatim (model swapped for a scripted fake).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import ConfigurableFieldSpec
from langchain_core.runnables.history import RunnableWithMessageHistory
from pydantic import BaseModel, Field

from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import InMemoryChatStore
from tests.memory.fakes import ScriptedChatModel

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class InMemoryHistory(BaseChatMessageHistory, BaseModel):
    """In memory implementation of chat message history (from RWMH's docstring)."""

    messages: list[BaseMessage] = Field(default_factory=list)

    def add_messages(self, messages: list[BaseMessage]) -> None:  # type: ignore[override]
        """Add a list of messages to the store"""
        self.messages.extend(messages)

    def clear(self) -> None:
        self.messages = []


def make_rwmh(*args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RunnableWithMessageHistory(*args, **kwargs)


IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    "rwmh": make_rwmh,
    "memory": RunnableWithMemory,
}


def content(messages: list[BaseMessage]) -> list[tuple[str, Any]]:
    # RWMH stores a streamed reply as an AIMessageChunk (a known flaw); compare by role.
    return [("ai" if m.type == "AIMessageChunk" else m.type, m.content) for m in messages]


@pytest.fixture(params=list(IMPLEMENTATIONS))
def wrapper(request: pytest.FixtureRequest) -> Callable[..., Any]:
    return IMPLEMENTATIONS[request.param]


def test_docstring_example_dict_input(wrapper: Callable[..., Any]) -> None:
    # Here we use a global variable to store the chat message history.
    store: dict[str, InMemoryHistory] = {}

    def get_by_session_id(session_id: str) -> BaseChatMessageHistory:
        if session_id not in store:
            store[session_id] = InMemoryHistory()
        return store[session_id]

    history = get_by_session_id("1")
    history.add_message(AIMessage(content="hello"))

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You're an assistant who's good at {ability}"),
            MessagesPlaceholder(variable_name="history"),
            ("human", "{question}"),
        ]
    )
    model = ScriptedChatModel(replies=["Cosine is...", "Arccos"])
    chain = prompt | model

    chain_with_history = wrapper(
        chain,
        get_by_session_id,
        input_messages_key="question",
        history_messages_key="history",
    )
    out = chain_with_history.invoke(
        {"ability": "math", "question": "What does cosine mean?"},
        config={"configurable": {"session_id": "foo"}},
    )
    assert out.content == "Cosine is..."
    chain_with_history.invoke(
        {"ability": "math", "question": "What's its inverse"},
        config={"configurable": {"session_id": "foo"}},
    )
    assert content(store["foo"].messages) == [
        ("human", "What does cosine mean?"),
        ("ai", "Cosine is..."),
        ("human", "What's its inverse"),
        ("ai", "Arccos"),
    ]
    assert content(store["1"].messages) == [("ai", "hello")]
    assert content(model.requests[1]) == [
        ("system", "You're an assistant who's good at math"),
        ("human", "What does cosine mean?"),
        ("ai", "Cosine is..."),
        ("human", "What's its inverse"),
    ]


def test_docstring_example_composite_keys(wrapper: Callable[..., Any]) -> None:
    store: dict[tuple[str, str], InMemoryHistory] = {}

    def get_session_history(user_id: str, conversation_id: str) -> BaseChatMessageHistory:
        if (user_id, conversation_id) not in store:
            store[(user_id, conversation_id)] = InMemoryHistory()
        return store[(user_id, conversation_id)]

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You're an assistant who's good at {ability}"),
            MessagesPlaceholder(variable_name="history"),
            ("human", "{question}"),
        ]
    )
    chain = prompt | ScriptedChatModel()
    with_message_history = wrapper(
        chain,
        get_session_history=get_session_history,
        input_messages_key="question",
        history_messages_key="history",
        history_factory_config=[
            ConfigurableFieldSpec(
                id="user_id",
                annotation=str,
                name="User ID",
                description="Unique identifier for the user.",
                default="",
                is_shared=True,
            ),
            ConfigurableFieldSpec(
                id="conversation_id",
                annotation=str,
                name="Conversation ID",
                description="Unique identifier for the conversation.",
                default="",
                is_shared=True,
            ),
        ],
    )
    with_message_history.invoke(
        {"ability": "math", "question": "What does cosine mean?"},
        config={"configurable": {"user_id": "123", "conversation_id": "1"}},
    )
    with_message_history.invoke(
        {"ability": "math", "question": "other"},
        config={"configurable": {"user_id": "123", "conversation_id": "2"}},
    )
    assert content(store[("123", "1")].messages) == [
        ("human", "What does cosine mean?"),
        ("ai", "reply 0"),
    ]
    assert content(store[("123", "2")].messages) == [("human", "other"), ("ai", "reply 1")]
    spec_ids = {s.id for s in with_message_history.config_specs}
    assert {"user_id", "conversation_id"} <= spec_ids


SCENARIOS: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("messages", {}, ["hi", [HumanMessage("again")]]),
    ("input_key", {"input_messages_key": "input"}, [{"input": "hi"}, {"input": "again"}]),
    (
        "input_and_output_key",
        {"input_messages_key": "input", "output_messages_key": "output"},
        [{"input": "hi"}, {"input": "again"}],
    ),
]


@pytest.mark.parametrize(("name", "options", "inputs"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_same_stored_conversation_and_requests(
    name: str, options: dict[str, Any], inputs: list[Any], mode: str
) -> None:
    results = {}
    for impl, make in IMPLEMENTATIONS.items():
        histories: dict[str, InMemoryHistory] = {}

        def factory(session_id: str, histories: dict[str, InMemoryHistory] = histories) -> Any:
            return histories.setdefault(session_id, InMemoryHistory())

        model = ScriptedChatModel(replies=["one", "two"])
        runnable: Any = model
        if "input_messages_key" in options:
            runnable = (lambda d: d["input"]) | model
        if "output_messages_key" in options:
            runnable = runnable | (lambda m: {"output": m})
        chat = make(runnable, factory, **options)
        for value in inputs:
            config = {"configurable": {"session_id": "x"}}
            if mode == "invoke":
                chat.invoke(value, config)
            else:
                list(chat.stream(value, config))
        results[impl] = (content(histories["x"].messages), [content(r) for r in model.requests])
        if impl == "memory":
            assert all(type(m) is not AIMessageChunk for m in histories["x"].messages)
    assert results["memory"] == results["rwmh"]


def test_store_history_factory_takes_the_fast_path() -> None:
    store = InMemoryChatStore()
    calls: list[int | None] = []
    original = store.try_begin_turn

    def spy(session_id: str, token: str, *, last: int | None, lease_seconds: float) -> Any:
        calls.append(last)
        return original(session_id, token, last=last, lease_seconds=lease_seconds)

    store.try_begin_turn = spy  # type: ignore[method-assign]
    chat = RunnableWithMemory(ScriptedChatModel(), store.history, max_history_messages=50)
    chat.invoke("hi", {"configurable": {"session_id": "s"}})
    assert calls == [51]  # the store's turn protocol with a windowed read, not a full load
