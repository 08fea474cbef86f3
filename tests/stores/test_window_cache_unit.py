"""``WindowCache`` on its own: what it keeps stays the size of the reads it answers."""

from __future__ import annotations

from langchain_core.messages import HumanMessage

from langchain_arcee.stores.window_cache import WindowCache


def test_an_entry_keeps_what_its_read_asked_for_as_the_session_grows() -> None:
    cache = WindowCache()
    first = [HumanMessage(f"m{i}") for i in range(5)]
    # A read of the newest 10 got the whole (5-message) session.
    cache.remember("s", (1, 5), first, total=5, last=10)
    for version in range(1, 200):
        appended = [HumanMessage(f"q{version}"), HumanMessage(f"a{version}")]
        cache.advance("s", version, (version + 1, version * 10), appended)
    state = (200, 1990)
    kept = cache.window("s", state, 10)
    assert kept is not None and [m.content for m in kept][-2:] == ["q199", "a199"]
    assert len(kept) == 10
    assert cache.window("s", state, 11) is None  # beyond what it kept: read again
    assert cache.known("s", 10) == state and cache.known("s", None) is None


def test_a_read_of_everything_is_kept_whole() -> None:
    cache = WindowCache()
    cache.remember("s", (3, 7), [HumanMessage("x")] * 3, total=3, last=None)
    cache.advance("s", 3, (4, 9), [HumanMessage("y")])
    whole = cache.window("s", (4, 9), None)
    assert whole is not None and len(whole) == 4


def _texts(messages: list[HumanMessage] | None) -> list[str] | None:
    return None if messages is None else [str(m.content) for m in messages]


def test_a_grown_session_extends_the_cached_window_by_what_was_shipped() -> None:
    cache = WindowCache()
    cache.remember("s", (3, 30), [HumanMessage(f"m{i}") for i in range(5)], total=5, last=4)
    newer = [HumanMessage("n1"), HumanMessage("n2")]
    got = cache.resolve("s", (5, 32), (3, 30), 4, 7, lambda: newer, grown=True)
    assert _texts(got) == ["m3", "m4", "n1", "n2"]
    assert cache.known("s", 4) == (5, 32)
    assert _texts(cache.window("s", (5, 32), 4)) == ["m3", "m4", "n1", "n2"]


def test_a_session_grown_past_the_window_is_served_from_what_was_shipped() -> None:
    cache = WindowCache()
    cache.remember("s", (3, 30), [HumanMessage(f"m{i}") for i in range(4)], total=4, last=4)
    newest = [HumanMessage(f"n{i}") for i in range(6, 10)]  # the newest 4 of 10 newer ones
    got = cache.resolve("s", (13, 50), (3, 30), 4, 14, lambda: newest, grown=True)
    assert _texts(got) == ["n6", "n7", "n8", "n9"]


def test_an_extension_that_does_not_add_up_is_read_again_whole() -> None:
    # The counts disagree (rows written behind the protocol, or not the session the entry
    # knew): nothing is guessed, the entry goes and the caller reads the whole window.
    cache = WindowCache()
    cache.remember("s", (3, 30), [HumanMessage("m")] * 3, total=3, last=10)
    got = cache.resolve("s", (4, 31), (3, 30), 10, 9, lambda: [HumanMessage("n")], grown=True)
    assert got is None and cache.known("s", 10) is None


def test_an_extension_of_an_entry_dropped_meanwhile_is_read_again_whole() -> None:
    cache = WindowCache()
    cache.remember("s", (3, 30), [HumanMessage("m")] * 3, total=3, last=10)
    cache.advance("s", 3, (4, 31), [HumanMessage("mine")])  # another thread moved it on
    got = cache.resolve("s", (5, 33), (3, 30), 10, 5, lambda: [HumanMessage("n")], grown=True)
    assert got is None and cache.known("s", 10) is None
