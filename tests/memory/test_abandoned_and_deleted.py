"""Issue 8's named defects at the adapter: an abandoned stream, a delete racing a reply, caches.

On 0.1.0 an abandoned sync stream (its generator kept alive, e.g. by a stored traceback) held
the session's lock forever and the next turn blocked with no timeout; a delete during a
streamed reply was undone by the reply's append; the decode cache was bounded by entries only.
"""

from __future__ import annotations

import gc
import time

import pytest
from langchain_core.messages import HumanMessage

from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import ConcurrentTurnError, InMemoryChatStore
from langchain_arcee.stores.serialization import DecodeCache, encode_message
from tests.memory.fakes import ScriptedChatModel

CONFIG = {"configurable": {"session_id": "s"}}


def test_an_abandoned_stream_lets_the_next_turn_run_after_its_lease() -> None:
    store = InMemoryChatStore()
    chat = RunnableWithMemory(
        ScriptedChatModel(replies=["one two three four"]), store, lease_seconds=0.3
    )
    abandoned = chat.stream("first", CONFIG)
    next(abandoned)  # the consumer takes one chunk and keeps the generator alive
    started = time.monotonic()
    chat.invoke("second", CONFIG)  # does not block forever: the lease runs out
    assert time.monotonic() - started < 5
    assert [m.content for m in store.load("s")] == ["second", "one two three four"]
    with pytest.raises(ConcurrentTurnError):  # the late stream can't store a stale turn
        list(abandoned)
    assert [m.content for m in store.load("s")] == ["second", "one two three four"]
    del abandoned
    gc.collect()


def test_a_delete_while_a_reply_streams_is_not_undone() -> None:
    store = InMemoryChatStore()
    chat = RunnableWithMemory(ScriptedChatModel(replies=["a b c"]), store)
    chat.invoke("before", CONFIG)
    stream = chat.stream("during", CONFIG)
    next(stream)
    store.delete("s")
    with pytest.raises(ConcurrentTurnError) as info:
        list(stream)
    assert info.value.messages[0].content == "during"
    assert store.load("s") == []
    assert "s" not in {i.session_id for i in store.list_sessions()}


def test_the_decode_cache_is_bounded_by_bytes() -> None:
    cache = DecodeCache(max_bytes=20_000)
    texts = [encode_message(HumanMessage(f"{n} " + "x" * 5_000)) for n in range(50)]
    for text in texts:
        cache.decode_many([text], session_id="s")
    assert 0 < cache.size <= 20_000
    assert len(cache) <= 4
    huge = encode_message(HumanMessage("y" * 30_000))  # larger than the bound: not cached
    cache.decode_many([huge], session_id="s")
    assert cache.size <= 20_000
