"""Turn semantics: what is stored, when, and what the next request carries."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from langchain_arcee.memory import RunnableWithMemory, with_memory
from langchain_arcee.memory.window import READ_HEADROOM
from langchain_arcee.stores import ChatStore, InMemoryChatStore, StoreError
from tests.memory.conftest import cfg
from tests.memory.fakes import ScriptedChatModel, ai


def roles(messages):
    return [type(m).__name__ for m in messages]


# ---- bare model ---------------------------------------------------------------------------
def test_invoke_stores_turn_and_sends_history(store: ChatStore) -> None:
    model = ScriptedChatModel(replies=[ai("Hi Bob", reasoning="greet"), "Bob"])
    chat = RunnableWithMemory(model, store)
    assert chat.invoke("I'm Bob", cfg()).content == "Hi Bob"
    chat.invoke("Name?", cfg())
    assert [m.content for m in model.requests[1]] == ["I'm Bob", "Hi Bob", "Name?"]
    # reasoning of the earlier assistant message is sent back (default retention "all")
    assert model.requests[1][1].additional_kwargs["reasoning_content"] == "greet"
    stored = store.load("s1")
    assert roles(stored) == ["HumanMessage", "AIMessage"] * 2
    # stored exactly as given (as RWMH does): the caller's messages get no id added
    assert [m.id for m in stored[0::2]] == [None, None]
    assert all(m.id for m in stored[1::2])  # the model's replies carry their own


@pytest.mark.parametrize(
    "value",
    [
        "hi",
        HumanMessage("hi"),
        [HumanMessage("hi")],
        (HumanMessage("hi"),),
        [[HumanMessage("hi")]],
        {"input": "hi"},
        {"question": [HumanMessage("hi")]},
    ],
)
def test_input_shapes(value: object) -> None:
    store = InMemoryChatStore()
    model = ScriptedChatModel(replies=["ok"])
    RunnableWithMemory(model, store).invoke(value, cfg())
    assert [m.content for m in store.load("s1")] == ["hi", "ok"]


def test_does_not_mutate_caller_messages() -> None:
    message = HumanMessage("hi")
    RunnableWithMemory(ScriptedChatModel(), InMemoryChatStore()).invoke([message], cfg())
    assert message.id is None


def test_output_shapes() -> None:
    store = InMemoryChatStore()
    chain = ChatPromptTemplate.from_messages([MessagesPlaceholder("m")]) | ScriptedChatModel(
        replies=["a"]
    )
    str_chain = (lambda x: x) | ScriptedChatModel(replies=["b"]) | StrOutputParser()
    dict_chain = str_chain | (lambda s: {"answer": AIMessage(s), "other": 1})
    list_chain = str_chain | (lambda s: [AIMessage(s)])
    RunnableWithMemory(chain, store, input_messages_key="m").invoke({"m": "q"}, cfg("a"))
    assert RunnableWithMemory(str_chain, store).invoke("q", cfg("b")) == "b"
    RunnableWithMemory(dict_chain, store, output_messages_key="answer").invoke("q", cfg("c"))
    RunnableWithMemory(list_chain, store).invoke("q", cfg("d"))
    for session in "abcd":
        stored = store.load(session)
        assert roles(stored) == ["HumanMessage", "AIMessage"], session


def test_lcel_chain_with_system_prompt_and_history_key(store: ChatStore) -> None:
    model = ScriptedChatModel(replies=["first", "second"])
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are good at {ability}"),
            MessagesPlaceholder("history"),
            ("human", "{question}"),
        ]
    )
    chat = RunnableWithMemory(
        prompt | model,
        store,
        input_messages_key="question",
        history_messages_key="history",
    )
    chat.invoke({"ability": "math", "question": "cosine?"}, cfg())
    chat.invoke({"ability": "math", "question": "inverse?"}, cfg())
    sent = model.requests[1]
    assert roles(sent) == ["SystemMessage", "HumanMessage", "AIMessage", "HumanMessage"]
    assert [m.content for m in sent[1:]] == ["cosine?", "first", "inverse?"]
    # the system prompt lives in the template, not in the store
    assert [m.content for m in store.load("s1")] == ["cosine?", "first", "inverse?", "second"]


def test_leading_system_message_in_input_is_stored_and_resent() -> None:
    store = InMemoryChatStore()
    model = ScriptedChatModel()
    chat = RunnableWithMemory(model, store)
    chat.invoke([SystemMessage("be brief"), HumanMessage("hi")], cfg())
    chat.invoke("again", cfg())
    assert roles(model.requests[1])[:2] == ["SystemMessage", "HumanMessage"]


# ---- failures -----------------------------------------------------------------------------
def test_failed_runnable_stores_nothing_and_reraises(store: ChatStore) -> None:
    model = ScriptedChatModel(fail_on_call=1)
    chat = RunnableWithMemory(model, store)
    chat.invoke("one", cfg())
    with pytest.raises(RuntimeError, match="model failed"):
        chat.invoke("two", cfg())
    assert [m.content for m in store.load("s1")] == ["one", "reply 0"]
    chat.invoke("two again", cfg())  # the turn can simply be retried
    assert [m.content for m in store.load("s1")][-2:] == ["two again", "reply 2"]


async def test_failed_runnable_async_stores_nothing() -> None:
    store = InMemoryChatStore()
    chat = RunnableWithMemory(ScriptedChatModel(fail_on_call=0), store)
    with pytest.raises(RuntimeError):
        await chat.ainvoke("one", cfg())
    assert store.load("s1") == []


class FailingStore(InMemoryChatStore):
    def commit_turn(self, lease, messages):  # type: ignore[no-untyped-def]
        raise StoreError(f"disk full for {lease.session_id}")

    async def acommit_turn(self, lease, messages):  # type: ignore[no-untyped-def]
        raise StoreError(f"disk full for {lease.session_id}")


def test_failed_store_write_raises_to_caller() -> None:
    chat = RunnableWithMemory(ScriptedChatModel(), FailingStore())
    with pytest.raises(StoreError, match="disk full"):
        chat.invoke("hi", cfg())
    with pytest.raises(StoreError):
        list(chat.stream("hi", cfg()))


async def test_failed_store_write_raises_to_caller_async() -> None:
    chat = RunnableWithMemory(ScriptedChatModel(), FailingStore())
    with pytest.raises(StoreError):
        await chat.ainvoke("hi", cfg())
    with pytest.raises(StoreError):
        async for _ in chat.astream("hi", cfg()):
            pass


def test_one_atomic_append_per_turn() -> None:
    calls: list[int] = []

    class CountingStore(InMemoryChatStore):
        def commit_turn(self, lease, messages):  # type: ignore[no-untyped-def]
            calls.append(len(messages))
            super().commit_turn(lease, messages)

    tool_loop = ScriptedChatModel(replies=["x"]) | (lambda m: [m, AIMessage("y")])
    RunnableWithMemory(tool_loop, CountingStore()).invoke("hi", cfg())
    assert calls == [3]


# ---- streams ------------------------------------------------------------------------------
REPLY = ai("the full answer here", reasoning="step one two", usage=(10, 5))


def assert_stored_reply(store: ChatStore) -> None:
    stored = store.load("s1")
    assert roles(stored) == ["HumanMessage", "AIMessage"]
    reply = stored[1]
    assert type(reply) is AIMessage
    assert reply.content == "the full answer here"
    assert reply.additional_kwargs["reasoning_content"].strip() == "step one two"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["total_tokens"] == 15


def test_stream_yields_chunks_and_stores_one_message(store: ChatStore) -> None:
    chat = RunnableWithMemory(ScriptedChatModel(replies=[REPLY]), store)
    chunks = list(chat.stream("hi", cfg()))
    assert len(chunks) > 3
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert_stored_reply(store)


async def test_astream_stores_one_message(store: ChatStore) -> None:
    chat = RunnableWithMemory(ScriptedChatModel(replies=[REPLY]), store)
    chunks = [c async for c in chat.astream("hi", cfg())]
    assert len(chunks) > 3
    assert_stored_reply(store)


def test_stream_with_tool_calls_stores_tool_calls() -> None:
    store = InMemoryChatStore()
    reply = ai("", reasoning="use tool", tool_calls=[{"name": "add", "args": {"a": 1}, "id": "c1"}])
    chat = RunnableWithMemory(ScriptedChatModel(replies=[reply]), store)
    list(chat.stream("hi", cfg()))
    stored = store.load("s1")[1]
    assert isinstance(stored, AIMessage)
    assert stored.tool_calls == [{"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"}]


def test_stream_of_strings_stores_ai_message() -> None:
    store = InMemoryChatStore()
    chain = ScriptedChatModel(replies=[REPLY]) | StrOutputParser()
    chunks = list(RunnableWithMemory(chain, store).stream("hi", cfg()))
    assert "".join(chunks) == "the full answer here"
    assert store.load("s1")[1].content == "the full answer here"


def test_abandoned_stream_stores_nothing_and_releases_session(store: ChatStore) -> None:
    chat = RunnableWithMemory(ScriptedChatModel(replies=[REPLY, "retry"]), store)
    for _ in chat.stream("hi", cfg()):
        break
    assert store.load("s1") == []
    gen = chat.stream("hi", cfg())
    next(gen)
    gen.close()
    assert store.load("s1") == []
    # the session is not left locked: a retry runs and is stored
    assert chat.invoke("hi", cfg()).content == "retry"
    assert len(store.load("s1")) == 2


def test_stream_failing_midway_stores_nothing() -> None:
    store = InMemoryChatStore()
    chat = RunnableWithMemory(ScriptedChatModel(replies=[REPLY], fail_after_chunks=2), store)
    seen = []
    with pytest.raises(RuntimeError, match="stream failed"):
        for chunk in chat.stream("hi", cfg()):
            seen.append(chunk)
    assert len(seen) == 2
    assert store.load("s1") == []


async def test_abandoned_astream_stores_nothing_and_releases_session() -> None:
    store = InMemoryChatStore()
    chat = RunnableWithMemory(ScriptedChatModel(replies=[REPLY, "retry"]), store)
    stream = chat.astream("hi", cfg())
    async for _ in stream:
        break
    await stream.aclose()
    assert store.load("s1") == []
    # abandoned without aclose(): the loop's async-generator finalizer closes it
    async for _ in chat.astream("hi", cfg()):
        break
    result = await asyncio.wait_for(chat.ainvoke("hi", cfg()), timeout=5)
    assert result.content == "retry"
    assert len(store.load("s1")) == 2


async def test_astream_failing_midway_stores_nothing() -> None:
    store = InMemoryChatStore()
    chat = RunnableWithMemory(ScriptedChatModel(replies=[REPLY], fail_after_chunks=3), store)
    with pytest.raises(RuntimeError):
        async for _ in chat.astream("hi", cfg()):
            pass
    assert store.load("s1") == []


# ---- batch, helper, warnings --------------------------------------------------------------
def test_batch_and_abatch_run_turns_per_session() -> None:
    store = InMemoryChatStore()
    chat = RunnableWithMemory(ScriptedChatModel(), store)
    chat.batch(["a", "b"], [cfg("x"), cfg("y")])
    asyncio.run(chat.abatch(["c", "d"], [cfg("x"), cfg("y")]))
    assert [m.content for m in store.load("x")][::2] == ["a", "c"]
    assert [m.content for m in store.load("y")][::2] == ["b", "d"]


def test_with_memory_helper() -> None:
    chat = with_memory(ScriptedChatModel(), InMemoryChatStore(), max_history_messages=10)
    assert isinstance(chat, RunnableWithMemory)
    assert chat.max_history_messages == 10


def test_no_deprecation_warnings(store: ChatStore) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chat = RunnableWithMemory(ScriptedChatModel(), store)
        chat.invoke("hi", cfg())
        list(chat.stream("hi", cfg()))
        chat2 = RunnableWithMemory(ScriptedChatModel(), store.history)
        chat2.invoke("hi", cfg())


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        RunnableWithMemory(ScriptedChatModel(), InMemoryChatStore(), bogus=1)  # type: ignore[call-arg]


def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="reasoning_retention"):
        RunnableWithMemory(ScriptedChatModel(), InMemoryChatStore(), reasoning_retention="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reply_reserve"):
        RunnableWithMemory(
            ScriptedChatModel(), InMemoryChatStore(), context_window=100, reply_reserve=100
        )


def test_config_specs_and_schema() -> None:
    chat = RunnableWithMemory(ScriptedChatModel(), InMemoryChatStore())
    assert [s.id for s in chat.config_specs] == ["session_id"]
    assert chat.get_input_schema().model_json_schema()["type"] == "array"
    keyed = RunnableWithMemory(
        ScriptedChatModel(), InMemoryChatStore(), input_messages_key="q", history_messages_key="h"
    )
    assert "q" in keyed.get_input_schema().model_json_schema()["properties"]


# ---- I/O discipline -----------------------------------------------------------------------
class SpyStore(InMemoryChatStore):
    def __init__(self) -> None:
        super().__init__(max_messages_per_session=None)
        self.calls: list[tuple[str, int | None]] = []

    def try_begin_turn(self, session_id, token, *, last, lease_seconds):  # type: ignore[no-untyped-def]
        self.calls.append(("begin", last))
        return super().try_begin_turn(session_id, token, last=last, lease_seconds=lease_seconds)

    async def atry_begin_turn(self, session_id, token, *, last, lease_seconds):  # type: ignore[no-untyped-def]
        self.calls.append(("abegin", last))
        return super().try_begin_turn(session_id, token, last=last, lease_seconds=lease_seconds)

    def commit_turn(self, lease, messages):  # type: ignore[no-untyped-def]
        self.calls.append(("commit", len(messages)))
        super().commit_turn(lease, messages)

    def load(self, session_id, *, last=None):  # type: ignore[no-untyped-def]
        self.calls.append(("load", last))
        return super().load(session_id, last=last)

    async def acommit_turn(self, lease, messages):  # type: ignore[no-untyped-def]
        self.calls.append(("acommit", len(messages)))
        super().commit_turn(lease, messages)


async def test_async_paths_do_only_async_io() -> None:
    store = SpyStore()
    chat = RunnableWithMemory(ScriptedChatModel(), store, max_history_messages=100)
    await chat.ainvoke("hi", cfg())
    [c async for c in chat.astream("hi", cfg())]
    assert store.calls == [("abegin", 101), ("acommit", 2)] * 2


def test_reads_do_not_grow_with_stored_length() -> None:
    store = SpyStore()
    store.append("s1", [HumanMessage(f"q{i}", id=f"q{i}") for i in range(10_000)])
    store.calls.clear()
    chat = RunnableWithMemory(ScriptedChatModel(), store, max_history_messages=1000)
    chat.invoke("hi", cfg())
    assert [c for c in store.calls if c[0] == "begin"] == [("begin", 1001)]


def test_a_sessions_next_turn_reads_its_window_at_once() -> None:
    # With a token budget the first turn grows its read (x4) until the window is full; the
    # next turn starts at that size: one read, which a store's window cache answers.
    store = SpyStore()
    store.append("s1", [HumanMessage(f"q{i}", id=f"q{i}") for i in range(2_000)])
    store.calls.clear()
    model = ScriptedChatModel(replies=["a"])
    chat = RunnableWithMemory(model, store, context_window=10**7, reply_reserve=0)
    chat.invoke("first", cfg())
    first = [c for c in store.calls if c[0] in ("begin", "load")]
    assert len(first) > 1 and first[0][0] == "begin"  # grew: several reads
    store.calls.clear()
    chat.invoke("second", cfg())
    assert [c[0] for c in store.calls if c[0] in ("begin", "load")] == ["begin"]
    # ...and it sent what a fresh adapter (nothing remembered) sends.
    fresh = RunnableWithMemory(model, store, context_window=10**7, reply_reserve=0)
    fresh.invoke("third", cfg())
    assert model.requests[-1][:-3] == model.requests[-2][:-1]
    assert len(model.requests[-2]) == 2_000 + 3  # all stored, the first turn, the question


def test_a_full_windows_read_stays_its_size_turn_after_turn() -> None:
    # A window smaller than the session: each turn reads about the window, once; the read
    # must not grow with the turns (nor stay at the first turn's overshooting growth step).
    store = SpyStore()
    store.append("s1", [HumanMessage(f"question {i}", id=f"q{i}") for i in range(5_000)])
    model = ScriptedChatModel(replies=["a"])
    chat = RunnableWithMemory(model, store, context_window=3_000, reply_reserve=0)
    reads: list[list[tuple[str, int | None]]] = []
    for i in range(6):
        store.calls.clear()
        chat.invoke(f"turn {i}", cfg())
        reads.append([c for c in store.calls if c[0] in ("begin", "load")])
    sent = len(model.requests[-1]) - 1
    later = [turn_reads for turn_reads in reads[1:]]
    assert all(len(turn_reads) == 1 for turn_reads in later)  # one read a turn
    sizes = [turn_reads[0][1] or 0 for turn_reads in later]
    # About the same every turn (the window moves by a message as token counts vary), where
    # sizing each read from the last read grew it by the headroom (64) every turn...
    assert max(sizes) - min(sizes) < READ_HEADROOM, sizes
    # ...and about the window, not the first turn's last growth step (x4).
    assert sent < sizes[-1] <= sent + 2 * READ_HEADROOM, (sent, sizes)


def test_a_window_size_learned_while_a_turn_waits_does_not_change_its_first_read() -> None:
    # A turn reads its first window when it takes the lease; the plan must start from that
    # same read even if another turn of the session taught the adapter a new size meanwhile.
    store = SpyStore()
    store.append("s1", [SystemMessage("be brief", id="sys")])
    store.append("s1", [HumanMessage(f"question {i}", id=f"q{i}") for i in range(3_000)])
    model = ScriptedChatModel(replies=["a"])
    chat = RunnableWithMemory(model, store, context_window=3_000, reply_reserve=0)
    chat.invoke("first", cfg())
    real_begin = store.try_begin_turn

    def begin_while_another_turn_finishes(*args, **kwargs):  # type: ignore[no-untyped-def]
        chat._window_reads.record("s1", 2_900)  # as if a concurrent turn just recorded it
        return real_begin(*args, **kwargs)

    store.try_begin_turn = begin_while_another_turn_finishes  # type: ignore[method-assign]
    chat.invoke("second", cfg())
    store.try_begin_turn = real_begin  # type: ignore[method-assign]
    sent = model.requests[-1]
    assert isinstance(sent[0], SystemMessage)  # still pinned
    fresh = RunnableWithMemory(model, store, context_window=3_000, reply_reserve=0)
    fresh.invoke("third", cfg())
    assert model.requests[-1][0] == sent[0]
    assert len(model.requests[-1]) == pytest.approx(len(sent), abs=4)


def test_message_like_inputs_are_accepted() -> None:
    from langchain_core.messages import AIMessage as _AI
    from langchain_core.messages import HumanMessage as _Human

    from langchain_arcee.memory.turn import to_input_messages

    messages = to_input_messages([("user", "hi"), {"role": "assistant", "content": "hello"}])
    assert [type(m) for m in messages] == [_Human, _AI]
    assert [m.content for m in messages] == ["hi", "hello"]
