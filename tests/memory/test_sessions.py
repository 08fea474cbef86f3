"""Session resolution, composite keys, per-session locking and concurrency."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import ConfigurableFieldSpec

from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.memory.session import SESSION_LOCKS, SessionLock
from langchain_arcee.stores import ChatStore, InMemoryChatStore, SessionBusyError
from tests.memory.conftest import cfg
from tests.memory.fakes import ScriptedChatModel

USER = ConfigurableFieldSpec(id="user_id", annotation=str, name="User", default="", is_shared=True)
CONV = ConfigurableFieldSpec(
    id="conversation_id", annotation=str, name="Conversation", default="", is_shared=True
)


def test_missing_session_key_names_it() -> None:
    chat = RunnableWithMemory(ScriptedChatModel(), InMemoryChatStore())
    with pytest.raises(ValueError, match="session_id"):
        chat.invoke("hi")
    with pytest.raises(ValueError, match="session_id"):
        chat.invoke("hi", {"configurable": {"thread_id": "x"}})
    with pytest.raises(ValueError, match="session_id"):
        list(chat.stream("hi"))


async def test_missing_session_key_async() -> None:
    chat = RunnableWithMemory(ScriptedChatModel(), InMemoryChatStore())
    with pytest.raises(ValueError, match="session_id"):
        await chat.ainvoke("hi")


def test_wrong_type_and_empty_session_key() -> None:
    chat = RunnableWithMemory(ScriptedChatModel(), InMemoryChatStore())
    with pytest.raises(TypeError, match=r"session_id.*str.*int"):
        chat.invoke("hi", {"configurable": {"session_id": 42}})
    with pytest.raises(ValueError, match=r"session_id.*non-empty"):
        chat.invoke("hi", {"configurable": {"session_id": ""}})


def test_composite_keys_with_store_history_factory() -> None:
    store = InMemoryChatStore()

    def factory(user_id: str, conversation_id: str) -> Any:
        return store.history(f"{user_id}/{conversation_id}")

    chat = RunnableWithMemory(ScriptedChatModel(), factory, history_factory_config=[USER, CONV])
    chat.invoke("a", {"configurable": {"user_id": "u", "conversation_id": "1"}})
    chat.invoke("b", {"configurable": {"user_id": "u", "conversation_id": "2"}})
    assert store.load("u/1")[0].content == "a"
    assert store.load("u/2")[0].content == "b"
    with pytest.raises(ValueError, match="conversation_id"):
        chat.invoke("c", {"configurable": {"user_id": "u"}})
    assert {"user_id", "conversation_id"} <= {s.id for s in chat.config_specs}


def test_composite_keys_need_matching_factory_parameters() -> None:
    with pytest.raises(ValueError, match="do not match"):
        RunnableWithMemory(
            ScriptedChatModel(), lambda session_id: None, history_factory_config=[USER, CONV]
        )
    with pytest.raises(ValueError, match="one key"):
        RunnableWithMemory(
            ScriptedChatModel(), InMemoryChatStore(), history_factory_config=[USER, CONV]
        )


def test_factory_must_return_history() -> None:
    chat = RunnableWithMemory(ScriptedChatModel(), lambda session_id: "nope")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="BaseChatMessageHistory"):
        chat.invoke("hi", cfg())


def test_factory_without_parameters() -> None:
    store = InMemoryChatStore()
    chat = RunnableWithMemory(ScriptedChatModel(), lambda: store.history("only"))
    chat.invoke("hi")
    assert len(store.load("only")) == 2


def test_sessions_are_isolated(store: ChatStore) -> None:
    model = ScriptedChatModel()
    chat = RunnableWithMemory(model, store)
    chat.invoke("alice-secret", cfg("alice"))
    chat.invoke("bob question", cfg("bob"))
    assert all("alice" not in str(m.content) for m in model.requests[1])


# ---- concurrency --------------------------------------------------------------------------
def echo_count(messages: list[BaseMessage]) -> str:
    """Reply with how many human messages the request holds (so lost turns show up)."""
    return str(sum(isinstance(m, HumanMessage) for m in messages))


def test_threads_on_one_session_never_interleave(store: ChatStore) -> None:
    model = ScriptedChatModel(replies=[echo_count], delay=0.002)
    chat = RunnableWithMemory(model, store)
    n = 12
    barrier = threading.Barrier(n)

    def turn(i: int) -> None:
        barrier.wait()
        if i % 2:
            chat.invoke(f"q{i}", cfg("shared"))
        else:
            list(chat.stream(f"q{i}", cfg("shared")))

    threads = [threading.Thread(target=turn, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    stored = store.load("shared")
    assert len(stored) == 2 * n
    assert [type(m).__name__ for m in stored] == ["HumanMessage", "AIMessage"] * n
    # each turn saw every earlier turn: replies count 1, 2, ..., n
    assert [m.content for m in stored[1::2]] == [str(i) for i in range(1, n + 1)]


async def test_tasks_on_one_session_never_interleave(store: ChatStore) -> None:
    model = ScriptedChatModel(replies=[echo_count], delay=0.002)
    chat = RunnableWithMemory(model, store)
    n = 12

    async def turn(i: int) -> None:
        if i % 2:
            await chat.ainvoke(f"q{i}", cfg("shared"))
        else:
            [c async for c in chat.astream(f"q{i}", cfg("shared"))]

    await asyncio.gather(*(turn(i) for i in range(n)))
    stored = await store.aload("shared")
    assert [m.content for m in stored[1::2]] == [str(i) for i in range(1, n + 1)]


async def test_sync_and_async_turns_exclude_each_other() -> None:
    store = InMemoryChatStore()
    model = ScriptedChatModel(replies=[echo_count], delay=0.005)
    chat = RunnableWithMemory(model, store)

    def sync_turns() -> None:
        for i in range(5):
            chat.invoke(f"s{i}", cfg("mixed"))

    async def async_turns() -> None:
        for i in range(5):
            await chat.ainvoke(f"a{i}", cfg("mixed"))

    await asyncio.gather(asyncio.to_thread(sync_turns), async_turns())
    stored = store.load("mixed")
    assert [m.content for m in stored[1::2]] == [str(i) for i in range(1, 11)]


async def test_different_sessions_run_in_parallel() -> None:
    store = InMemoryChatStore()
    chat = RunnableWithMemory(ScriptedChatModel(delay=0.2), store)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(chat.ainvoke("hi", cfg(f"s{i}")) for i in range(5)))
    assert loop.time() - start < 0.6
    for i in range(5):
        assert len(store.load(f"s{i}")) == 2


def test_lock_registry_is_weak() -> None:
    histories: dict[str, InMemoryChatMessageHistory] = {}
    chat = RunnableWithMemory(
        ScriptedChatModel(), lambda sid: histories.setdefault(sid, InMemoryChatMessageHistory())
    )
    before = len(SESSION_LOCKS)
    for i in range(50):
        chat.invoke("hi", cfg(f"weak-{i}"))
    assert len(SESSION_LOCKS) <= before + 1


async def test_cancelled_waiter_does_not_leak_the_lock() -> None:
    lock = SessionLock("s")
    await lock.aacquire(1.0)
    waiting = asyncio.create_task(lock.aacquire(5.0))
    await asyncio.sleep(0.01)
    waiting.cancel()
    lock.release()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await lock.aacquire(0.1)  # still acquirable
    lock.release()
    lock.acquire(0.1)
    lock.release()


async def test_generic_history_lock_times_out_with_session_busy() -> None:
    lock = SessionLock("busy-session")
    lock.acquire(0.1)
    try:
        with pytest.raises(SessionBusyError, match="busy-session"):
            lock.acquire(0.05)
        with pytest.raises(SessionBusyError):
            await lock.aacquire(0.05)
    finally:
        lock.release()
