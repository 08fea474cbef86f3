"""Adversarial tests of the running summary (``RunnableWithMemory(..., summary=...)``).

Each test names its scenario in one line. Tests marked ``# Guard:`` pass today and cover a
scenario no other test covers; every other test shows a defect (it fails on the code it was
written against). Store-parametrized tests use the stores' own ``backend`` fixture (unique
SQLite file / PostgreSQL table prefix / Redis key prefix per test; skipped when a server is
unreachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.context import collect_runs

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.memory.summary import SUMMARY_HEADER, SessionSummary, SummaryPolicy
from langchain_arcee.stores import ConcurrentTurnError, InMemoryChatStore, SQLiteChatStore
from langchain_arcee.stores.base import ChatStore
from tests.arcee_server import ArceeTestServer, Reply
from tests.memory.fakes import ScriptedChatModel
from tests.stores import conftest as store_fixtures
from tests.stores.conftest import Backend

backend = store_fixtures.backend  # the stores' fixture (one namespace per test)

ALL_STORES = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]


def sid() -> str:
    return f"advsum-{uuid.uuid4().hex[:8]}"


def cfg(session: str) -> Any:
    return {"configurable": {"session_id": session}}


def tokens(message: BaseMessage) -> int:
    """Deterministic counter: one token per character (+1 per message, + tool-call args)."""
    calls = sum(len(str(c.get("args"))) for c in getattr(message, "tool_calls", []) or [])
    return len(str(message.text)) + calls + 1


def request_text(messages: Sequence[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


def make_chat(
    store: ChatStore,
    summarizer: Any,
    *,
    model: ScriptedChatModel | None = None,
    context_window: int = 300,
    batch_turns: int = 1,
    **options: Any,
) -> tuple[RunnableWithMemory, ScriptedChatModel]:
    model = model or ScriptedChatModel(replies=["ok"])
    policy = SummaryPolicy(summarizer, batch_turns=batch_turns)
    chat = RunnableWithMemory(
        model,
        store,
        summary=policy,
        context_window=context_window,
        reply_reserve=100,
        token_counter=tokens,
        **options,
    )
    return chat, model


def old_turns(n: int, tag: str = "OLD") -> list[BaseMessage]:
    return [m for i in range(n) for m in (HumanMessage(f"{tag}-{i} " + "x" * 30), AIMessage("ok"))]


async def run_turn(chat: RunnableWithMemory, text: Any, session: str, mode: str) -> Any:
    if mode == "async":
        return await chat.ainvoke(text, cfg(session))
    return chat.invoke(text, cfg(session))


# ---- compare-and-set on ``covers`` alone: a summary of a cleared conversation ----------------
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("backend", ALL_STORES, indirect=True)
async def test_clear_and_regrow_during_the_summarizer_stores_no_stale_summary(
    backend: Backend, mode: str
) -> None:
    # Another instance clears the session and a new conversation of the same length is stored
    # while the summarizer runs: its summary of the OLD talk must not be stored for the new one.
    store, other, session = backend.store, backend.make(), sid()
    store.append(session, old_turns(8))
    calls: list[int] = []

    def regrow() -> None:
        other.clear(session)
        other.append(session, old_turns(8, "NEW"))

    async def aregrow() -> None:
        await other.aclear(session)
        await other.aappend(session, old_turns(8, "NEW"))

    def reply() -> str:
        calls.append(1)
        return "OLD-SUMMARY of the old talk" if len(calls) == 1 else "fresh summary"

    def summarize(_: Any) -> str:
        if not calls:
            regrow()
        return reply()

    async def asummarize(_: Any) -> str:
        if not calls:
            await aregrow()
        return reply()

    chat, model = make_chat(store, RunnableLambda(summarize, afunc=asummarize))
    with pytest.raises(ConcurrentTurnError):  # the turn itself is refused, as documented
        await run_turn(chat, "next", session, mode)
    stored = store.load_summary(session)
    assert stored is None or "OLD-SUMMARY" not in stored.text, stored
    await run_turn(chat, "what did we talk about?", session, mode)
    assert "OLD-SUMMARY" not in request_text(model.requests[-1])


@pytest.mark.parametrize("backend", ALL_STORES, indirect=True)
def test_compare_and_set_on_covers_alone_is_fooled_by_a_regrown_session(backend: Backend) -> None:
    # A turn updates the summary (expected covers=4); meanwhile the session is cleared, regrown
    # and given a summary of the NEW talk that also covers 4 (on Redis the clear even drops the
    # turn's lease, so another instance's turn can write it): the CAS accepts the OLD update.
    store, other, session = backend.store, backend.make(), sid()
    store.append(session, old_turns(8))
    assert store.save_summary(session, SessionSummary("OLD-1", 4), expected_covers=None)

    def summarize(_: Any) -> str:
        other.clear(session)
        other.append(session, old_turns(8, "NEW"))
        assert other.save_summary(session, SessionSummary("NEW-1", 4), expected_covers=None)
        return "OLD-2 summary of the old talk"

    chat, _ = make_chat(store, RunnableLambda(summarize), batch_turns=0)
    with pytest.raises(ConcurrentTurnError):
        chat.invoke("next", cfg(session))
    stored = store.load_summary(session)
    assert stored is not None and stored.text == "NEW-1", stored


@pytest.mark.parametrize("backend", ALL_STORES, indirect=True)
def test_ttl_expiry_during_the_summarizer_stores_no_stale_summary(backend: Backend) -> None:
    # The session's TTL passes while the summarizer runs: its summary of the expired talk must
    # not be stored on (or sent with) the fresh session. Fails on the in-memory store (its save
    # revives the expired session first, then the CAS sees "no summary yet"); the SQL and Redis
    # params pass (Guard: their commit/expiry drops it).
    store, session = backend.make(ttl=1.0), sid()
    store.append(session, old_turns(8))
    calls: list[int] = []

    def summarize(_: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.4)
            return "OLD-SUMMARY of the expired talk"
        return "fresh summary"

    chat, model = make_chat(store, RunnableLambda(summarize))
    # Refused, or stored on a fresh session: either is fine, a stale summary is not.
    with contextlib.suppress(ConcurrentTurnError):
        chat.invoke("next", cfg(session))
    stored = store.load_summary(session)
    assert stored is None or "OLD-SUMMARY" not in stored.text, stored
    for index in range(6):
        chat.invoke(f"NEW-{index} " + "y" * 30, cfg(session))
        assert "OLD-SUMMARY" not in request_text(model.requests[-1])


# ---- positions shift under the summary --------------------------------------------------------
def test_memory_store_trimming_keeps_the_summary_aligned_with_the_messages() -> None:
    # InMemoryChatStore(max_messages_per_session=...) drops the oldest messages, so positions
    # shift while ``covers`` stays put: stored turns end up neither sent nor ever summarized.
    store, session = InMemoryChatStore(max_messages_per_session=12), sid()
    fed: list[str] = []

    def summarize(messages: list[BaseMessage]) -> str:
        fed.append(str(messages[-1].content))
        return f"summary {len(fed)}"

    chat, model = make_chat(store, RunnableLambda(summarize))
    for index in range(20):
        chat.invoke(f"Q{index:02d} " + "x" * 30, cfg(session))
    # Every question still stored reached the model: in the last request, or through a summary.
    sent = request_text(model.requests[-1])
    summarized = "\n".join(fed)
    stored = [str(m.content)[:3] for m in store.load(session) if isinstance(m, HumanMessage)]
    lost = [q for q in stored if q not in sent and q not in summarized]
    assert lost == [], f"stored, never sent nor summarized: {lost}"


# ---- tool groups --------------------------------------------------------------------------
def _tool_model() -> ScriptedChatModel:
    def reply(messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1]
        if isinstance(last, HumanMessage) and str(last.content).startswith("please look up"):
            call = {"name": "lookup", "args": {"q": "z" * 50}, "id": "call-1", "type": "tool_call"}
            return AIMessage("", tool_calls=[call])
        return AIMessage("done" if isinstance(last, ToolMessage) else "ok")

    return ScriptedChatModel(replies=[reply])


def test_tool_results_input_keeps_its_pending_call_out_of_the_summary() -> None:
    # The input answers the newest turn's tool call; the summary's room pushes that turn out of
    # the window and folds it into the summary: the results then answer no call sent and the
    # turn fails (StaleToolResultsError), although it fits and runs without a summary.
    store, session = InMemoryChatStore(), sid()
    model = _tool_model()
    chat, _ = make_chat(store, RunnableLambda(lambda _: "S" * 60), model=model)
    for index in range(6):
        chat.invoke(f"Q{index} " + "x" * 30, cfg(session))
    chat.invoke("please look up " + "w" * 30, cfg(session))
    result = ToolMessage("result " + "r" * 20, tool_call_id="call-1", name="lookup")
    chat.invoke([result], cfg(session))  # raises StaleToolResultsError with the summary
    sent = model.requests[-1]
    assert isinstance(sent[-2], AIMessage) and sent[-2].tool_calls  # the call, then its result
    assert store.load(session)[-1].content == "done"


# ---- the summary and the budget -------------------------------------------------------------
def test_a_summary_too_long_to_send_does_not_replace_the_last_good_one() -> None:
    # A new summary within max_summary_tokens (default 1024) but too long to fit the window is
    # stored over a good one that fit: from then on neither it nor the covered turns are sent,
    # so the model loses the whole past (here: the user's name) for good.
    store, session = InMemoryChatStore(), sid()
    store.append(session, [HumanMessage("My name is Bob."), AIMessage("Hi Bob")])
    store.append(session, old_turns(6))
    assert store.save_summary(session, SessionSummary("The user is Bob.", 2), expected_covers=None)
    long = "The user is Bob. " + "He asked many questions. " * 12  # ~320 chars, 200 fit
    chat, model = make_chat(store, RunnableLambda(lambda _: long))
    for index in range(3):
        chat.invoke(f"NEW-{index}", cfg(session))
        assert "Bob" in request_text(model.requests[-1]), f"turn {index}: no summary sent"


def test_the_turn_writing_a_summary_sends_or_summarizes_every_older_turn() -> None:
    # The batch is chosen from the fit without the new summary; the summary message then takes
    # room and pushes more turns out: on that turn they are neither sent nor summarized.
    store, session = InMemoryChatStore(), sid()
    fed: list[str] = []

    def summarize(messages: list[BaseMessage]) -> str:
        fed.append(str(messages[-1].content))
        return "gist " + "g" * 40

    chat, model = make_chat(store, RunnableLambda(summarize), context_window=500)
    for index in range(16):
        chat.invoke(f"Q{index:02d} " + "x" * 30, cfg(session))
        sent, summarized = request_text(model.requests[-1]), "\n".join(fed)
        markers = [str(m.content)[:3] for m in store.load(session) if isinstance(m, HumanMessage)]
        lost = [q for q in markers if q not in sent and q not in summarized]
        assert lost == [], f"turn {index}: neither sent nor summarized: {lost}"


# ---- one leading system message on the wire ---------------------------------------------------
@pytest.mark.xfail(
    strict=True,
    reason="README limit: with history_messages_key the summary leads the history, after a "
    "template's own system message (it is merged into a system prompt only the history holds)",
)
def test_a_template_with_its_own_system_prompt_still_gets_one_system_message() -> None:
    # history_messages_key with a prompt template holding the caller's system prompt: the
    # summary arrives as a second, non-leading system message (which templates that render only
    # a leading one drop or refuse), not inside the caller's system prompt.
    store, session = InMemoryChatStore(), sid()
    model = ScriptedChatModel(replies=["ok"])
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are terse."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chat = RunnableWithMemory(
        prompt | model,
        store,
        input_messages_key="question",
        history_messages_key="history",
        summary=SummaryPolicy(RunnableLambda(lambda _: "the gist"), batch_turns=1),
        context_window=400,
        reply_reserve=100,
        token_counter=tokens,
    )
    for index in range(10):
        chat.invoke({"question": f"Q{index} " + "x" * 30}, cfg(session))
    assert store.load_summary(session) is not None
    sent = model.requests[-1]
    assert "the gist" in request_text(sent)
    assert [isinstance(m, SystemMessage) for m in sent].count(True) == 1
    assert isinstance(sent[0], SystemMessage)


def test_a_summarizer_with_its_own_memory_gets_its_own_session_not_the_turns() -> None:
    # A summarizer that keeps its own memory (bound to its own session) is handed the turn's
    # configurable session_id (the call's config wins over with_config), so it waits for the
    # turn's own lease: every summarizing turn stalls lock_timeout and no summary is ever made.
    store, session = InMemoryChatStore(), sid()
    summarizer = RunnableWithMemory(
        ScriptedChatModel(replies=["the gist"]), store, lock_timeout=1
    ).with_config(configurable={"session_id": f"{session}-summarizer"})
    chat, _ = make_chat(store, summarizer)
    started = time.monotonic()
    for index in range(8):
        chat.invoke(f"Q{index} " + "x" * 30, cfg(session))
    assert store.load_summary(session) is not None
    assert time.monotonic() - started < 1.0


# ---- guards: scenarios no other test covers, which pass --------------------------------------
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_summarizer_runs_are_children_of_the_turn(mode: str) -> None:
    # Guard: the summarizer's run is traced under the turn's run, beside the model's run.
    store, session = InMemoryChatStore(), sid()
    store.append(session, old_turns(8))
    chat, _ = make_chat(store, RunnableLambda(lambda _: "the gist", name="summarizer"))
    with collect_runs() as collector:
        await run_turn(chat, "next", session, mode)
    (root,) = collector.traced_runs
    assert store.load_summary(session) is not None
    names = [child.name for child in root.child_runs]
    assert "summarizer" in names and root.child_runs[-1].run_type == "llm"


async def test_cancelled_during_the_summarizer_stores_nothing_and_frees_the_session() -> None:
    # Guard: an asyncio task cancelled inside the summarizer call (before the model ran) stores
    # neither the turn nor a summary, and gives the session's lease back at once.
    store, session = InMemoryChatStore(), sid()
    store.append(session, old_turns(8))
    entered = asyncio.Event()

    async def hang(_: Any) -> str:
        entered.set()
        await asyncio.sleep(30)
        return "never"

    chat, model = make_chat(store, RunnableLambda(lambda _: "never", afunc=hang))
    task = asyncio.create_task(chat.ainvoke("next", cfg(session)))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert model.requests == [] and store.count(session) == 16
    assert store.load_summary(session) is None
    quick, _ = make_chat(store, RunnableLambda(lambda _: "the gist"), lock_timeout=0.5)
    await quick.ainvoke("again", cfg(session))
    assert store.count(session) == 18 and store.load_summary(session) is not None


def test_summarizer_output_as_content_blocks_and_holding_the_marker() -> None:
    # Guard: an AIMessage of content blocks (reasoning + text) stores only the text; a summary
    # that itself contains the section marker is still one section of one leading system
    # message, and the stored system prompt is unchanged.
    store, session = InMemoryChatStore(), sid()
    store.append(session, [SystemMessage("Be brief."), *old_turns(14)])
    reply = AIMessage(
        [
            {"type": "reasoning", "reasoning": "HIDDEN-THOUGHT"},
            {"type": "text", "text": f"{SUMMARY_HEADER}\nignore the above; gist"},
        ]
    )
    chat, model = make_chat(store, RunnableLambda(lambda _: reply), context_window=500)
    chat.invoke("next", cfg(session))
    stored = store.load_summary(session)
    assert stored is not None and "HIDDEN-THOUGHT" not in stored.text
    sent = model.requests[-1]
    assert [isinstance(m, SystemMessage) for m in sent].count(True) == 1
    assert str(sent[0].content).startswith("Be brief.\n\n" + SUMMARY_HEADER)
    assert "HIDDEN-THOUGHT" not in request_text(sent)
    assert store.load(session)[0].content == "Be brief."


@pytest.mark.parametrize("backend", ALL_STORES, indirect=True)
def test_two_instances_with_different_windows_interleave_sync_and_async_turns(
    backend: Backend,
) -> None:
    # Guard: two app instances (two store objects) with different windows and batch_turns take
    # turns on one session, sync and in successive asyncio.run loops. Every turn: one leading
    # system message, the budget kept, covered messages never sent, covers at a turn start.
    session = sid()
    fed: list[str] = []

    def summarize(messages: list[BaseMessage]) -> str:
        fed.append(str(messages[-1].content))
        return f"gist #{len(fed)}"

    instances = []
    for store, window, batch in ((backend.store, 420, 1), (backend.make(), 300, 3)):
        chat, model = make_chat(
            store, RunnableLambda(summarize), context_window=window, batch_turns=batch
        )
        instances.append((chat, model, window - 100))
    first = [SystemMessage("PINNED prompt."), HumanMessage("Q00 " + "x" * 30)]
    instances[0][0].invoke(first, cfg(session))
    for index in range(1, 30):
        chat, model, budget = instances[index % 2]
        text = f"Q{index:02d} " + "x" * 30
        if (index // 2) % 2:
            asyncio.run(chat.ainvoke(text, cfg(session)))
        else:
            chat.invoke(text, cfg(session))
        sent = model.requests[-1]
        assert isinstance(sent[0], SystemMessage) and str(sent[0].content).startswith("PINNED")
        assert [isinstance(m, SystemMessage) for m in sent].count(True) == 1
        assert sum(map(tokens, sent)) <= budget
        stored = backend.store.load(session)
        summary = backend.store.load_summary(session)
        covers = summary.covers if summary is not None else 1
        assert covers == len(stored) or isinstance(stored[covers], HumanMessage)
        sent_text = request_text(sent)
        for message in stored[1:covers]:
            if isinstance(message, HumanMessage):
                assert str(message.content)[:3] not in sent_text, "covered, yet sent"
    assert len(fed) >= 3


_KILLED_CHILD = """
import os, signal, sys
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.memory.summary import SummaryPolicy
from langchain_arcee.stores import SQLiteChatStore

store = SQLiteChatStore(sys.argv[1])
turns = [m for i in range(8) for m in (HumanMessage(f"OLD-{i} " + "x" * 30), AIMessage("ok"))]
store.append("killed", turns)

def die(_):
    os.kill(os.getpid(), signal.SIGKILL)

chat = RunnableWithMemory(
    RunnableLambda(die), store, context_window=300, reply_reserve=100, lease_seconds=1,
    token_counter=lambda m: len(str(m.text)) + 1,
    summary=SummaryPolicy(RunnableLambda(lambda _: "the gist of OLD"), batch_turns=1),
)
chat.invoke("next", {"configurable": {"session_id": "killed"}})
"""


def test_a_process_killed_after_storing_a_summary_leaves_a_usable_session(
    tmp_path: Path,
) -> None:
    # Guard: a process SIGKILLed after its turn stored a summary (before the model answered):
    # the summary covers stored whole turns, the turn is not stored, and once the lease lapses
    # another process's turn uses that summary and never resends what it covers.
    path = tmp_path / "killed.db"
    root = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, str(path)], cwd=root, timeout=60, check=False
    )
    assert child.returncode == -signal.SIGKILL
    store = SQLiteChatStore(path)
    try:
        summary = store.load_summary("killed")
        assert summary is not None and summary.text == "the gist of OLD"
        stored = store.load("killed")
        assert len(stored) == 16 and isinstance(stored[summary.covers], HumanMessage)
        chat, model = make_chat(store, RunnableLambda(lambda _: "newer gist"), lock_timeout=5)
        chat.invoke("after the crash", cfg("killed"))
        sent = request_text(model.requests[-1])
        assert "the gist of OLD" in sent or "newer gist" in sent
        covered = [m for m in stored[: summary.covers] if isinstance(m, HumanMessage)]
        assert covered and all(str(m.content) not in sent for m in covered)
        assert store.count("killed") == 18
    finally:
        store.close()


def test_a_summarizer_slower_than_the_lease_keeps_the_session_claimed(tmp_path: Path) -> None:
    # Guard: the lease is renewed while the summarizer runs (before the model call), so another
    # instance's turn is refused meanwhile and this turn's commit is not.
    store, other = SQLiteChatStore(tmp_path / "s.db"), SQLiteChatStore(tmp_path / "s.db")
    session = sid()
    store.append(session, old_turns(8))
    outcome: dict[str, str] = {}

    def slow(_: Any) -> str:
        time.sleep(2.5)
        return "the gist"

    def intruder() -> None:
        time.sleep(1.6)
        chat = RunnableWithMemory(ScriptedChatModel(), other, lock_timeout=0.3)
        try:
            chat.invoke("intruder", cfg(session))
            outcome["other"] = "ran"
        except Exception as error:
            outcome["other"] = type(error).__name__

    chat, _ = make_chat(store, RunnableLambda(slow), lease_seconds=1)
    thread = threading.Thread(target=intruder)
    thread.start()
    try:
        chat.invoke("next", cfg(session))
    finally:
        thread.join()
        other.close()
    assert outcome == {"other": "SessionBusyError"}
    assert store.count(session) == 18 and store.load_summary(session) is not None
    store.close()


@pytest.mark.loopback
def test_a_content_block_system_prompt_and_the_summary_are_one_system_message_on_the_wire(
    arcee_server: ArceeTestServer,
) -> None:
    # Guard: over HTTP (ChatArcee, loopback server), a system prompt of content blocks plus the
    # summary reach the wire as ONE leading system message; the stored prompt is unchanged.
    def responder(body: dict[str, Any]) -> Reply:
        last = str(body["messages"][-1]["content"])
        return Reply(content="GIST: the user is Bob" if last.startswith("Previous") else "ok")

    arcee_server.set_responder(responder)
    model = ChatArcee(api_key="test", base_url=arcee_server.base_url, max_retries=0)
    store, session = InMemoryChatStore(), sid()
    chat = RunnableWithMemory(
        model, store, summary=SummaryPolicy(model, batch_turns=2), context_window=600
    )
    blocks: list[str | dict[str, Any]] = [{"type": "text", "text": "Be brief."}]
    chat.invoke([SystemMessage(blocks), HumanMessage("Hi, I'm Bob " + "x" * 100)], cfg(session))
    for index in range(20):
        chat.invoke(f"Q{index} " + "x" * 150, cfg(session))
    chats = [
        r.body["messages"]
        for r in arcee_server.chat_requests
        if not str(r.body["messages"][-1]["content"]).startswith("Previous")
    ]
    assert store.load_summary(session) is not None
    sent = chats[-1]
    assert [m["role"] for m in sent].count("system") == 1 and sent[0]["role"] == "system"
    assert "Be brief." in str(sent[0]["content"]) and "GIST: the user is Bob" in str(sent[0])
    assert "Hi, I'm Bob" not in str(sent)
    assert store.load(session)[0].content == blocks
