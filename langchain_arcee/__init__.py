"""LangChain integration for Arcee AI, with conversation memory that just works.

Everything is imported on first use (module ``__getattr__``): ``import langchain_arcee`` costs
almost nothing, so ``arcee-chat --help`` does not pay for openai, LangChain or langsmith.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_arcee.catalog import ArceeModelInfo, alist_models, list_models
    from langchain_arcee.chat_models import ChatArcee
    from langchain_arcee.memory import RunnableWithMemory
    from langchain_arcee.stores import (
        ChatStore,
        InMemoryChatStore,
        PostgresChatStore,
        RedisChatStore,
        SQLiteChatStore,
        store_from_url,
    )
    from langchain_arcee.transport import ArceeContextOverflowError

_LAZY = {
    "ArceeContextOverflowError": "langchain_arcee.transport",
    "ArceeModelInfo": "langchain_arcee.catalog",
    "alist_models": "langchain_arcee.catalog",
    "list_models": "langchain_arcee.catalog",
    "ChatArcee": "langchain_arcee.chat_models",
    "RunnableWithMemory": "langchain_arcee.memory",
    "ChatStore": "langchain_arcee.stores",
    "InMemoryChatStore": "langchain_arcee.stores",
    "PostgresChatStore": "langchain_arcee.stores",
    "RedisChatStore": "langchain_arcee.stores",
    "SQLiteChatStore": "langchain_arcee.stores",
    "store_from_url": "langchain_arcee.stores",
}


def __getattr__(name: str) -> Any:
    # Optional drivers (psycopg, redis) are likewise only needed when their store is used.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


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
