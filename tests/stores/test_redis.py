"""Redis-specific behaviour: key layout, injected clients, atomic turns."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
import redis.asyncio as aredis
from langchain_core.messages import HumanMessage

from langchain_arcee.stores.redis import RedisChatStore

pytestmark = pytest.mark.redis


async def test_keys_cannot_collide_and_clients_are_injectable(redis_url: str) -> None:
    prefix = "t" + uuid.uuid4().hex[:10] + ":"
    client = redis.Redis.from_url(redis_url)
    async_client = aredis.Redis.from_url(redis_url)
    store = RedisChatStore(client=client, async_client=async_client, key_prefix=prefix)
    try:
        ids = ["a", "a:*", "a:", "*", "m:a", "sessions", "ü 空 \x00"]
        keys = {store.messages_key(i) for i in ids}
        assert len(keys) == len(ids)
        assert all(k.startswith(prefix.encode() + b"m:") for k in keys)
        assert all(b"*" not in k[len(prefix) :] for k in keys)
        for n, session_id in enumerate(ids):
            await store.aappend(session_id, [HumanMessage(str(n))])
        assert [store.load(i)[0].content for i in ids] == [str(n) for n in range(len(ids))]
        # Only this store's keys exist: per session a list and a version hash; the index and
        # the layout version (no lease is left behind by plain appends).
        stored = set(client.scan_iter(match=f"{prefix}*"))
        versions = {k.replace(b":m:", b":v:", 1) for k in keys}
        assert stored == keys | versions | {store.index_key, store.schema_key}
        await store.aclose()
        assert client.ping() and await async_client.ping()  # injected clients left open
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()
        await async_client.aclose()


async def test_more_concurrent_turns_than_connections_wait_instead_of_failing(
    redis_url: str,
) -> None:
    # redis-py's default pool raises "Too many connections" past its limit (a quarter of the
    # turns failed at 200 concurrent sessions); the store's pool makes them wait.
    prefix = "t" + uuid.uuid4().hex[:10] + ":"
    store = RedisChatStore(redis_url, key_prefix=prefix, max_connections=4)
    try:

        async def turn(n: int) -> None:
            start = await store.abegin_turn(f"s{n}", lock_timeout=10)
            await store.acommit_turn(start.lease, [HumanMessage(str(n))])

        await asyncio.gather(*(turn(n) for n in range(200)))
        counts = [await store.acount(f"s{n}") for n in range(200)]
        assert counts == [1] * 200
    finally:
        for key in store.client.scan_iter(match=f"{prefix}*"):
            store.client.delete(key)
        await store.aclose()


def test_max_connections_is_validated() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        RedisChatStore("redis://127.0.0.1:6379/15", max_connections=0)
