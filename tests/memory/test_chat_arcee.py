"""ChatArcee + RunnableWithMemory over the loopback Arcee server (real HTTP, Arcee's wire format).

The server runs with ``strict_reasoning``: a request that drops the reasoning of an assistant
message it produced is rejected, so these tests prove the reasoning round-trips through the
store and the window.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from langchain_arcee.chat_models import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import ChatStore
from tests.arcee_server import ArceeTestServer, Reply
from tests.memory.conftest import cfg

pytestmark = pytest.mark.loopback


@pytest.fixture
def server(arcee_server: ArceeTestServer) -> ArceeTestServer:
    arcee_server.set_option(strict_reasoning=True)
    return arcee_server


@pytest.fixture
def model(server: ArceeTestServer) -> ChatArcee:
    return ChatArcee(api_key="test", base_url=server.base_url, max_retries=0)


@tool
def lookup(city: str) -> str:
    """Weather of a city."""
    return f"sunny in {city}"


def roles(body: dict[str, Any]) -> list[str]:
    return [m["role"] for m in body["messages"]]


@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
async def test_chat_arcee_with_memory_round_trips_reasoning(
    server: ArceeTestServer, model: ChatArcee, store: ChatStore, mode: str
) -> None:
    server.enqueue(Reply(content="Hi Bob", reasoning="Greet Bob."), Reply(content="Bob"))
    chat = model.with_memory(store)
    assert isinstance(chat, RunnableWithMemory)
    assert chat.budget is not None and chat.budget.context_window == model.context_window
    for text in ("I'm Bob", "Name?"):
        if mode == "invoke":
            chat.invoke(text, cfg())
        elif mode == "stream":
            list(chat.stream(text, cfg()))
        elif mode == "ainvoke":
            await chat.ainvoke(text, cfg())
        else:
            [c async for c in chat.astream(text, cfg())]
    body = server.last_request.body
    assert roles(body) == ["user", "assistant", "user"]
    assert body["messages"][1]["reasoning_content"] == "Greet Bob."
    stored = await store.aload("s1")
    assert [type(m) for m in stored] == [HumanMessage, AIMessage] * 2
    assert stored[1].additional_kwargs["reasoning_content"] == "Greet Bob."


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_create_agent_with_chat_arcee_stores_whole_turn(
    server: ArceeTestServer, model: ChatArcee, store: ChatStore, mode: str
) -> None:
    server.enqueue(
        Reply(
            reasoning="Need weather.",
            tool_calls=[{"name": "lookup", "arguments": {"city": "Paris"}}],
        ),
        Reply(content="It is sunny.", reasoning="Answer."),
        Reply(content="You asked about Paris.", reasoning="Recall."),
    )
    agent = create_agent(model, [lookup])
    chat = RunnableWithMemory(
        agent,
        store,
        input_messages_key="messages",
        output_messages_key="messages",
        context_window=model.context_window,
    )
    for text in ("Weather in Paris?", "Which city did I ask about?"):
        value = {"messages": [HumanMessage(text)]}
        if mode == "invoke":
            chat.invoke(value, cfg())
        else:
            list(chat.stream(value, cfg()))
    stored = store.load("s1")
    assert [type(m).__name__ for m in stored] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "HumanMessage",
        "AIMessage",
    ]
    assert (
        stored[1].tool_calls and stored[1].additional_kwargs["reasoning_content"] == "Need weather."
    )
    assert (
        isinstance(stored[2], ToolMessage)
        and stored[2].tool_call_id == stored[1].tool_calls[0]["id"]
    )
    body = server.last_request.body  # turn 2: valid, with the agent's reasoning (strict server)
    assert roles(body) == ["user", "assistant", "tool", "assistant", "user"]
    assert body["messages"][1]["reasoning_content"] == "Need weather."
    assert body["messages"][1]["content"] == ""


def test_chat_arcee_token_counter_is_used(model: ChatArcee) -> None:
    chat = RunnableWithMemory(model, lambda session_id: None)  # type: ignore[arg-type,return-value]
    message = AIMessage("hello", additional_kwargs={"reasoning_content": "x" * 400}, id="m1")
    assert chat._count(message) == model.get_num_tokens_from_messages([message])


@pytest.mark.filterwarnings("ignore::langchain_core._api.deprecation.LangChainDeprecationWarning")
@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_stock_rwmh_works_with_chat_arcee_and_stores(
    server: ArceeTestServer, model: ChatArcee, store: ChatStore, mode: str
) -> None:
    from langchain_core.runnables.history import RunnableWithMessageHistory

    chat = RunnableWithMessageHistory(model, store.history)
    for text in ("I'm Bob", "Name?"):
        if mode == "invoke":
            chat.invoke(text, cfg())
        else:
            list(chat.stream(text, cfg()))
    # The strict server accepted turn 2, so turn 1's reasoning came back from the store.
    second = server.chat_requests[-1].body["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["reasoning_content"]
    assert len(store.load(cfg()["configurable"]["session_id"])) == 4
