"""Agents and tool loops: the whole turn is stored, the next request is valid."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import ChatStore, InMemoryChatStore
from tests.memory.conftest import cfg
from tests.memory.fakes import ScriptedChatModel, ai


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def agent_script() -> list[Any]:
    return [
        ai(
            "",
            reasoning="need add",
            tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}],
        ),
        ai(
            "",
            reasoning="again",
            tool_calls=[{"name": "add", "args": {"a": 3, "b": 4}, "id": "c2"}],
        ),
        ai("3 and 7", reasoning="done"),
        ai(
            "",
            reasoning="turn 2 tool",
            tool_calls=[{"name": "add", "args": {"a": 5, "b": 5}, "id": "c3"}],
        ),
        ai("10", reasoning="done 2"),
    ]


def assert_valid_request(messages: list[BaseMessage]) -> None:
    """Every tool call is answered by the following ToolMessages; no orphan tool result."""
    pending: set[str] = set()
    for message in messages:
        if isinstance(message, ToolMessage):
            assert message.tool_call_id in pending, f"orphan tool result {message.tool_call_id}"
            pending.discard(message.tool_call_id)
        else:
            assert not pending, f"unanswered tool calls {pending}"
            if isinstance(message, AIMessage):
                pending = {c["id"] for c in message.tool_calls if c["id"]}
    assert not pending


def kinds(messages: list[BaseMessage]) -> list[str]:
    out = []
    for m in messages:
        name = type(m).__name__.replace("Message", "")
        if isinstance(m, AIMessage) and m.tool_calls:
            name += "(calls)"
        out.append(name)
    return out


TURN_1 = ["Human", "AI(calls)", "Tool", "AI(calls)", "Tool", "AI"]
TURN_2 = ["Human", "AI(calls)", "Tool", "AI"]


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream", "astream"])
async def test_create_agent_turn_is_stored_whole(store: ChatStore, mode: str) -> None:
    model = ScriptedChatModel(replies=agent_script())
    agent = create_agent(model, [add])
    chat = RunnableWithMemory(
        agent, store, input_messages_key="messages", output_messages_key="messages"
    )
    for text in ("add 1+2 and 3+4", "and 5+5?"):
        value = {"messages": [HumanMessage(text)]}
        if mode == "invoke":
            chat.invoke(value, cfg())
        elif mode == "ainvoke":
            await chat.ainvoke(value, cfg())
        elif mode == "stream":
            list(chat.stream(value, cfg()))
        else:
            [c async for c in chat.astream(value, cfg())]

    stored = await store.aload("s1")
    assert kinds(stored) == TURN_1 + TURN_2  # no re-echoed history
    assert [
        m.additional_kwargs.get("reasoning_content") for m in stored if isinstance(m, AIMessage)
    ] == [
        "need add",
        "again",
        "done",
        "turn 2 tool",
        "done 2",
    ]
    assert [m.content for m in stored if isinstance(m, ToolMessage)] == ["3", "7", "10"]
    # turn 2's first request carried all of turn 1 (with reasoning) and was valid
    first_request_turn_2 = model.requests[3]
    assert kinds(first_request_turn_2) == [*TURN_1, "Human"]
    assert first_request_turn_2[1].additional_kwargs["reasoning_content"] == "need add"
    for request in model.requests:
        assert_valid_request(request)
    ids = [m.id for m in stored if m.id is not None]
    assert len(set(ids)) == len(ids)  # nothing stored twice


def test_hand_written_tool_loop_returning_only_new_messages() -> None:
    model = ScriptedChatModel(replies=agent_script())

    def loop(messages: list[BaseMessage]) -> list[BaseMessage]:
        produced: list[BaseMessage] = []
        while True:
            reply = model.invoke(messages + produced)
            produced.append(reply)
            if not reply.tool_calls:
                return produced
            for call in reply.tool_calls:
                produced.append(ToolMessage(str(add.invoke(call["args"])), tool_call_id=call["id"]))

    store = InMemoryChatStore()
    chat = RunnableWithMemory(RunnableLambda(loop), store)
    chat.invoke("add", cfg())
    chat.invoke("more", cfg())
    assert kinds(store.load("s1")) == TURN_1 + TURN_2
    for request in model.requests:
        assert_valid_request(request)


def test_hand_written_loop_echoing_history_stores_only_new() -> None:
    model = ScriptedChatModel(replies=agent_script())

    def loop(messages: list[BaseMessage]) -> dict[str, Any]:
        conversation = list(messages)
        while True:
            reply = model.invoke(conversation)
            conversation.append(reply)
            if not reply.tool_calls:
                return {"messages": conversation, "steps": len(conversation)}
            for call in reply.tool_calls:
                conversation.append(
                    ToolMessage(str(add.invoke(call["args"])), tool_call_id=call["id"])
                )

    store = InMemoryChatStore()
    chat = RunnableWithMemory(RunnableLambda(loop), store, output_messages_key="messages")
    chat.invoke("add", cfg())
    chat.invoke("more", cfg())
    assert kinds(store.load("s1")) == TURN_1 + TURN_2


def test_tool_results_as_input_continue_the_turn() -> None:
    """A caller-driven loop: the input is a ToolMessage answering the stored tool call."""
    store = InMemoryChatStore()
    model = ScriptedChatModel(replies=[agent_script()[0], ai("3")])
    chat = RunnableWithMemory(model, store)
    reply = chat.invoke("add 1 and 2", cfg())
    chat.invoke([ToolMessage("3", tool_call_id=reply.tool_calls[0]["id"])], cfg())
    assert kinds(store.load("s1")) == ["Human", "AI(calls)", "Tool", "AI"]
    assert_valid_request(model.requests[1])


def test_create_agent_stream_mode_values() -> None:
    store = InMemoryChatStore()
    agent = create_agent(ScriptedChatModel(replies=agent_script()), [add])
    chat = RunnableWithMemory(
        agent, store, input_messages_key="messages", output_messages_key="messages"
    )
    for text in ("add", "more"):
        list(chat.stream({"messages": [HumanMessage(text)]}, cfg(), stream_mode="values"))
    assert kinds(store.load("s1")) == TURN_1 + TURN_2
