"""One conformance suite for every store (memory, SQLite, PostgreSQL, Redis), sync and async."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_arcee.stores import CorruptMessageError
from langchain_arcee.stores.serialization import LossyStorageWarning, to_storable
from tests.stores.conftest import Api, Backend


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"


def rich_conversation() -> list[BaseMessage]:
    return [
        SystemMessage("You are terse.", id="sys-1"),
        HumanMessage("What's the weather in Paris?", id="h-1", name="alice"),
        AIMessage(
            content="",
            id="ai-1",
            additional_kwargs={"reasoning_content": "<think>need a tool</think> call weather"},
            tool_calls=[
                {"name": "weather", "args": {"city": "Paris", "units": ["c", 1]}, "id": "call_1"},
                {"name": "time", "args": {}, "id": "call_2"},
            ],
            response_metadata={"model_name": "trinity-large-thinking", "finish_reason": "tool"},
            usage_metadata={
                "input_tokens": 10,
                "output_tokens": 20,
                "total_tokens": 30,
                "input_token_details": {"cache_read": 3},
                "output_token_details": {"reasoning": 15},
            },
        ),
        ToolMessage("18C, cloudy", tool_call_id="call_1", name="weather", status="success"),
        ToolMessage("boom", tool_call_id="call_2", name="time", status="error", id="t-2"),
        AIMessageChunk(
            content="It is 18C and cloudy.",
            id="ai-2",
            additional_kwargs={"reasoning_content": "summarize"},
            response_metadata={"finish_reason": "stop"},
        ),
        HumanMessage(
            content=[
                {"type": "text", "text": "and this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]
        ),
        AIMessage("ü 空 \x00 \n \"quoted\" 'single' \\ emoji 🎉"),
    ]


def texts(messages: list[BaseMessage]) -> list[Any]:
    return [m.content for m in messages]


def turn(tag: str, size: int) -> list[BaseMessage]:
    return [HumanMessage(f"{tag}/{k}") for k in range(size)]


def assert_turns_contiguous(messages: list[BaseMessage], size: int, expected: set[str]) -> None:
    contents = [str(m.content) for m in messages]
    assert len(contents) == len(expected) * size
    seen = set()
    for start in range(0, len(contents), size):
        tag = contents[start].rsplit("/", 1)[0]
        assert contents[start : start + size] == [f"{tag}/{k}" for k in range(size)], contents
        seen.add(tag)
    assert seen == expected


# ---- core ---------------------------------------------------------------------------------
async def test_append_load_order_and_last(api: Api) -> None:
    s = sid()
    assert await api.load(s) == []
    assert await api.load(s, last=5) == []
    await api.append(s, turn("a", 3))
    await api.append(s, turn("b", 2))
    await api.append(s, [])
    assert texts(await api.load(s)) == ["a/0", "a/1", "a/2", "b/0", "b/1"]
    assert texts(await api.load(s, last=2)) == ["b/0", "b/1"]
    assert texts(await api.load(s, last=4)) == ["a/1", "a/2", "b/0", "b/1"]
    assert texts(await api.load(s, last=100)) == ["a/0", "a/1", "a/2", "b/0", "b/1"]
    assert await api.load(s, last=0) == []
    with pytest.raises(ValueError):
        await api.load(s, last=-1)


async def test_load_returns_fresh_list(api: Api) -> None:
    s = sid()
    await api.append(s, turn("a", 2))
    first = await api.load(s)
    first.clear()
    assert len(await api.load(s)) == 2


async def test_lossless_round_trip(api: Api) -> None:
    s = sid()
    conversation = rich_conversation()
    await api.append(s, conversation)
    loaded = await api.load(s)
    assert loaded == [to_storable(m) for m in conversation]
    assert [type(m) for m in loaded] == [
        SystemMessage,
        HumanMessage,
        AIMessage,
        ToolMessage,
        ToolMessage,
        AIMessage,  # the chunk is stored as a full message
        HumanMessage,
        AIMessage,
    ]
    ai = loaded[2]
    assert isinstance(ai, AIMessage)
    assert ai.additional_kwargs["reasoning_content"].startswith("<think>")
    assert [c["id"] for c in ai.tool_calls] == ["call_1", "call_2"]
    assert ai.tool_calls[0]["args"] == {"city": "Paris", "units": ["c", 1]}
    assert ai.usage_metadata is not None
    assert ai.usage_metadata["output_token_details"] == {"reasoning": 15}
    tool = loaded[4]
    assert isinstance(tool, ToolMessage)
    assert (tool.tool_call_id, tool.name, tool.status, tool.id) == (
        "call_2",
        "time",
        "error",
        "t-2",
    )
    assert loaded[1].name == "alice"
    assert isinstance(loaded[6].content, list)
    # Loading again (possibly from the decoded-message cache) gives the same.
    assert await api.load(s, last=3) == loaded[-3:]


async def test_batch_with_non_message_stores_nothing(api: Api) -> None:
    s = sid()
    await api.append(s, turn("ok", 1))
    with pytest.raises(TypeError):
        await api.append(s, [HumanMessage("x"), {"role": "user", "content": "not a message"}])
    assert texts(await api.load(s)) == ["ok/0"]
    assert await api.count(s) == 1


async def test_unencodable_values_are_stored_in_fallback_form_with_a_warning(
    api: Api, backend: Backend
) -> None:
    if backend.name == "memory":
        pytest.skip("the memory store keeps objects and does not encode them")
    s = sid()
    await api.append(s, turn("ok", 1))
    handle = object()
    bad = AIMessage("x", additional_kwargs={"handle": handle})
    with pytest.warns(LossyStorageWarning, match=r"messages\[1\]\.additional_kwargs\['handle'\]"):
        await api.append(s, [HumanMessage("first"), bad])
    stored = await api.load(s)
    assert texts(stored) == ["ok/0", "first", "x"]
    assert stored[-1].additional_kwargs == {"handle": repr(handle)}


# ---- admin --------------------------------------------------------------------------------
async def test_admin_calls(api: Api) -> None:
    a, b, c = sid(), sid(), sid()
    await api.append(a, turn("a", 5))
    time.sleep(0.002)
    await api.append(b, turn("b", 2))
    time.sleep(0.002)
    await api.append(c, turn("c", 1))
    time.sleep(0.002)
    await api.append(a, turn("a2", 1))  # a is now the most recently updated

    assert await api.count(a) == 6
    assert await api.count("never-seen") == 0
    assert texts(await api.read_page(a, offset=1, limit=2)) == ["a/1", "a/2"]
    assert texts(await api.read_page(a, offset=5, limit=10)) == ["a2/0"]
    assert await api.read_page(a, offset=50, limit=10) == []

    sessions = [i for i in await api.list_sessions() if i.session_id in {a, b, c}]
    assert [(i.session_id, i.message_count) for i in sessions] == [(a, 6), (c, 1), (b, 2)]
    assert all(i.updated_at is not None and i.updated_at.tzinfo is not None for i in sessions)
    page = await api.list_sessions(limit=1, offset=1)
    assert [i.session_id for i in page] == [c]

    exported = await api.export(b)
    assert exported == [
        {"type": "human", "data": exported[0]["data"]},
        {"type": "human", "data": exported[1]["data"]},
    ]
    assert exported[0]["data"]["content"] == "b/0"

    await api.clear(b)
    assert await api.load(b) == []
    assert await api.count(b) == 0
    assert b not in [i.session_id for i in await api.list_sessions()]
    await api.delete(c)
    assert await api.load(c) == []
    assert texts(await api.load(a, last=1)) == ["a2/0"]
    await api.append(b, turn("again", 1))
    assert texts(await api.load(b)) == ["again/0"]


async def test_ttl(backend: Backend, api: Api) -> None:
    store = backend.make(ttl=0.5)
    ttl_api = Api(store, api.mode)
    s, keep = sid(), sid()
    await ttl_api.append(s, turn("old", 2))
    if backend.name != "memory":
        await api.append(keep, turn("keep", 1))
    assert texts(await ttl_api.load(s)) == ["old/0", "old/1"]
    await asyncio.sleep(0.8)
    assert await ttl_api.load(s) == []
    assert await ttl_api.load(s, last=1) == []
    assert await ttl_api.count(s) == 0
    assert s not in [i.session_id for i in await ttl_api.list_sessions()]
    # The memory store drops expired sessions as soon as it sees them (the listing above).
    assert await ttl_api.purge_expired() >= (0 if backend.name == "memory" else 1)
    assert await ttl_api.purge_expired() == 0
    await ttl_api.append(s, turn("new", 1))
    assert texts(await ttl_api.load(s)) == ["new/0"]  # an expired session starts afresh
    if backend.name != "memory":
        assert texts(await api.load(keep)) == ["keep/0"]


async def test_ttl_refreshed_by_writes(backend: Backend, api: Api) -> None:
    store = backend.make(ttl=0.6)
    ttl_api = Api(store, api.mode)
    s = sid()
    await ttl_api.append(s, turn("a", 1))
    await asyncio.sleep(0.4)
    await ttl_api.append(s, turn("b", 1))
    await asyncio.sleep(0.4)
    assert texts(await ttl_api.load(s)) == ["a/0", "b/0"]


# ---- session ids --------------------------------------------------------------------------
SPECIAL_IDS = [
    "'; DROP TABLE x; --",
    "a:*",
    "a",
    "a:",
    "*",
    "arcee:sessions",
    "sessions",
    "with space",
    'quote " and \\ backslash',
    "%_like_%",
    "ü 空 🎉",
    "x" * 300,
]


async def test_special_session_ids_are_isolated(api: Api) -> None:
    for n, session_id in enumerate(SPECIAL_IDS):
        await api.append(session_id, [HumanMessage(f"m{n}")])
    for n, session_id in enumerate(SPECIAL_IDS):
        assert texts(await api.load(session_id)) == [f"m{n}"], session_id
        assert await api.count(session_id) == 1
    listed = {i.session_id for i in await api.list_sessions()}
    assert set(SPECIAL_IDS) <= listed
    for session_id in SPECIAL_IDS:
        await api.clear(session_id)


async def test_nul_in_session_id(api: Api, backend: Backend) -> None:
    session_id = "ü 空 \x00"
    if backend.name == "postgres":
        with pytest.raises(ValueError, match="NUL"):
            await api.append(session_id, [HumanMessage("x")])
        with pytest.raises(ValueError, match="NUL"):
            await api.load(session_id)
        return
    await api.append(session_id, [HumanMessage("x")])
    await api.append("ü 空 ", [HumanMessage("y")])
    assert texts(await api.load(session_id)) == ["x"]
    assert texts(await api.load("ü 空 ")) == ["y"]
    assert session_id in {i.session_id for i in await api.list_sessions()}


async def test_invalid_session_ids(api: Api) -> None:
    with pytest.raises(ValueError):
        await api.append("", [HumanMessage("x")])
    with pytest.raises(TypeError):
        await api.load(123)  # type: ignore[arg-type]


# ---- corruption ---------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["{not json", '{"type": "alien", "data": {}}', "[1, 2]"])
async def test_corrupt_row_names_the_session(api: Api, backend: Backend, raw: str) -> None:
    bad, good = sid(), sid()
    await api.append(bad, turn("fine", 1))
    await api.append(good, turn("good", 1))
    backend.write_raw(bad, raw)
    with pytest.raises(CorruptMessageError, match=bad):
        await api.load(bad)
    with pytest.raises(CorruptMessageError, match=bad):
        await api.load(bad, last=1)
    assert texts(await api.load(bad, last=0)) == []
    assert texts(await api.load(good)) == ["good/0"]


# ---- concurrency --------------------------------------------------------------------------
def test_concurrent_threads_never_interleave(backend: Backend) -> None:
    store = backend.store
    s = sid()
    workers, turns, size = 8, 15, 3
    errors: list[BaseException] = []
    snapshots: list[list[BaseMessage]] = []

    def work(w: int) -> None:
        try:
            for t in range(turns):
                store.append(s, turn(f"w{w}t{t}", size))
                store.load(s, last=5)
                if t % 3 == 0:
                    snapshots.append(store.load(s))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = {f"w{w}t{t}" for w in range(workers) for t in range(turns)}
    final = store.load(s)
    assert_turns_contiguous(final, size, expected)
    assert store.count(s) == workers * turns * size
    # Every read saw a prefix of the final order: a later turn never showed up before an
    # earlier one committed (ids follow commit order within a session).
    for snapshot in snapshots:
        assert len(snapshot) % size == 0
        assert snapshot == final[: len(snapshot)]


async def test_concurrent_tasks_never_interleave(backend: Backend) -> None:
    store = backend.store
    s = sid()
    workers, turns, size = 8, 15, 3

    async def work(w: int) -> None:
        for t in range(turns):
            await store.aappend(s, turn(f"w{w}t{t}", size))
            await store.aload(s, last=5)

    await asyncio.gather(*(work(w) for w in range(workers)))
    expected = {f"w{w}t{t}" for w in range(workers) for t in range(turns)}
    assert_turns_contiguous(await store.aload(s), size, expected)
    assert await store.acount(s) == workers * turns * size


# ---- property test ------------------------------------------------------------------------
_text = st.text(max_size=40)
_json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text
_json = st.recursive(
    _json_leaf | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_kwargs = st.dictionaries(_text, _json, max_size=3)
_content = _text | st.lists(
    st.fixed_dictionaries({"type": st.just("text"), "text": _text}), max_size=2
)
_ids = st.none() | st.text(min_size=1, max_size=20)
_tool_call = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=10),
        "args": st.dictionaries(_text, _json, max_size=3),
        "id": st.text(min_size=1, max_size=12),
    }
)


@st.composite
def messages(draw: st.DrawFn) -> BaseMessage:
    kind = draw(st.sampled_from(["human", "ai", "system", "tool", "chunk"]))
    common = {
        "content": draw(_content),
        "id": draw(_ids),
        "additional_kwargs": draw(_kwargs),
        "response_metadata": draw(_kwargs),
    }
    if kind == "human":
        return HumanMessage(**common)
    if kind == "system":
        return SystemMessage(**common)
    if kind == "tool":
        return ToolMessage(
            **common,
            tool_call_id=draw(st.text(min_size=1, max_size=12)),
            status=draw(st.sampled_from(["success", "error"])),
        )
    if kind == "chunk":
        return AIMessageChunk(**common)
    return AIMessage(**common, tool_calls=draw(st.lists(_tool_call, max_size=2)))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(messages(), min_size=1, max_size=6))
def test_property_round_trip(backend: Backend, batch: list[BaseMessage]) -> None:
    store = backend.store
    s = sid()
    store.append(s, batch)
    expected = [to_storable(m) for m in batch]
    assert store.load(s) == expected
    assert store.load(s, last=2) == expected[-2:]
    store.clear(s)


async def test_unencodable_session_id_is_a_value_error(api: Api, backend: Backend) -> None:
    if backend.name == "memory":
        pytest.skip("the memory store keeps any str")
    with pytest.raises(ValueError, match="unicode"):
        await api.append("bad \ud800", [HumanMessage("x")])
