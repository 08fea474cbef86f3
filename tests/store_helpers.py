"""Test helpers shared by the store and reliability suites."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from langchain_arcee.stores import ChatStore
from langchain_arcee.stores.redis import RedisChatStore
from langchain_arcee.stores.sql import SQLChatStore
from langchain_arcee.stores.sqlite import SQLiteChatStore


def write_raw_row(store: ChatStore, session_id: str, raw: str) -> bool:
    """Store a raw row/list item for an existing session, bypassing encoding.

    Returns:
        False if the store keeps message objects (no encoded rows to tamper with).
    """
    row = {"session_id": session_id, "data": raw, "created_at": datetime.now(timezone.utc)}
    if isinstance(store, SQLChatStore):
        from sqlalchemy import insert

        with store.engine.begin() as conn:
            conn.execute(insert(store.messages).values(**row))
        return True
    if isinstance(store, SQLiteChatStore):
        with sqlite3.connect(str(store.path)) as conn:
            conn.execute(
                f"INSERT INTO {store.messages_table} (session_id, data, created_at) "
                "VALUES (:session_id, :data, :created_at)",
                {
                    **row,
                    "created_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(" "),
                },
            )
        conn.close()
        return True
    if isinstance(store, RedisChatStore):
        store.client.rpush(store.messages_key(session_id), raw.encode())
        return True
    return False
