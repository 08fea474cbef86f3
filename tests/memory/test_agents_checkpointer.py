"""``create_agent(ChatArcee(...), tools, checkpointer=...)`` over a strict loopback server.

The strict server (``strict_reasoning=True``) answers 400 when an earlier assistant message it
produced with reasoning comes back without it, and when a tool call is left unanswered: every
later turn passing proves the checkpointed reasoning and tool messages are resent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import SummarizationMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from langchain_arcee import ChatArcee
from tests.arcee_server import ArceeTestServer
from tests.sample_texts import PROSE

pytestmark = pytest.mark.loopback


@tool
def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"sunny in {city}"


@pytest.fixture
def server(arcee_server: ArceeTestServer) -> ArceeTestServer:
    arcee_server.set_option(strict_reasoning=True)
    return arcee_server


def model(server: ArceeTestServer, **kwargs: Any) -> ChatArcee:
    return ChatArcee(api_key="test", base_url=server.base_url, max_retries=0, **kwargs)


def thread(name: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": name}}


def assert_turn_one_resent(server: ArceeTestServer) -> None:
    """The last request carries turn 1's tool call, its reasoning and the tool result."""
    sent = server.last_request.body["messages"]
    call = next(m for m in sent if m["role"] == "assistant" and m.get("tool_calls"))
    assert call["reasoning_content"] and call["content"] == ""
    result = next(m for m in sent if m["role"] == "tool")
    assert result["tool_call_id"] == call["tool_calls"][0]["id"]
    assert result["content"] == "sunny in Paris"
    answer = next(m for m in sent if m["role"] == "assistant" and not m.get("tool_calls"))
    assert answer["reasoning_content"]


def run_two_turns(agent: Any, name: str) -> list[Any]:
    agent.invoke({"messages": [HumanMessage("What's the weather in Paris?")]}, thread(name))
    state = agent.invoke({"messages": [HumanMessage("And tomorrow?")]}, thread(name))
    return list(state["messages"])


def test_in_memory_saver_resends_reasoning_and_tool_turns(server: ArceeTestServer) -> None:
    agent = create_agent(model(server), [get_weather], checkpointer=InMemorySaver())
    messages = run_two_turns(agent, "t1")
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "HumanMessage",
        "AIMessage",
    ]
    assert messages[1].additional_kwargs["reasoning_content"]
    assert_turn_one_resent(server)


@pytest.fixture
def sqlite_saver(tmp_path: Path) -> Iterator[tuple[Path, BaseCheckpointSaver[Any]]]:
    sqlite = pytest.importorskip("langgraph.checkpoint.sqlite")
    path = tmp_path / "checkpoints.db"
    with sqlite.SqliteSaver.from_conn_string(str(path)) as saver:
        yield path, saver


def test_sqlite_checkpointer_resumes_in_a_new_process_state(
    server: ArceeTestServer, sqlite_saver: tuple[Path, BaseCheckpointSaver[Any]]
) -> None:
    path, saver = sqlite_saver
    agent = create_agent(model(server), [get_weather], checkpointer=saver)
    agent.invoke({"messages": [HumanMessage("What's the weather in Paris?")]}, thread("t2"))
    sqlite = pytest.importorskip("langgraph.checkpoint.sqlite")
    with sqlite.SqliteSaver.from_conn_string(str(path)) as reopened:  # as after a restart
        again = create_agent(model(server), [get_weather], checkpointer=reopened)
        state = again.invoke({"messages": [HumanMessage("And tomorrow?")]}, thread("t2"))
    assert len(state["messages"]) == 6
    assert_turn_one_resent(server)


async def test_async_sqlite_checkpointer(server: ArceeTestServer, tmp_path: Path) -> None:
    aio = pytest.importorskip("langgraph.checkpoint.sqlite.aio")
    async with aio.AsyncSqliteSaver.from_conn_string(str(tmp_path / "a.db")) as saver:
        agent = create_agent(model(server), [get_weather], checkpointer=saver)
        await agent.ainvoke({"messages": [HumanMessage("Weather in Paris?")]}, thread("t3"))
        await agent.ainvoke({"messages": [HumanMessage("And tomorrow?")]}, thread("t3"))
    assert_turn_one_resent(server)


def test_summarization_middleware_fraction_trigger_reads_the_profile(
    server: ArceeTestServer,
) -> None:
    """The fraction trigger needs ``profile["max_input_tokens"]``: ChatArcee reports its window."""
    llm = model(server, context_window=3000)
    assert llm.profile is not None and llm.profile["max_input_tokens"] == 3000
    summarize = SummarizationMiddleware(llm, trigger=("fraction", 0.5), keep=("messages", 4))
    agent = create_agent(llm, [get_weather], middleware=[summarize], checkpointer=InMemorySaver())
    agent.invoke({"messages": [HumanMessage("What's the weather in Paris?")]}, thread("t4"))
    for turn in range(8):
        agent.invoke({"messages": [HumanMessage(f"Turn {turn}: {PROSE[:400]}")]}, thread("t4"))
    prompts = [r.body["messages"] for r in server.chat_requests]
    summaries = [p for p in prompts if "Messages to summarize" in p[-1]["content"]]
    assert summaries, "the fraction trigger never fired"
    final = agent.get_state(thread("t4")).values["messages"]
    assert isinstance(final[0], HumanMessage) and "summary" in str(final[0].content).lower()
    assert len(final) < 2 + 2 * 8  # older turns were replaced by the summary
    # every request after summarizing is still valid for the strict server (no orphan tool
    # result, reasoning of each kept assistant message resent)
    for message in final:
        if isinstance(message, AIMessage) and message.tool_calls:
            assert message.additional_kwargs.get("reasoning_content")
        assert not isinstance(message, ToolMessage) or any(
            isinstance(m, AIMessage) and m.tool_calls for m in final
        )
