"""``StoreChatMessageHistory`` with LangChain's stock ``RunnableWithMessageHistory``."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables.history import RunnableWithMessageHistory

from langchain_arcee.stores import ChatStore, StoreChatMessageHistory
from langchain_arcee.stores.memory import InMemoryChatStore
from langchain_arcee.stores.sqlite import SQLiteChatStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ChatStore:
    if request.param == "memory":
        return InMemoryChatStore()
    return SQLiteChatStore(tmp_path / "h.db")


@pytest.mark.filterwarnings("ignore::langchain_core._api.deprecation.LangChainDeprecationWarning")
def test_runnable_with_message_history(store: ChatStore) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("first reply"), AIMessage("second")]))
    chain = RunnableWithMessageHistory(model, store.history)
    config = {"configurable": {"session_id": "user-1"}}
    assert chain.invoke("hello", config=config).content == "first reply"  # type: ignore[arg-type]
    assert chain.invoke("again", config=config).content == "second"  # type: ignore[arg-type]
    assert [(type(m), m.content) for m in store.load("user-1")] == [
        (HumanMessage, "hello"),
        (AIMessage, "first reply"),
        (HumanMessage, "again"),
        (AIMessage, "second"),
    ]
    store.close()


@pytest.mark.filterwarnings("ignore::langchain_core._api.deprecation.LangChainDeprecationWarning")
async def test_runnable_with_message_history_async_stream(store: ChatStore) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("streamed words")]))
    chain = RunnableWithMessageHistory(model, store.history)
    config = {"configurable": {"session_id": "user-2"}}
    chunks = [c async for c in chain.astream("hi", config=config)]  # type: ignore[arg-type]
    assert "".join(str(c.content) for c in chunks) == "streamed words"
    loaded = await store.aload("user-2")
    # The stream is stored as a full AIMessage, not an AIMessageChunk.
    assert [type(m) for m in loaded] == [HumanMessage, AIMessage]
    assert loaded[1].content == "streamed words"
    await store.aclose()


def test_history_object(store: ChatStore) -> None:
    history = store.history("h")
    assert isinstance(history, StoreChatMessageHistory)
    history.add_messages([HumanMessage("a"), AIMessage("b")])
    assert [m.content for m in history.messages] == ["a", "b"]
    history.clear()
    assert history.messages == []
    with pytest.raises(ValueError):
        store.history("")
    store.close()
