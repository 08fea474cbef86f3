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
    ConcurrentTurnError,
    CorruptMessageError,
    SessionBusyError,
    SessionInfo,
    StoreChatMessageHistory,
    StoreError,
)

if TYPE_CHECKING:
    from langchain_arcee.stores.factory import store_from_url
    from langchain_arcee.stores.memory import InMemoryChatStore
    from langchain_arcee.stores.postgres import PostgresChatStore
    from langchain_arcee.stores.redis import EvictionPolicyWarning, RedisChatStore
    from langchain_arcee.stores.serialization import LossyStorageWarning, check_input_messages
    from langchain_arcee.stores.sqlite import SQLiteChatStore

_LAZY = {
    "InMemoryChatStore": "langchain_arcee.stores.memory",
    "SQLiteChatStore": "langchain_arcee.stores.sqlite",
    "PostgresChatStore": "langchain_arcee.stores.postgres",
    "RedisChatStore": "langchain_arcee.stores.redis",
    "store_from_url": "langchain_arcee.stores.factory",
    "EvictionPolicyWarning": "langchain_arcee.stores.redis",
    "LossyStorageWarning": "langchain_arcee.stores.serialization",
    "check_input_messages": "langchain_arcee.stores.serialization",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "ChatStore",
    "ConcurrentTurnError",
    "CorruptMessageError",
    "EvictionPolicyWarning",
    "InMemoryChatStore",
    "LossyStorageWarning",
    "PostgresChatStore",
    "RedisChatStore",
    "SQLiteChatStore",
    "SessionBusyError",
    "SessionInfo",
    "StoreChatMessageHistory",
    "StoreError",
    "check_input_messages",
    "store_from_url",
]
