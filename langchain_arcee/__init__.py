"""LangChain integration for Arcee AI, with conversation memory that just works."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_arcee import stores
from langchain_arcee.catalog import ArceeModelInfo, alist_models, list_models
from langchain_arcee.chat_models import ChatArcee
from langchain_arcee.transport import ArceeContextOverflowError

if TYPE_CHECKING:
    from langchain_arcee.memory import RunnableWithMemory
    from langchain_arcee.stores import (
        ChatStore,
        InMemoryChatStore,
        PostgresChatStore,
        RedisChatStore,
        SQLiteChatStore,
        store_from_url,
    )


def __getattr__(name: str) -> Any:
    # Stores and memory load on first use, so optional drivers are only needed when used.
    if name == "RunnableWithMemory":
        from langchain_arcee.memory import RunnableWithMemory

        return RunnableWithMemory
    if name in stores.__all__:
        return getattr(stores, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "ArceeContextOverflowError",
    "ArceeModelInfo",
    "ChatArcee",
    "ChatStore",
    "InMemoryChatStore",
    "PostgresChatStore",
    "RedisChatStore",
    "RunnableWithMemory",
    "SQLiteChatStore",
    "alist_models",
    "list_models",
    "store_from_url",
]
__version__ = "0.1.0"
