"""Redis-specific behaviour: key layout, injected clients, atomic turns."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
import redis.asyncio as aredis
from langchain_core.messages import HumanMessage

from langchain_arcee.stores.base import SessionSummary
from langchain_arcee.stores.redis import RedisChatStore
from langchain_arcee.stores.serialization import encode_messages

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


@pytest.mark.parametrize("how", ["cleared-by-an-older-version", "list-evicted"])
def test_a_session_emptied_and_regrown_past_the_cached_length_is_read_whole(
    redis_url: str, how: str
) -> None:
    # A turn start ships only the messages after the cached ones when the session only grew.
    # Emptied behind this object's back and regrown longer under the same epoch (a clear by
    # an instance of an older version, which did not renew it; or eviction of the list alone,
    # the hash kept), the cached messages are gone: the start must read the whole window.
    prefix = "t" + uuid.uuid4().hex[:10] + ":"
    client = redis.Redis.from_url(redis_url)
    store = RedisChatStore(redis_url, key_prefix=prefix)
    other = RedisChatStore(redis_url, key_prefix=prefix)
    try:
        store.append("s", [HumanMessage(f"old {i}") for i in range(4)])
        store.release_turn(store.begin_turn("s", last=50).lease)  # caches the 4 messages
        messages_key, meta_key, _ = store._keys("s")
        client.delete(messages_key)
        if how == "list-evicted":
            # The newest cached message comes back at its old place, among new ones: only the
            # epoch, renewed by an append to an empty list, tells the two lives apart.
            regrown = ["new 0", "new 1", "new 2", "old 3", "new 4", "new 5"]
            other.append("s", [HumanMessage(text) for text in regrown])
        else:  # what an older version's clear and append did: the same epoch kept
            regrown = [f"new {i}" for i in range(6)]
            client.hincrby(meta_key, "v", 1)
            client.rpush(messages_key, *encode_messages([HumanMessage(t) for t in regrown]))
            client.hincrby(meta_key, "v", 1)
        start = store.begin_turn("s", last=50)
        store.release_turn(start.lease)
        assert [m.content for m in start.messages] == regrown
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        other.close()
        store.close()
        client.close()


def test_a_summary_does_not_outlive_its_list(redis_url: str) -> None:
    # The running summary lives in the session's hash, beside the list. A list lost on its own
    # (evicted, or expired while a 0.1.0-layout session's new hash had no TTL) must take the
    # summary with it: the next conversation under that id would otherwise be sent a summary
    # of the one before (its covers fit the new list once it grows).
    prefix = "t" + uuid.uuid4().hex[:10] + ":"
    client = redis.Redis.from_url(redis_url)
    store = RedisChatStore(redis_url, key_prefix=prefix)
    try:
        store.append("s", [HumanMessage(f"old {i}") for i in range(4)])
        assert store.save_summary("s", SessionSummary("about the old one", 2), expected_covers=None)
        client.delete(store.messages_key("s"))  # the list alone is gone
        store.append("s", [HumanMessage(f"new {i}") for i in range(4)])
        assert store.load_summary("s") is None
        # 0.1.0 layout: a list with a TTL and no hash; saving a summary gives the hash the TTL.
        client.rpush(store.messages_key("t"), *encode_messages([HumanMessage("legacy")]))
        client.pexpire(store.messages_key("t"), 60_000)
        assert store.save_summary("t", SessionSummary("legacy gist", 1), expected_covers=None)
        meta_key = store._keys("t")[1]
        assert 0 < client.pttl(meta_key) <= 60_000
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        store.close()
        client.close()
