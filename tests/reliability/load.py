"""Load drivers shared by the load tests and the reliability report.

* concurrent turns (threads or asyncio tasks) over many sessions, or many turns on one
  session, checked with the loopback server's echo invariant and against the requests the
  server recorded;
* a soak: many turns through a fast fake chat model, measuring traced Python memory growth
  against the size of the data the store holds.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import tracemalloc
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import ChatStore, InMemoryChatStore
from tests.arcee_server import RecordedRequest, text_of
from tests.reliability.support import cfg, check_echo_conversation, user_texts


@dataclass
class LoadReport:
    """Turns run and problems found by a load run."""

    turns: int = 0
    messages_checked: int = 0
    problems: list[str] = field(default_factory=list)


def plan(sessions: Sequence[str], turns: int) -> list[tuple[str, str]]:
    """Every (session, text) turn to run; texts are unique."""
    return [(s, f"{s} turn {t}") for s in sessions for t in range(turns)]


def run_threads(chat: RunnableWithMemory, work: list[tuple[str, str]], workers: int = 8) -> None:
    """Run the turns on a thread pool (any order, all at once)."""
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda item: chat.invoke(item[1], cfg(item[0])), work))


async def run_tasks(chat: RunnableWithMemory, work: list[tuple[str, str]]) -> None:
    """Run the turns as concurrent asyncio tasks."""
    await asyncio.gather(*(chat.ainvoke(text, cfg(session)) for session, text in work))


def check_load(
    store: ChatStore,
    work: list[tuple[str, str]],
    requests: Sequence[RecordedRequest] = (),
) -> LoadReport:
    """Verify every session after a load run.

    Each session must hold exactly its turns, once each, as contiguous human/AI pairs that
    satisfy the echo invariant; and every recorded request's history must equal what the
    store held before that turn.
    """
    report = LoadReport(turns=len(work))
    expected: dict[str, set[str]] = {}
    for session, text in work:
        expected.setdefault(session, set()).add(text)
    stored: dict[str, list[BaseMessage]] = {}
    for session, texts in expected.items():
        messages = store.load(session)
        stored[session] = messages
        report.messages_checked += len(messages)
        got = user_texts(messages)
        if sorted(got) != sorted(texts):
            report.problems.append(f"{session}: turns {sorted(got)} != {sorted(texts)}")
        report.problems.extend(f"{session}: {p}" for p in check_echo_conversation(messages))
    owner = {text: session for session, text in work}
    for request in requests:
        sent = request.body["messages"]
        text = text_of(sent[-1].get("content"))
        session = owner.get(text)
        if session is None:
            continue
        history = [text_of(m.get("content")) for m in sent[:-1]]
        messages = stored[session]
        index = next((i for i, m in enumerate(messages) if m.content == text), None)
        before = [str(m.content) for m in messages[:index]] if index is not None else None
        if history != before:
            report.problems.append(f"{session}: request for {text!r} sent another history")
    return report


# ---- soak ------------------------------------------------------------------------------------
class EchoChatModel(BaseChatModel):
    """A zero-latency chat model answering ``"echo <last message>"``."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> ChatResult:
        reply = AIMessage(f"echo {messages[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


@dataclass
class SoakReport(LoadReport):
    """A soak's turns, problems and memory figures (bytes of traced Python memory)."""

    growth: int = 0
    data: int = 0


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def soak(turns: int, sessions: int = 20, history: int = 8) -> SoakReport:
    """Run ``turns`` turns round-robin over ``sessions`` sessions of an in-memory store.

    Measures traced memory growth over the run and the size of the store's data (a deep copy
    of every stored message), and checks every session: pairs in order, each AI message
    answering its own human message, nothing lost or repeated.
    """
    store = InMemoryChatStore(max_messages_per_session=None)
    chat = RunnableWithMemory(EchoChatModel(), store, max_history_messages=history)
    names = [f"soak-{k}" for k in range(sessions)]
    for k in range(50):  # warm-up: imports, caches, lazily built objects
        chat.invoke(f"warm {k}", cfg("warm-up"))
    store.clear("warm-up")
    report = SoakReport(turns=turns)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = _traced()
        for index in range(turns):
            chat.invoke(f"t{index}", cfg(names[index % sessions]))
        report.growth = _traced() - base
        everything = [m for name in names for m in store.load(name)]
        before = _traced()
        duplicate = copy.deepcopy(everything)
        report.data = _traced() - before
        del duplicate
    finally:
        if started:
            tracemalloc.stop()
    for k, name in enumerate(names):
        messages = store.load(name)
        report.messages_checked += len(messages)
        wanted = [f"t{i}" for i in range(k, turns, sessions)]
        got_pairs = [
            (str(h.content), str(a.content))
            for h, a in zip(messages[::2], messages[1::2], strict=False)
        ]
        if len(messages) != 2 * len(wanted) or any(
            not isinstance(m, HumanMessage) for m in messages[::2]
        ):
            report.problems.append(f"{name}: {len(messages)} messages, expected {2 * len(wanted)}")
        if got_pairs != [(t, f"echo {t}") for t in wanted]:
            report.problems.append(f"{name}: turns lost, repeated or out of order")
    return report
