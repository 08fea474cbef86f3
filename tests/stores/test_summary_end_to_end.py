"""The running summary end to end: RunnableWithMemory + ChatArcee over the loopback server,
on every store, invoke/ainvoke/stream/astream.

A long conversation whose first turn says the user's name: once that turn no longer fits the
window, the model can only answer "what's my name?" through the stored summary.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.memory.summary import SUMMARY_HEADER, SummaryPolicy
from tests.arcee_server import ArceeTestServer, Reply
from tests.stores.conftest import Backend

pytestmark = pytest.mark.loopback


def _text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    return content if isinstance(content, str) else str(content)


def responder(body: dict[str, Any]) -> Reply:
    """The summarizer keeps name lines; the chat model says whether it can see the name."""
    last = _text(body["messages"][-1])
    if last.startswith("Previous summary:"):
        previous, new_turns = last.removeprefix("Previous summary:\n").split("\n\nNew turns", 1)
        kept = [] if previous.startswith("(none yet") else [previous]
        kept += [line for line in new_turns.splitlines() if "my name" in line.lower()]
        return Reply(content="\n".join(kept) or "Nothing to remember.")
    seen = " ".join(_text(m) for m in body["messages"])
    return Reply(content="You are Bob." if "my name is Bob" in seen else "I don't know.")


def summarizing_chat(backend: Backend, arcee_server: ArceeTestServer) -> RunnableWithMemory:
    """ChatArcee over the loopback server with a summary and a window of ~10 turns."""
    arcee_server.set_responder(responder)
    model = ChatArcee(api_key="test", base_url=arcee_server.base_url, max_retries=0)
    return RunnableWithMemory(
        model,
        backend.store,
        summary=SummaryPolicy(model, batch_turns=3),
        context_window=700,
        reply_reserve=100,
    )


async def run(chat: RunnableWithMemory, text: str, session: str, mode: str) -> str:
    config = {"configurable": {"session_id": session}}
    if mode == "invoke":
        return str(chat.invoke(text, config).content)
    if mode == "ainvoke":
        return str((await chat.ainvoke(text, config)).content)
    if mode == "stream":
        return "".join(str(c.content) for c in chat.stream(text, config))
    return "".join([str(c.content) async for c in chat.astream(text, config)])


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream", "astream"])
async def test_an_early_fact_is_answered_through_the_summary(
    backend: Backend, arcee_server: ArceeTestServer, mode: str
) -> None:
    chat = summarizing_chat(backend, arcee_server)
    session = f"sum-{uuid.uuid4().hex[:8]}"
    await run(chat, "Hi, my name is Bob.", session, mode)
    for index in range(30):
        await run(
            chat, f"Question {index}: tell me something about the number {index}.", session, mode
        )
    answer = await run(chat, "What's my name?", session, mode)

    requests = arcee_server.chat_requests
    last_chat = [r for r in requests if not _text(r.body["messages"][-1]).startswith("Previous")][
        -1
    ]
    sent = last_chat.body["messages"]
    humans = [_text(m) for m in sent if m["role"] == "user"]
    assert "Hi, my name is Bob." not in humans  # the first turn no longer fits the window
    summaries = [_text(m) for m in sent if m["role"] == "system"]
    assert len(summaries) == 1 and summaries[0].startswith(SUMMARY_HEADER)
    assert "my name is Bob" in summaries[0]
    assert answer == "You are Bob."

    # The transcript is whole and unchanged; the summary is stored beside it.
    stored = backend.store.load(session)
    assert len(stored) == 64 and stored[0].content == "Hi, my name is Bob."
    assert not any(isinstance(m, SystemMessage) for m in stored)
    summary = backend.store.load_summary(session)
    assert summary is not None and "my name is Bob" in summary.text
    summary_calls = len(requests) - 32
    assert 1 <= summary_calls <= 12  # batched: far fewer than one per turn


def test_the_summary_travels_inside_the_users_system_prompt(
    backend: Backend, arcee_server: ArceeTestServer
) -> None:
    """One leading system message: the user's prompt, then the summary.

    Chat templates that render only a leading system message drop a second one (the summary
    would never reach the model) or refuse the request.
    """
    chat = summarizing_chat(backend, arcee_server)
    session = f"sys-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"session_id": session}}
    prompt = "You answer briefly. PROMPT-7"
    chat.invoke([SystemMessage(prompt), HumanMessage("Hi, my name is Bob.")], config)
    for index in range(30):
        chat.invoke(f"Question {index}: tell me something about the number {index}.", config)
    assert chat.invoke("What's my name?", config).content == "You are Bob."

    chats = [
        r
        for r in arcee_server.chat_requests
        if not _text(r.body["messages"][-1]).startswith("Previous")
    ]
    sent = chats[-1].body["messages"]
    assert [m["role"] for m in sent].count("system") == 1
    assert sent[0]["role"] == "system"
    assert sent[0]["content"].startswith(prompt + "\n\n" + SUMMARY_HEADER)
    assert "my name is Bob" in sent[0]["content"]
    stored = backend.store.load(session)
    assert stored[0].content == prompt  # the stored prompt itself is unchanged


async def test_a_failing_summarizer_never_fails_the_turn(
    backend: Backend, arcee_server: ArceeTestServer
) -> None:
    arcee_server.set_responder(responder)
    model = ChatArcee(api_key="test", base_url=arcee_server.base_url, max_retries=0)
    broken = ChatArcee(api_key="test", base_url="http://127.0.0.1:9/api/v1", max_retries=0)
    chat = RunnableWithMemory(
        model, backend.store, summary=broken, context_window=500, reply_reserve=100
    )
    session = f"sum-{uuid.uuid4().hex[:8]}"
    for index in range(20):
        await run(
            chat, f"Question {index}: a fairly long question to fill the window.", session, "invoke"
        )
    assert backend.store.load_summary(session) is None  # nothing stored on failure
    assert len(backend.store.load(session)) == 40  # every turn stored


def test_no_summary_option_changes_nothing(arcee_server: ArceeTestServer) -> None:
    from langchain_arcee.stores import InMemoryChatStore

    arcee_server.set_responder(responder)
    model = ChatArcee(api_key="test", base_url=arcee_server.base_url, max_retries=0)
    store = InMemoryChatStore()
    chat = RunnableWithMemory(model, store, context_window=500, reply_reserve=100)
    for index in range(20):
        chat.invoke(HumanMessage(f"Question {index}"), {"configurable": {"session_id": "s"}})
    assert store.load_summary("s") is None
    assert len(arcee_server.chat_requests) == 20  # no summarizer call
