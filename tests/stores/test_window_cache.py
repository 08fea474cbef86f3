"""A store object's window cache never serves what the database no longer holds.

The SQL and Redis stores keep each session's newest messages between turns and ship the window
only when the session's state differs (SQL: version + newest message id; Redis: version + the
time the list last started from empty + the list's length), and only the newer messages when it
only grew. These tests attack that promise:
other store objects writing, clearing, expiring, purging and recreating the session at the very
version the cache holds, out-of-protocol rows, callers mutating what they stored, and a random
interleaving of all of it checked against a fresh reader after every step. They run on every
store (the in-memory store keeps no window cache: the same promises hold trivially).
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, messages_to_dict

from langchain_arcee.stores.base import ChatStore
from langchain_arcee.stores.redis import RedisChatStore
from langchain_arcee.stores.relational import RelationalChatStore
from langchain_arcee.stores.serialization import encode_messages
from tests.stores.conftest import Backend


def sid() -> str:
    return f"w-{uuid.uuid4().hex[:8]}"


def turn(store: ChatStore, session: str, *messages: BaseMessage, last: int | None = 50) -> Any:
    """A whole turn on ``store``: begin (reads the window), commit ``messages``."""
    start = store.begin_turn(session, last=last, lock_timeout=5)
    store.commit_turn(start.lease, list(messages))
    return start


def window(store: ChatStore, session: str, last: int | None = 50) -> list[dict[str, Any]]:
    """What a turn starting now on ``store`` sees (the lease is given back)."""
    start = store.begin_turn(session, last=last, lock_timeout=5)
    store.release_turn(start.lease)
    return messages_to_dict(start.messages)


def truth(backend: Backend, session: str, last: int | None = 50) -> list[dict[str, Any]]:
    """The same read by a store object that caches nothing."""
    if not hasattr(backend, "reader"):
        kwargs = {"cache_bytes": 0} if backend.name in ("sqlite", "postgres") else {}
        backend.reader = backend.make(**kwargs)  # type: ignore[attr-defined]
    return messages_to_dict(backend.reader.load(session, last=last))  # type: ignore[attr-defined]


def test_a_second_turn_is_served_from_the_cache_without_decoding_the_window(
    backend: Backend,
) -> None:
    store = backend.store
    if not isinstance(store, (RelationalChatStore, RedisChatStore)):
        pytest.skip(f"{backend.name} keeps no window cache")
    session = sid()
    store.append(session, [HumanMessage(f"m{i}") for i in range(40)])
    turn(store, session, HumanMessage("q1"), AIMessage("a1"))
    decoded: list[int] = []
    original = store._cache.decode_many

    def counting(raw: list[str], **kwargs: Any) -> list[BaseMessage]:
        decoded.append(len(raw))
        return original(raw, **kwargs)

    store._cache.decode_many = counting  # type: ignore[method-assign]
    start = store.begin_turn(session, last=50, lock_timeout=5)
    store.release_turn(start.lease)
    assert [m.content for m in start.messages][-2:] == ["q1", "a1"]
    assert len(start.messages) == 42 and start.total == 42
    assert sum(decoded) == 0  # nothing shipped, nothing decoded


def _count_decoded(store: ChatStore) -> list[int]:
    """How many stored texts ``store`` decodes from now on, per call."""
    decoded: list[int] = []
    original = store._cache.decode_many  # type: ignore[attr-defined]

    def counting(raw: list[str], **kwargs: Any) -> list[BaseMessage]:
        decoded.append(len(raw))
        return original(raw, **kwargs)

    store._cache.decode_many = counting  # type: ignore[attr-defined]
    return decoded


@pytest.mark.parametrize("last", [50, 3, None])
def test_after_another_objects_turns_only_the_new_messages_are_shipped(
    backend: Backend, last: int | None
) -> None:
    # Several app instances serving one session in turn: each start reads what the others
    # added since its own last turn, not the whole window again.
    store, other, session = backend.store, backend.make(), sid()
    if not isinstance(store, (RelationalChatStore, RedisChatStore)):
        pytest.skip(f"{backend.name} keeps no window cache")
    store.append(session, [HumanMessage(f"m{i}") for i in range(40)])
    turn(store, session, HumanMessage("q1"), AIMessage("a1"), last=last)
    turn(other, session, HumanMessage("q2"), AIMessage("a2"), last=last)
    turn(other, session, HumanMessage("q3"), AIMessage("a3"), last=last)
    decoded = _count_decoded(store)
    start = store.begin_turn(session, last=last, lock_timeout=5)
    store.release_turn(start.lease)
    assert messages_to_dict(start.messages) == truth(backend, session, last)
    assert start.total == 46
    # The newer messages (the newest 3 of them for last=3, plus the session's first message,
    # which a turn also gets when its window doesn't reach back to it), not the window.
    assert sum(decoded) == (3 + 1 if last == 3 else 4)


def test_a_session_cleared_and_regrown_elsewhere_is_read_whole_at_once(backend: Backend) -> None:
    # Not mistaken for growth (which would extend the stale cached window, then find the
    # counts disagree and start again): one start, the whole new window.
    store, other, session = backend.store, backend.make(), sid()
    if not isinstance(store, (RelationalChatStore, RedisChatStore)):
        pytest.skip(f"{backend.name} keeps no window cache")
    turn(store, session, HumanMessage("q1"), AIMessage("a1"))
    other.clear(session)
    other.append(session, [HumanMessage(f"new {i}") for i in range(5)])
    starts = []
    original = store.try_begin_turn

    def counting(*args: Any, **kwargs: Any) -> Any:
        starts.append(1)
        return original(*args, **kwargs)

    store.try_begin_turn = counting  # type: ignore[method-assign]
    assert [m["data"]["content"] for m in window(store, session)] == [f"new {i}" for i in range(5)]
    assert len(starts) == 1


def test_another_objects_append_and_turn_are_seen(backend: Backend) -> None:
    store, other, session = backend.store, backend.make(), sid()
    turn(store, session, HumanMessage("q1"), AIMessage("a1"))
    other.append(session, [HumanMessage("from elsewhere")])
    assert window(store, session) == truth(backend, session)
    turn(other, session, HumanMessage("q2"), AIMessage("a2"))
    assert [m["data"]["content"] for m in window(store, session)] == [
        "q1",
        "a1",
        "from elsewhere",
        "q2",
        "a2",
    ]


def test_a_clear_by_another_object_empties_the_next_turn(backend: Backend) -> None:
    store, other, session = backend.store, backend.make(), sid()
    turn(store, session, HumanMessage("q1"), AIMessage("a1"))
    other.clear(session)
    assert window(store, session) == []


def test_a_session_deleted_purged_and_recreated_at_the_same_version_is_not_confused(
    backend: Backend,
) -> None:
    store, other, session = backend.store, backend.make(), sid()
    for i in range(3):
        turn(store, session, HumanMessage(f"old q{i}"), AIMessage(f"old a{i}"))
    cached = store.begin_turn(session, last=50, lock_timeout=5)
    store.release_turn(cached.lease)
    other.delete(session)
    time.sleep(0.01)
    other.purge_expired()  # the emptied row goes: the version starts again from scratch
    for i in range(10):
        other.append(session, [HumanMessage(f"new {i}")])
        again = other.begin_turn(session, last=50, lock_timeout=5)
        other.release_turn(again.lease)
        if again.lease.version >= cached.lease.version:
            break
    assert window(store, session) == truth(backend, session)
    assert all(m["data"]["content"].startswith("new") for m in window(store, session))


def test_an_expired_session_starts_empty_even_when_cached(backend: Backend) -> None:
    store, session = backend.make(ttl=0.3), sid()
    turn(store, session, HumanMessage("q1"), AIMessage("a1"))
    assert len(window(store, session)) == 2
    time.sleep(0.5)
    assert window(store, session) == []
    turn(store, session, HumanMessage("q2"), AIMessage("a2"))
    assert [m["data"]["content"] for m in window(store, session)] == ["q2", "a2"]


def test_a_row_written_behind_the_protocol_is_seen(backend: Backend) -> None:
    store, session = backend.store, sid()
    turn(store, session, HumanMessage("q1"), AIMessage("a1"))
    extra = HumanMessage("raw row")
    backend.write_raw(session, encode_messages([extra])[0])
    assert window(store, session) == truth(backend, session)


def test_mutating_what_was_stored_does_not_change_the_next_window(backend: Backend) -> None:
    store, session = backend.store, sid()
    answer = AIMessage("the answer", additional_kwargs={"reasoning_content": "why"})
    turn(store, session, HumanMessage("q1"), answer)
    answer.content = "edited by the caller"
    answer.additional_kwargs["reasoning_content"] = "edited too"
    seen = window(store, session)
    assert seen == truth(backend, session)
    assert seen[-1]["data"]["content"] == "the answer"
    assert seen[-1]["data"]["additional_kwargs"] == {"reasoning_content": "why"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_interleavings_of_two_objects_always_match_a_fresh_read(
    backend: Backend, seed: int
) -> None:
    rng = random.Random(seed)
    stores = [backend.store, backend.make()]
    session = sid()
    for step in range(60):
        actor = rng.choice(stores)
        action = rng.choices(["turn", "append", "clear", "read"], weights=[5, 2, 1, 3])[0]
        last = rng.choice([3, 10, 50, None])
        if action == "turn":
            turn(actor, session, HumanMessage(f"q{step}"), AIMessage(f"a{step}"), last=last)
        elif action == "append":
            actor.append(session, [HumanMessage(f"p{step}")])
        elif action == "clear":
            actor.clear(session)
        for reader in stores:
            assert window(reader, session, last) == truth(backend, session, last), (step, last)


def test_a_session_expired_and_rebuilt_to_the_same_version_and_length_is_not_confused(
    backend: Backend,
) -> None:
    # Redis forgets an expired session's keys: its version starts again from 0, so only the
    # life stamp tells the rebuilt session from the cached one.
    store, session = backend.make(ttl=0.4), sid()
    # (in-memory stores made with options don't share storage: one object plays both)
    other = store if backend.name == "memory" else backend.make(ttl=0.4)
    for i in range(3):
        turn(store, session, HumanMessage(f"old q{i}"), AIMessage(f"old a{i}"))
    assert len(window(store, session)) == 6
    time.sleep(0.6)
    for i in range(3):
        turn(other, session, HumanMessage(f"new q{i}"), AIMessage(f"new a{i}"))
    seen = window(store, session)
    assert [m["data"]["content"] for m in seen] == [
        text for i in range(3) for text in (f"new q{i}", f"new a{i}")
    ]
