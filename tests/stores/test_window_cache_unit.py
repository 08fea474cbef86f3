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
