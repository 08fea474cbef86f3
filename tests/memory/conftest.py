"""Fixtures for the memory adapter tests: stores and configs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from langchain_core.runnables import RunnableConfig

from langchain_arcee.stores import ChatStore, InMemoryChatStore


def cfg(session_id: str = "s1", **extra: Any) -> RunnableConfig:
    """A config naming a session."""
    return {"configurable": {"session_id": session_id, **extra}}


def _sqlite_store(tmp_path: Path) -> ChatStore:
    from langchain_arcee.stores import SQLiteChatStore

    return SQLiteChatStore(tmp_path / "chat.db")


@pytest_asyncio.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChatStore]:
    """Each test runs against the in-memory and the SQLite store (closed in the test's loop)."""
    if request.param == "memory":
        chat_store: ChatStore = InMemoryChatStore()
    else:
        chat_store = _sqlite_store(tmp_path)
    yield chat_store
    await chat_store.aclose()


@pytest.fixture
def memory_store() -> InMemoryChatStore:
    return InMemoryChatStore(max_messages_per_session=None)
