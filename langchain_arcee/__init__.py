"""LangChain integration for Arcee AI, with conversation memory that just works."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from langchain_arcee.catalog import ArceeModelInfo, alist_models, list_models
from langchain_arcee.chat_models import ChatArcee

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

_LAZY = {
    "RunnableWithMemory": "langchain_arcee.memory",
    "ChatStore": "langchain_arcee.stores",
    "InMemoryChatStore": "langchain_arcee.stores",
    "SQLiteChatStore": "langchain_arcee.stores",
    "PostgresChatStore": "langchain_arcee.stores",
    "RedisChatStore": "langchain_arcee.stores",
    "store_from_url": "langchain_arcee.stores",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
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
