"""Conversation stores: one interface, one module per backend.

``InMemoryChatStore`` and ``SQLiteChatStore`` need nothing beyond the base install;
``PostgresChatStore`` needs the ``postgres`` extra and ``RedisChatStore`` the ``redis`` extra.
Backends are imported lazily so a missing optional driver only matters when that backend is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from langchain_arcee.stores.base import (
    ChatStore,
    CorruptMessageError,
    SessionInfo,
    StoreChatMessageHistory,
    StoreError,
)

if TYPE_CHECKING:
    from langchain_arcee.stores.factory import store_from_url
    from langchain_arcee.stores.memory import InMemoryChatStore
    from langchain_arcee.stores.postgres import PostgresChatStore
    from langchain_arcee.stores.redis import RedisChatStore
    from langchain_arcee.stores.sqlite import SQLiteChatStore

_LAZY = {
    "InMemoryChatStore": "langchain_arcee.stores.memory",
    "SQLiteChatStore": "langchain_arcee.stores.sqlite",
    "PostgresChatStore": "langchain_arcee.stores.postgres",
    "RedisChatStore": "langchain_arcee.stores.redis",
    "store_from_url": "langchain_arcee.stores.factory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "ChatStore",
    "CorruptMessageError",
    "InMemoryChatStore",
    "PostgresChatStore",
    "RedisChatStore",
    "SQLiteChatStore",
    "SessionInfo",
    "StoreChatMessageHistory",
    "StoreError",
    "store_from_url",
]
