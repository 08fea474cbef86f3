"""Test helpers shared by the store and reliability suites."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import insert

from langchain_arcee.stores import ChatStore
from langchain_arcee.stores.redis import RedisChatStore
from langchain_arcee.stores.sql import SQLChatStore


def write_raw_row(store: ChatStore, session_id: str, raw: str) -> bool:
    """Store a raw row/list item for an existing session, bypassing encoding.

    Returns:
        False if the store keeps message objects (no encoded rows to tamper with).
    """
    if isinstance(store, SQLChatStore):
        row = {"session_id": session_id, "data": raw, "created_at": datetime.now(timezone.utc)}
        with store.engine.begin() as conn:
            conn.execute(insert(store.messages).values(**row))
        return True
    if isinstance(store, RedisChatStore):
        store.client.rpush(store.messages_key(session_id), raw.encode())
        return True
    return False
