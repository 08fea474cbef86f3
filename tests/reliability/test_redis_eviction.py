"""Redis that may evict conversations is detected on connect (issue 9).

Each test runs its own ``redis-server`` (see ``RedisProcess``) with the policy under test.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest
import redis
from langchain_core.messages import HumanMessage

from langchain_arcee.stores import EvictionPolicyWarning, StoreError
from langchain_arcee.stores.redis import RedisChatStore
from tests.reliability.support import RedisProcess

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_evicting_policy_warns_once_and_the_store_still_works(
    redis_process: RedisProcess, mode: str
) -> None:
    redis_process.config_set("maxmemory-policy", "allkeys-lru")
    store = RedisChatStore(redis_process.url)
    try:
        with pytest.warns(EvictionPolicyWarning, match=r"allkeys-lru.*noeviction") as caught:
            if mode == "sync":
                store.append("s", [HumanMessage("hi")])
                store.append("s", [HumanMessage("again")])
            else:
                await store.aappend("s", [HumanMessage("hi")])
                await store.aappend("s", [HumanMessage("again")])
        assert len(caught) == 1
        assert [m.content for m in store.load("s")] == ["hi", "again"]
    finally:
        await store.aclose()


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_refuse_option_raises_a_store_error_and_writes_nothing(
    redis_process: RedisProcess, mode: str
) -> None:
    redis_process.config_set("maxmemory-policy", "allkeys-lfu")
    store = RedisChatStore(redis_process.url, eviction_check="refuse")
    try:
        for _ in range(2):  # every call refuses, not only the first
            with pytest.raises(StoreError, match=r"allkeys-lfu.*noeviction"):
                if mode == "sync":
                    store.append("s", [HumanMessage("hi")])
                else:
                    await store.aappend("s", [HumanMessage("hi")])
        probe = redis.Redis(port=redis_process.port)
        assert probe.dbsize() == 0
        probe.close()
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("policy", "ttl", "warns"),
    [
        ("noeviction", None, False),
        ("volatile-lru", None, False),  # keys without expiry are never evicted
        ("volatile-ttl", timedelta(hours=1), True),
        ("allkeys-random", None, True),
    ],
)
def test_which_policies_warn(
    redis_process: RedisProcess, policy: str, ttl: timedelta | None, warns: bool
) -> None:
    redis_process.config_set("maxmemory-policy", policy)
    store = RedisChatStore(redis_process.url, ttl=ttl)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            store.append("s", [HumanMessage("hi")])
        assert any(w.category is EvictionPolicyWarning for w in caught) is warns
    finally:
        store.close()


def test_config_denied_by_acl_is_tolerated(redis_process: RedisProcess) -> None:
    redis_process.config_set("maxmemory-policy", "allkeys-lru")
    admin = redis.Redis(port=redis_process.port)
    admin.acl_setuser(
        "app", enabled=True, passwords=["+app-pw-123"], keys=["*"], commands=["+@all", "-config"]
    )
    admin.close()
    url = f"redis://app:app-pw-123@127.0.0.1:{redis_process.port}/0"
    store = RedisChatStore(url, eviction_check="refuse")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            store.append("s", [HumanMessage("hi")])  # the policy can't be read: no verdict
        assert [m.content for m in store.load("s")] == ["hi"]
    finally:
        store.close()


def test_eviction_check_off_and_bad_value(redis_process: RedisProcess) -> None:
    redis_process.config_set("maxmemory-policy", "allkeys-lru")
    store = RedisChatStore(redis_process.url, eviction_check="off")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.append("s", [HumanMessage("hi")])
    store.close()
    with pytest.raises(ValueError, match="eviction_check"):
        RedisChatStore(redis_process.url, eviction_check="maybe")  # type: ignore[arg-type]
