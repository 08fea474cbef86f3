"""InMemoryChatStore is bounded: oldest messages and least recently updated sessions go first."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from langchain_arcee.stores import InMemoryChatStore


def _turn(i: int) -> list[HumanMessage]:
    return [HumanMessage(f"m{i}")]


def test_messages_per_session_keep_the_newest() -> None:
    store = InMemoryChatStore(max_messages_per_session=3)
    for i in range(5):
        store.append("s", _turn(i))
    assert [m.content for m in store.load("s")] == ["m2", "m3", "m4"]


def test_sessions_drop_the_least_recently_updated() -> None:
    store = InMemoryChatStore(max_sessions=2)
    store.append("a", _turn(0))
    store.append("b", _turn(1))
    store.append("a", _turn(2))  # "a" is now the most recently updated
    store.append("c", _turn(3))
    assert sorted(info.session_id for info in store.list_sessions()) == ["a", "c"]
    assert store.load("b") == []


@pytest.mark.parametrize("option", ["max_messages_per_session", "max_sessions"])
def test_bounds_must_be_positive(option: str) -> None:
    with pytest.raises(ValueError, match=option):
        InMemoryChatStore(**{option: 0})
