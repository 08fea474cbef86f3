"""The running summary: planning rules, the summarizer's input, failures, sync and async drivers.

The store's summary API (``load_summary`` / ``save_summary`` with a compare-and-set on
``covers``) is being added to the stores; until then :class:`SummarySession` keeps the summary
beside a real ``InMemoryChatStore`` session with the same compare-and-set contract.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import Runnable, RunnableLambda

from langchain_arcee.chat_models import ChatArcee
from langchain_arcee.memory.summary import (
    SUMMARY_HEADER,
    SUMMARY_ID_PREFIX,
    LoadedHistory,
    LoadPage,
    SaveSummary,
    SessionSummary,
    Summarize,
    SummaryPolicy,
    SummaryStep,
    arun_summary_plan,
    leading_system_message,
    plan_summary,
    positioned_turns,
    render_turn,
    run_summary_plan,
    summarizer_input,
)
from langchain_arcee.memory.window import WindowBudget, split_turns
from langchain_arcee.stores import InMemoryChatStore
from langchain_arcee.stores.base import TurnLease
from tests.arcee_server import ArceeTestServer, Reply

SESSION = "sess-42"
LOGGER = "langchain_arcee.memory.summary"


def tokens(message: BaseMessage) -> int:
    """A deterministic counter: one token per character of text (+1 per message)."""
    calls = sum(len(str(c.get("args"))) for c in getattr(message, "tool_calls", []) or [])
    return len(str(message.text)) + calls + 1


def budget(prompt_tokens: int) -> WindowBudget:
    return WindowBudget(context_window=prompt_tokens + 100, reply_reserve=100)


def human_turn(index: int, size: int = 20) -> list[BaseMessage]:
    return [
        HumanMessage(f"q{index:03d}".ljust(size, "."), id=f"h{index}"),
        AIMessage(
            f"a{index:03d}".ljust(size, "."),
            id=f"a{index}",
            additional_kwargs={"reasoning_content": f"SECRET-THOUGHT-{index}"},
        ),
    ]


def tool_turn(index: int) -> list[BaseMessage]:
    call = {"name": "lookup", "args": {"city": f"c{index}"}, "id": f"call{index}"}
    return [
        HumanMessage(f"weather {index}", id=f"h{index}"),
        AIMessage("", id=f"a{index}", tool_calls=[{**call, "type": "tool_call"}]),
        ToolMessage(f"sunny {index}", tool_call_id=f"call{index}", name="lookup", id=f"t{index}"),
        AIMessage(f"it is sunny {index}", id=f"f{index}"),
    ]


def conversation(turns: int, make: Callable[[int], list[BaseMessage]] = human_turn) -> list[Any]:
    return [m for i in range(turns) for m in make(i)]


class SummarySession:
    """One session of a real ``InMemoryChatStore`` plus its summary slot (compare-and-set)."""

    def __init__(self, messages: Sequence[BaseMessage] = ()) -> None:
        self.store = InMemoryChatStore(max_messages_per_session=None)
        if messages:
            self.store.append(SESSION, messages)
        self.summary: SessionSummary | None = None
        self.saves: list[SaveSummary] = []
        self.pages: list[LoadPage] = []

    # SummaryIO
    def load_page(self, offset: int, limit: int) -> list[BaseMessage]:
        self.pages.append(LoadPage(offset, limit))
        return self.store.read_page(SESSION, offset=offset, limit=limit)

    async def aload_page(self, offset: int, limit: int) -> list[BaseMessage]:
        self.pages.append(LoadPage(offset, limit))
        return await self.store.aread_page(SESSION, offset=offset, limit=limit)

    def save_summary(
        self, summary: SessionSummary, *, expected_covers: int | None, at: TurnLease | None = None
    ) -> bool:
        self.saves.append(SaveSummary(summary, expected_covers))
        current = self.summary.covers if self.summary is not None else None
        if current != expected_covers:
            return False
        self.summary = summary
        return True

    async def asave_summary(
        self, summary: SessionSummary, *, expected_covers: int | None, at: TurnLease | None = None
    ) -> bool:
        return self.save_summary(summary, expected_covers=expected_covers, at=at)

    # what a turn reads
    def loaded(self, last: int | None = None) -> LoadedHistory:
        messages = self.store.load(SESSION, last=last)
        first = self.store.count(SESSION) - len(messages)
        head = self.store.read_page(SESSION, offset=0, limit=1) if first else []
        return LoadedHistory(messages, first, head[0] if head else None)


class Recorder:
    """A summarizer (a real ``RunnableLambda``) that records its inputs."""

    def __init__(self, reply: Callable[[int], Any] = lambda n: f"summary #{n}") -> None:
        self.inputs: list[list[BaseMessage]] = []
        self.reply = reply

    def __call__(self, messages: list[BaseMessage]) -> Any:
        self.inputs.append(messages)
        return self.reply(len(self.inputs))

    async def acall(self, messages: list[BaseMessage]) -> Any:
        return self(messages)

    def runnable(self) -> Runnable[Any, Any]:
        return RunnableLambda(self, afunc=self.acall)


def step(
    session: SummarySession,
    policy: SummaryPolicy,
    *,
    prompt_tokens: int | None,
    new_input: Sequence[BaseMessage] = (),
    last: int | None = None,
    max_messages: int | None = None,
) -> SummaryStep:
    plan = plan_summary(
        policy,
        session.summary,
        session.loaded(last),
        list(new_input) or [HumanMessage("next?", id="input")],
        tokens,
        budget=budget(prompt_tokens) if prompt_tokens is not None else None,
        max_messages=max_messages,
        session_id=SESSION,
    )
    return run_summary_plan(plan, session, policy.summarizer)


def sent_history(result: SummaryStep) -> list[BaseMessage]:
    """The transcript messages sent (no summary message)."""
    return [m for m in result.history if not (m.id or "").startswith(SUMMARY_ID_PREFIX)]


def assert_whole_turns(messages: list[BaseMessage]) -> None:
    """Sent history starts at a turn and never splits a tool group."""
    body = [m for m in messages if not isinstance(m, SystemMessage)]
    if body:
        assert isinstance(body[0], HumanMessage)
    pending: set[str] = set()
    for message in body:
        if isinstance(message, ToolMessage):
            assert message.tool_call_id in pending
            pending.discard(message.tool_call_id)
        else:
            assert not pending
            if isinstance(message, AIMessage):
                pending = {c["id"] for c in message.tool_calls if c["id"]}
    assert not pending


def folded_ids(summarizer_messages: list[BaseMessage]) -> str:
    return str(summarizer_messages[-1].content)


# ---- planning -------------------------------------------------------------------------------
def test_no_pressure_no_update_and_history_unchanged() -> None:
    recorder = Recorder()
    session = SummarySession(conversation(5))
    result = step(session, SummaryPolicy(recorder.runnable()), prompt_tokens=None)
    assert result == SummaryStep(history=session.store.load(SESSION), summary=None)
    assert recorder.inputs == [] and session.saves == []


def test_first_summary_folds_pushed_turns_plus_a_batch_ahead() -> None:
    recorder = Recorder()
    session = SummarySession(conversation(10))  # 10 turns of 2 x 21 tokens
    policy = SummaryPolicy(recorder.runnable(), batch_turns=2)
    # 4 turns fit beside the input; 6 are pushed out, 2 more (of the window's 4) folded ahead;
    # the 2 left fit beside the new summary (~92 tokens).
    result = step(session, policy, prompt_tokens=200)
    assert len(recorder.inputs) == 1
    rendered = folded_ids(recorder.inputs[0])
    assert [f"q{i:03d}" in rendered for i in range(10)] == [True] * 8 + [False] * 2
    assert result.updated and result.saved
    assert result.summary == session.summary
    assert session.summary is not None and session.summary.covers == 16
    assert session.saves[0].expected_covers is None
    summary_msg = result.history[0]
    assert isinstance(summary_msg, SystemMessage)
    assert str(summary_msg.content) == f"{SUMMARY_HEADER}\nsummary #1"
    assert [m.id for m in sent_history(result)] == ["h8", "a8", "h9", "a9"]


def test_covered_messages_are_never_sent_even_when_they_would_fit() -> None:
    recorder = Recorder()
    session = SummarySession(conversation(6))
    session.summary = SessionSummary("Bob likes tea", covers=8)  # ahead of any window
    result = step(session, SummaryPolicy(recorder.runnable()), prompt_tokens=10_000)
    assert not result.updated and recorder.inputs == []
    assert [m.id for m in sent_history(result)] == ["h4", "a4", "h5", "a5"]
    assert "Bob likes tea" in str(result.history[0].content)


def test_leading_system_prompt_is_pinned_first_and_never_summarized() -> None:
    recorder = Recorder()
    system = SystemMessage("You are terse. SYSTEM-PROMPT", id="sys")
    session = SummarySession([system, *conversation(10)])
    policy = SummaryPolicy(recorder.runnable(), batch_turns=0)
    result = step(session, policy, prompt_tokens=len(system.text) + 1 + 3 * 42 + 40)
    assert result.history[0] is not None and result.history[0].id == "sys"
    # One leading system message: the prompt, then the summary (not a second system message).
    lead = str(result.history[0].content)
    assert lead.startswith("You are terse. SYSTEM-PROMPT\n\n" + SUMMARY_HEADER)
    assert sum(isinstance(m, SystemMessage) for m in result.history) == 1
    assert system.content == "You are terse. SYSTEM-PROMPT"  # the stored prompt is unchanged
    assert "SYSTEM-PROMPT" not in folded_ids(recorder.inputs[0])
    assert "q000" in folded_ids(recorder.inputs[0])
    assert session.summary is not None and (session.summary.covers - 1) % 2 == 0


def test_a_system_prompt_of_content_blocks_gets_the_summary_as_one_more_block() -> None:
    blocks: list[str | dict[str, Any]] = [{"type": "text", "text": "Be brief."}]
    system = SystemMessage(blocks, id="sys")
    session = SummarySession([system, *conversation(6)])
    session.summary = SessionSummary("Bob likes tea", covers=5)
    result = step(session, SummaryPolicy(Recorder().runnable()), prompt_tokens=10_000)
    lead = result.history[0]
    assert isinstance(lead, SystemMessage) and lead.id == "sys"
    assert isinstance(lead.content, list) and lead.content[0] == blocks[0]
    last = lead.content[-1]
    assert isinstance(last, dict) and SUMMARY_HEADER in last["text"]
    assert "Bob likes tea" in last["text"]
    assert sum(isinstance(m, SystemMessage) for m in result.history) == 1
    assert system.content == blocks  # the stored prompt is unchanged


def test_the_same_prompt_and_summary_give_the_same_leading_message_object() -> None:
    """Token counts are cached per message object: a lead rebuilt each turn would be counted
    (and held by that cache) once per turn."""
    system = SystemMessage("Be brief.", id="sys")
    summary = SessionSummary("Bob likes tea", covers=5)
    first = leading_system_message(system, summary)
    assert leading_system_message(system, summary) is first
    assert leading_system_message(system, SessionSummary("Bob likes tea", covers=7)) is not first
    assert leading_system_message(SystemMessage("Be brief.", id="sys"), summary) is not first
    assert leading_system_message(None, summary) is leading_system_message(None, summary)


def test_window_start_after_system_prompt_without_summary_keeps_everything() -> None:
    system = SystemMessage("sys", id="sys")
    session = SummarySession([system, AIMessage("Welcome!", id="greet"), *conversation(2)])
    recorder = Recorder()
    result = step(session, SummaryPolicy(recorder.runnable()), prompt_tokens=10_000)
    assert result.history == session.store.load(SESSION)
    assert recorder.inputs == []


def test_budget_counts_the_summary_message() -> None:
    session = SummarySession(conversation(8))
    policy = SummaryPolicy(Recorder().runnable(), max_summary_tokens=2000)
    prompt_tokens = 5 * 42 + 7
    session.summary = SessionSummary("short", covers=2)
    short = step(session, policy, prompt_tokens=prompt_tokens)
    session.summary = SessionSummary("x" * 90, covers=2)
    long = step(session, policy, prompt_tokens=prompt_tokens)
    assert len(sent_history(long)) < len(sent_history(short))
    for result in (short, long):
        sent = [*result.history, HumanMessage("next?")]
        assert sum(map(tokens, sent)) <= prompt_tokens


def test_tool_groups_are_never_split_at_the_boundary() -> None:
    recorder = Recorder()
    turns = conversation(8, lambda i: tool_turn(i) if i % 2 else human_turn(i))
    for prompt_tokens in range(60, 400, 7):
        for batch in (0, 1, 3):
            session = SummarySession(turns)
            result = step(
                session,
                SummaryPolicy(recorder.runnable(), batch_turns=batch),
                prompt_tokens=prompt_tokens,
            )
            assert_whole_turns(result.history)
            covers = session.summary.covers if session.summary else 0
            boundaries = {0}
            for segment in split_turns(turns):
                boundaries.add(max(boundaries) + len(segment))
            assert covers in boundaries
            sent_ids = {m.id for m in sent_history(result)}
            assert not sent_ids & {m.id for m in turns[:covers]}


def test_stale_summary_beyond_the_session_is_ignored_and_replaced_by_compare_and_set() -> None:
    recorder = Recorder()
    session = SummarySession(conversation(6))
    session.summary = SessionSummary("from a cleared session", covers=50)
    result = step(session, SummaryPolicy(recorder.runnable()), prompt_tokens=3 * 42 + 7)
    assert "from a cleared session" not in folded_ids(recorder.inputs[0])
    assert session.saves[0].expected_covers == 50
    # The new summary (~101 tokens) leaves no room for a turn beside the input: every turn is
    # folded, so none falls between the summary and the (empty) window.
    assert result.saved and session.summary is not None and session.summary.covers == 12


def test_another_writer_wins_the_compare_and_set(caplog: pytest.LogCaptureFixture) -> None:
    session = SummarySession(conversation(6))
    session.summary = SessionSummary("old", covers=2)
    policy = SummaryPolicy(Recorder().runnable(), batch_turns=0)
    loaded = session.loaded()
    plan = plan_summary(
        policy,
        session.summary,
        loaded,
        [HumanMessage("x")],
        tokens,
        budget=budget(200),  # room for a summary beside the input: one that can't be sent is
        session_id=SESSION,  # never stored
    )
    session.summary = SessionSummary("another instance's", covers=4)  # moved meanwhile
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = run_summary_plan(plan, session, policy.summarizer)
    assert result.updated and not result.saved
    assert session.summary.text == "another instance's"
    assert result.summary is not None and result.summary.text == "summary #1"
    assert any(SESSION in r.getMessage() for r in caplog.records)


def test_backlog_older_than_the_loaded_messages_is_read_by_pages() -> None:
    recorder = Recorder()
    session = SummarySession(conversation(200))
    policy = SummaryPolicy(recorder.runnable(), max_input_tokens=50 * 22)
    result = step(session, policy, prompt_tokens=4 * 42 + 7, last=20)
    assert session.pages and session.pages[0].offset == 0
    assert session.summary is not None
    # Catching up is bounded per call and goes oldest first; nothing folded ahead meanwhile.
    assert 0 < session.summary.covers <= 2 * 52
    assert [m.id for m in sent_history(result)] == [
        "h196",
        "a196",
        "h197",
        "a197",
        "h198",
        "a198",
        "h199",
        "a199",
    ][-len(sent_history(result)) :]
    covers_before = session.summary.covers
    step(session, policy, prompt_tokens=4 * 42 + 7, last=20)
    assert session.summary.covers > covers_before


def test_catching_up_a_backlog_never_covers_a_turn_it_did_not_summarize() -> None:
    # The batch of a backlog caught up over several turns does not reach the window: it is not
    # grown with window turns to make room (that would cover the unread turns between).
    # The first page of the gap (256 messages) holds fewer turns than max_input_tokens allows.
    recorder = Recorder()
    session = SummarySession(conversation(600))
    policy = SummaryPolicy(recorder.runnable())
    for _ in range(4):
        step(session, policy, prompt_tokens=4 * 42 + 7, last=20)
        assert session.summary is not None
        fed = "\n".join(folded_ids(messages) for messages in recorder.inputs)
        covered = range(session.summary.covers // 2)
        assert [i for i in covered if f"q{i:03d}" not in fed] == []


def test_a_loaded_suffix_starting_inside_a_tool_group_is_folded_not_sent() -> None:
    recorder = Recorder()
    session = SummarySession(conversation(6, tool_turn))  # 4 messages per turn
    result = step(session, SummaryPolicy(recorder.runnable()), prompt_tokens=10_000, last=22)
    assert_whole_turns(result.history)
    assert session.pages[0] == LoadPage(0, 4)  # the turn the window caught only the end of
    assert "User: weather 0" in folded_ids(recorder.inputs[0])
    assert session.summary is not None and session.summary.covers % 4 == 0


@pytest.mark.parametrize("batch_turns", [0, 1, 4, 10])
def test_about_one_summary_call_per_batch_of_turns(batch_turns: int) -> None:
    recorder = Recorder()
    policy = SummaryPolicy(recorder.runnable(), batch_turns=batch_turns, max_summary_tokens=40)
    session = SummarySession()
    window_turns = 24
    prompt_tokens = window_turns * 42 + 40
    calls_per_turn = []
    for index in range(100):
        new = human_turn(index)
        result = step(session, policy, prompt_tokens=prompt_tokens, new_input=new[:1])
        assert_whole_turns(result.history)
        assert sum(map(tokens, [*result.history, new[0]])) <= prompt_tokens
        covers = session.summary.covers if session.summary else 0
        assert all(int(str(m.id)[1:]) >= covers // 2 for m in sent_history(result))
        calls_per_turn.append(len(recorder.inputs))
        session.store.append(SESSION, new)
    calls = len(recorder.inputs)
    overflowing = 100 - window_turns  # turns that push an older one out
    # Each call folds the pushed-out turn plus batch_turns ahead: one call per batch_turns + 1.
    assert overflowing / (batch_turns + 2) <= calls <= overflowing / (batch_turns + 1) + 2
    calling_turns = [i for i in range(1, 100) if calls_per_turn[i] > calls_per_turn[i - 1]]
    gaps = [b - a for a, b in itertools.pairwise(calling_turns)]
    # After the first call the summary message itself takes room, so only later gaps count.
    assert calls_per_turn[-1] == calls and min(gaps[1:]) >= batch_turns


def test_summary_grows_stale_if_updates_keep_failing_but_the_turn_still_fits() -> None:
    session = SummarySession(conversation(30))
    policy = SummaryPolicy(RunnableLambda(lambda _: ""), batch_turns=4)
    for _ in range(3):
        result = step(session, policy, prompt_tokens=4 * 42 + 7)
        assert not result.updated and session.summary is None
        assert sum(map(tokens, [*result.history, HumanMessage("next?")])) <= 4 * 42 + 7


# ---- the summarizer's input --------------------------------------------------------------------
def test_summarizer_input_has_no_reasoning_unless_asked() -> None:
    turns = [*human_turn(0), *tool_turn(1)]
    for include, expected in ((False, False), (True, True)):
        policy = SummaryPolicy(RunnableLambda(lambda _: "s"), include_reasoning=include)
        messages = summarizer_input(
            SessionSummary("The user is Bob.", covers=2), positioned_turns(turns, 2), policy
        )
        assert isinstance(messages[0], SystemMessage) and "user's name" in str(messages[0].content)
        text = str(messages[1].content)
        assert ("SECRET-THOUGHT-0" in text) is expected
        assert "The user is Bob." in text
        assert 'Assistant called lookup({"city": "c1"})' in text
        assert "Tool lookup result: sunny 1" in text
        assert "User: weather 1" in text


def test_long_tool_results_are_clipped_for_the_summarizer() -> None:
    turn = [
        HumanMessage("fetch"),
        AIMessage("", tool_calls=[{"name": "get", "args": {}, "id": "c", "type": "tool_call"}]),
        ToolMessage("z" * 50_000, tool_call_id="c", name="get"),
        AIMessage("done"),
    ]
    text = render_turn(turn, include_reasoning=False)
    assert len(text) < 2_200 and "chars cut" in text


def test_a_reasoning_content_block_is_not_fed_back() -> None:
    message = AIMessage(
        content=[{"type": "reasoning", "reasoning": "HIDDEN"}, {"type": "text", "text": "shown"}]
    )
    assert "HIDDEN" not in render_turn([HumanMessage("q"), message], include_reasoning=False)
    assert "HIDDEN" in render_turn([HumanMessage("q"), message], include_reasoning=True)


# ---- failures -----------------------------------------------------------------------------------
def _raise(_: Any) -> Any:
    raise RuntimeError("summarizer is down")


@pytest.mark.parametrize(
    ("summarizer", "reason"),
    [
        (RunnableLambda(_raise), "summarizer is down"),
        (RunnableLambda(lambda _: ""), "empty"),
        (RunnableLambda(lambda _: " \n\t "), "empty"),
        (RunnableLambda(lambda _: AIMessage("   ")), "empty"),
        (
            RunnableLambda(
                lambda _: AIMessage("cut", response_metadata={"finish_reason": "length"})
            ),
            "cut off",
        ),
        (RunnableLambda(lambda _: "w" * 5000), "max_summary_tokens"),
        (RunnableLambda(lambda _: {"not": "a summary"}), "dict"),
    ],
)
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_failed_summary_stores_nothing_and_the_turn_goes_on(
    summarizer: Runnable[Any, Any], reason: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    session = SummarySession(conversation(10))
    previous = SessionSummary("The user is Bob.", covers=4)
    session.summary = previous
    policy = SummaryPolicy(summarizer, batch_turns=2)
    plan = plan_summary(
        policy,
        previous,
        session.loaded(),
        [HumanMessage("next?")],
        tokens,
        budget=budget(3 * 42 + 60),
        session_id=SESSION,
    )
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        if mode == "sync":
            result = run_summary_plan(plan, session, summarizer)
        else:
            result = await arun_summary_plan(plan, session, summarizer)
    assert session.saves == [] and session.summary is previous
    assert not result.updated and result.summary is previous
    assert "The user is Bob." in str(result.history[0].content)
    assert_whole_turns(result.history)
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1
    assert SESSION in records[0].getMessage() and reason in records[0].getMessage()


def test_a_failed_store_write_keeps_the_turn_going(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenSave(SummarySession):
        def save_summary(
            self,
            summary: SessionSummary,
            *,
            expected_covers: int | None,
            at: TurnLease | None = None,
        ) -> bool:
            raise ConnectionError("store down")

    session = BrokenSave(conversation(10))
    policy = SummaryPolicy(Recorder().runnable())
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = step(session, policy, prompt_tokens=3 * 42 + 7)
    assert result.updated and not result.saved
    assert any(SESSION in r.getMessage() and "store down" in r.getMessage() for r in caplog.records)


# ---- sync and async drivers, real runnables -------------------------------------------------
async def test_sync_and_async_drivers_agree_with_a_fake_chat_model() -> None:
    results = []
    for mode in ("sync", "async"):
        model = GenericFakeChatModel(messages=iter([AIMessage("The user is Bob; likes tea.")]))
        session = SummarySession(conversation(12))
        policy = SummaryPolicy(model, batch_turns=3)
        plan = plan_summary(
            policy,
            None,
            session.loaded(),
            [HumanMessage("next?")],
            tokens,
            budget=budget(4 * 42 + 60),
            session_id=SESSION,
        )
        if mode == "sync":
            result = run_summary_plan(plan, session, model)
        else:
            result = await arun_summary_plan(plan, session, model)
        assert result.summary is not None and result.summary.text == "The user is Bob; likes tea."
        results.append((result.history, session.summary))
    assert [m.id for m in results[0][0]] == [m.id for m in results[1][0]]
    assert results[0][1] is not None and results[1][1] is not None
    assert results[0][1].covers == results[1][1].covers


def test_the_plan_yields_only_its_documented_requests() -> None:
    session = SummarySession(conversation(40))
    policy = SummaryPolicy(RunnableLambda(lambda _: "s"))
    plan = plan_summary(
        policy,
        None,
        session.loaded(10),
        [HumanMessage("x")],
        tokens,
        budget=budget(200),  # room for a summary beside the input: one that can't be sent is
        session_id=SESSION,  # never stored
    )
    kinds = []
    request = next(plan)
    try:
        while True:
            kinds.append(type(request))
            if isinstance(request, LoadPage):
                request = plan.send(session.load_page(request.offset, request.limit))
            elif isinstance(request, Summarize):
                request = plan.send("s")
            else:
                request = plan.send(True)
    except StopIteration:
        pass
    assert kinds == [LoadPage, Summarize, SaveSummary]


def test_invalid_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="batch_turns"):
        SummaryPolicy(RunnableLambda(lambda _: "s"), batch_turns=-1)
    with pytest.raises(ValueError, match="Runnable"):
        SummaryPolicy(lambda _: "s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="head"):
        plan = plan_summary(
            SummaryPolicy(RunnableLambda(lambda _: "s")),
            None,
            LoadedHistory([HumanMessage("x")], first_position=3),
            [],
            tokens,
            budget=None,
            session_id=SESSION,
        )
        next(plan)


# ---- end to end over the loopback server: ChatArcee as the summarizer ----------------------
def _fact_keeper(body: dict[str, Any]) -> Reply:
    """A summarizer on the server: keeps the previous summary and every "my name" line."""
    prompt = body["messages"][-1]["content"]
    previous, new_turns = prompt.removeprefix("Previous summary:\n").split("\n\nNew turns", 1)
    kept = [] if previous.startswith("(none yet") else [previous]
    kept += [line for line in new_turns.splitlines() if "my name" in line.lower()]
    return Reply(content="\n".join(kept) or "Nothing to remember.", reasoning="Summarizing.")


@pytest.mark.loopback
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_an_early_fact_survives_only_through_the_summary_over_http(
    arcee_server: ArceeTestServer, mode: str
) -> None:
    arcee_server.set_responder(_fact_keeper)
    model = ChatArcee(api_key="test", base_url=arcee_server.base_url, max_retries=0)
    policy = SummaryPolicy(model, batch_turns=3)
    session = SummarySession(
        [HumanMessage("Hi, my name is Bob.", id="h-bob"), AIMessage("Hi Bob!")]
    )
    for index in range(1, 40):
        new = human_turn(index)
        plan = plan_summary(
            policy,
            session.summary,
            session.loaded(),
            new[:1],
            tokens,
            budget=budget(8 * 42 + 200),
            session_id=SESSION,
        )
        if mode == "sync":
            result = run_summary_plan(plan, session, model)
        else:
            result = await arun_summary_plan(plan, session, model)
        session.store.append(SESSION, new)
    assert not any("Bob" in m.text for m in sent_history(result))
    assert "User: Hi, my name is Bob." in str(result.history[0].content)
    summary_calls = arcee_server.chat_requests
    assert 4 <= len(summary_calls) <= 12  # about one per batch_turns + 1 turns, not 39
    for request in summary_calls:
        assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
        assert "SECRET-THOUGHT" not in request.body["messages"][1]["content"]
        assert "Summarizing." not in request.body["messages"][1]["content"]  # own reasoning


@pytest.mark.loopback
def test_a_server_error_is_no_update_over_http(
    arcee_server: ArceeTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    arcee_server.fail_next(status=503, message="overloaded")
    model = ChatArcee(api_key="test", base_url=arcee_server.base_url, max_retries=0)
    session = SummarySession(conversation(10))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = step(session, SummaryPolicy(model), prompt_tokens=3 * 42 + 7)
    assert not result.updated and session.saves == []
    assert arcee_server.count("chat") == 1
    assert any(SESSION in r.getMessage() and "overloaded" in r.getMessage() for r in caplog.records)
    arcee_server.enqueue(Reply(content="The user asked ten questions."))
    retried = step(session, SummaryPolicy(model), prompt_tokens=3 * 42 + 7)
    assert retried.saved and session.summary is not None
    assert session.summary.text == "The user asked ten questions."


# ---- the cost benchmark runs (its numbers are printed, not asserted) ----------------------
def test_summary_cost_benchmark_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import summary_cost

    monkeypatch.setattr("sys.argv", ["summary_cost", "--turns", "30", "--window-turns", "5"])
    summary_cost.main()
    out = capsys.readouterr().out
    assert "without summary: " in out
    for batch in (1, 4, 8):
        assert f"batch_turns={batch}: " in out and "summary calls per 100 turns" in out
