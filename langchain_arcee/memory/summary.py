"""A running summary of what no longer fits the window (planning sans I/O, one sync/async core).

The model:

* **The transcript is never changed.** The summary is stored *beside* it, per session, as a
  :class:`SessionSummary`: its text and ``covers``, the number of stored messages it accounts
  for (positions ``0 .. covers - 1``). A leading ``SystemMessage`` (the user's own system
  prompt, position 0) is never summarized: it is always sent, so it counts as covered.
* **What is sent** with a turn: one leading ``SystemMessage``, the user's system prompt (if any)
  followed by the clearly marked summary (chat templates that render only a leading system
  message would drop or refuse a second one), then the newest whole turns at positions
  ``>= covers`` that fit the token budget, which counts the summary. Covered messages are never
  sent again.
* **Incremental, in batches.** When the window pushes out messages the summary does not cover
  yet, one summarizer call folds them, together with up to ``batch_turns`` of the oldest whole
  turns still in the window (at most half of them), into the previous summary. The next turns
  then fit again without a call: about one call per ``batch_turns`` turns, never one per turn.
  Only whole turns are folded (a turn starts at a ``HumanMessage``; an ``AIMessage`` with
  ``tool_calls`` stays with its ``ToolMessage`` results), so ``covers`` is always a turn
  boundary and what is sent never starts inside a tool group.
* **Failure is harmless.** A summarizer call that raises, returns nothing usable (empty or
  whitespace text, a reply cut off by its length limit) or a text longer than
  ``max_summary_tokens`` stores nothing and never fails the user's turn: the turn proceeds with
  the last good summary and the update is retried on a later turn. Each failure is logged
  (``logging.getLogger(__name__)``) with the session named.
* **Concurrency.** A new summary is stored with a compare-and-set on ``covers``: the store API
  is ``load_summary(session_id) -> SessionSummary | None`` and
  ``save_summary(session_id, summary, *, expected_covers: int | None) -> bool``, which stores
  only if the stored summary still has ``covers == expected_covers`` (``None``: no summary yet)
  and returns ``False`` if another writer moved it. Two instances therefore never store
  competing summaries: the loser's summary is used for its own turn only. The summary is
  cleared (deleted) with the session.

The work of a turn is planned by :func:`plan_summary`, a generator that yields
:class:`LoadPage`, :class:`Summarize` and :class:`SaveSummary` requests (the driver sends back
the result, or throws the request's exception into the plan) and returns a
:class:`SummaryStep`. :func:`run_summary_plan` and :func:`arun_summary_plan` are its sync and
async drivers, as :func:`~langchain_arcee.memory.window.plan_window` is driven by the adapter.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import Runnable, RunnableConfig

from langchain_arcee.memory.tokens import IdentityCache
from langchain_arcee.memory.window import (
    ContextWindowExceededError,
    TokenCounter,
    WindowBudget,
    newest_fitting,
    split_turns,
)
from langchain_arcee.messages import reasoning_of
from langchain_arcee.stores.base import SessionSummary, TurnLease

logger = logging.getLogger(__name__)

DEFAULT_SUMMARY_PROMPT = (
    "You keep the running summary of a conversation between a user and an AI assistant. "
    "The assistant no longer sees the older turns: your summary is all it will know of them.\n"
    "Update the previous summary (if any) with the new turns and reply with the complete "
    "updated summary only, no preamble.\n"
    "Keep: the user's name and the personal details they shared; facts, figures and names; "
    "the user's preferences and constraints; decisions made and why; results of tool calls "
    "that still matter; open questions and unfinished tasks. Keep everything from the previous "
    "summary that still holds; replace what the new turns changed. Drop small talk and "
    "repetition. Write concisely in the conversation's language, in the third person "
    '("The user ...").'
)
"""The summarizer's default instruction (incremental: previous summary + new turns)."""

SUMMARY_HEADER = "Summary of the earlier part of this conversation (those messages are not shown):"
"""The first line of the summary message sent to the model (marks it as a summary)."""

SUMMARY_ID_PREFIX = "arcee-summary-"
"""Prefix of the summary message's id (the rest is a hash of the text, so counts cache)."""

MAX_RENDERED_CHARS = 2000
"""Tool arguments and results fed to the summarizer are cut to this many characters each."""

GAP_PAGE = 256
"""First page size when uncovered messages older than the loaded ones must be read."""


@dataclass(frozen=True)
class SummaryPolicy:
    """How a session's running summary is kept (opt-in; no policy, no summary).

    Attributes:
        summarizer: A runnable (a chat model or a chain) taking a list of messages and
            returning a message or a string: the updated summary.
        batch_turns: When an update is needed, also fold up to this many of the oldest whole
            turns still in the window (at most half of them), so the next turns need no call.
        include_reasoning: Feed the reasoning of summarized assistant messages to the
            summarizer (off: only what was said and done).
        max_summary_tokens: The longest summary accepted; the summarizer is asked for about
            three quarters of it, and a longer reply is rejected (no update).
        max_input_tokens: The most tokens of turns fed to the summarizer in one call (at least
            one whole turn is always fed); a backlog larger than this is caught up over
            several turns, oldest first.
        prompt: The summarizer's instruction.

    Raises:
        ValueError: If a number is not a positive int (``batch_turns`` may be 0).
    """

    summarizer: Runnable[Any, Any]
    batch_turns: int = 8
    include_reasoning: bool = False
    max_summary_tokens: int = 1024
    max_input_tokens: int = 16_000
    prompt: str = DEFAULT_SUMMARY_PROMPT

    def __post_init__(self) -> None:
        if not isinstance(self.summarizer, Runnable):
            msg = f"summarizer must be a Runnable, got {type(self.summarizer).__name__}"
            raise ValueError(msg)
        for name, value, least in (
            ("batch_turns", self.batch_turns, 0),
            ("max_summary_tokens", self.max_summary_tokens, 1),
            ("max_input_tokens", self.max_input_tokens, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                msg = f"{name} must be an int >= {least}, got {value!r}"
                raise ValueError(msg)
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            msg = "prompt must be a non-empty string"
            raise ValueError(msg)


@dataclass(frozen=True)
class LoadedHistory:
    """The newest stored messages a turn read, with where they sit in the session.

    Attributes:
        messages: The newest stored messages, oldest first (they end at the newest message).
        first_position: Absolute position of ``messages[0]`` (the session holds
            ``first_position + len(messages)`` messages).
        head: The session's first message; required when ``first_position > 0`` (the window
            plan reads it then), ignored otherwise.
    """

    messages: Sequence[BaseMessage]
    first_position: int
    head: BaseMessage | None = None

    @property
    def end(self) -> int:
        """Number of messages in the session."""
        return self.first_position + len(self.messages)


@dataclass(frozen=True)
class StoredTurn:
    """A whole turn of the session with its absolute position.

    Attributes:
        start: Position of its first message.
        messages: Its messages, oldest first.
    """

    start: int
    messages: Sequence[BaseMessage]

    @property
    def end(self) -> int:
        """Position just after its last message."""
        return self.start + len(self.messages)


@dataclass(frozen=True)
class LoadPage:
    """Request: up to ``limit`` stored messages from position ``offset`` (``read_page``)."""

    offset: int
    limit: int


@dataclass(frozen=True)
class Summarize:
    """Request: run the summarizer on ``messages``; send back its raw output."""

    messages: list[BaseMessage]


@dataclass(frozen=True)
class SaveSummary:
    """Request: ``save_summary(session, summary, expected_covers=...)``; send back the bool."""

    summary: SessionSummary
    expected_covers: int | None


@dataclass(frozen=True)
class SummaryStep:
    """What a turn sends, and the summary it used.

    Attributes:
        history: The history to send, oldest first, without the new input: the pinned system
            prompt (if any), the summary message (if any), then the newest uncovered turns.
        summary: The summary in effect for this turn (``None`` if there is none).
        updated: True if a new summary was produced this turn.
        saved: True if it was stored (False: no update, or another writer moved the summary).
    """

    history: list[BaseMessage]
    summary: SessionSummary | None
    updated: bool = False
    saved: bool = False


SummaryRequest = LoadPage | Summarize | SaveSummary
SummaryPlan = Generator[SummaryRequest, Any, SummaryStep]


class SummaryIO(Protocol):
    """The session-bound reads and writes a summary update needs (the store's API)."""

    def load_page(self, offset: int, limit: int) -> list[BaseMessage]:
        """Up to ``limit`` stored messages from position ``offset``, oldest first."""

    async def aload_page(self, offset: int, limit: int) -> list[BaseMessage]:
        """Async :meth:`load_page`."""

    def save_summary(
        self, summary: SessionSummary, *, expected_covers: int | None, at: TurnLease | None
    ) -> bool:
        """Store ``summary`` if the stored one still has ``covers == expected_covers``.

        ``at``: the turn the summary is made in; stored only while the session is still at
        that turn's version and life (``None``: the covers alone decide).
        """

    async def asave_summary(
        self, summary: SessionSummary, *, expected_covers: int | None, at: TurnLease | None
    ) -> bool:
        """Async :meth:`save_summary`."""


# ---- pure parts ----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)  # one object per summary: see leading_system_message
def summary_message(summary: SessionSummary) -> SystemMessage:
    """The message that carries ``summary`` to the model (clearly marked, stable id)."""
    digest = hashlib.sha256(f"{summary.covers}:{summary.text}".encode()).hexdigest()[:24]
    return SystemMessage(content=f"{SUMMARY_HEADER}\n{summary.text}", id=SUMMARY_ID_PREFIX + digest)


def _with_summary(pinned: SystemMessage, summary: SessionSummary) -> SystemMessage:
    block = f"\n\n{summary_message(summary).content}"
    if isinstance(pinned.content, str):
        content: str | list[str | dict[str, Any]] = pinned.content + block
    else:  # content blocks: the summary as one more text block
        content = [*pinned.content, {"type": "text", "text": block}]
    return pinned.model_copy(update={"content": content})


# Per system prompt object, the leads built with its summaries (a prompt sees a new summary
# every few turns; the few kept are dropped together when they pile up).
_leads_by_prompt: IdentityCache[dict[SessionSummary, SystemMessage]] = IdentityCache(
    lambda _prompt: {}, max_entries=1024
)
_MAX_SUMMARIES_PER_PROMPT = 4


def leading_system_message(pinned: SystemMessage | None, summary: SessionSummary) -> SystemMessage:
    """The one system message a turn with a summary starts with: the user's prompt, then it.

    Many chat templates render only a leading system message: some drop a later one silently
    (the summary would never reach the model), others refuse the request. So the summary is
    appended to the user's own system prompt rather than sent as a second system message.
    The same prompt object and summary give the same message object, turn after turn: the
    adapter caches token counts per message object, and a lead rebuilt every turn would be
    counted, and held by that cache, once per turn.
    """
    if pinned is None:
        return summary_message(summary)
    leads = _leads_by_prompt(pinned)
    lead = leads.get(summary)
    if lead is None:
        if len(leads) >= _MAX_SUMMARIES_PER_PROMPT:
            leads.clear()
        lead = leads[summary] = _with_summary(pinned, summary)
    return lead


def positioned_turns(messages: Sequence[BaseMessage], start: int) -> list[StoredTurn]:
    """:func:`~langchain_arcee.memory.window.split_turns` with absolute positions."""
    turns: list[StoredTurn] = []
    for segment in split_turns(messages):
        turns.append(StoredTurn(start=start, messages=segment))
        start += len(segment)
    return turns


def fit_turns(
    turns: Sequence[StoredTurn],
    fixed: Sequence[BaseMessage],
    count: TokenCounter,
    *,
    budget: WindowBudget | None,
    max_messages: int | None,
    pinned: bool,
) -> int:
    """How many of the newest ``turns`` fit beside the ``fixed`` messages.

    Args:
        turns: Candidate turns, oldest first.
        fixed: Messages always sent (pinned system prompt, summary message, new input); they
            count against the token budget.
        count: Token counter for one message.
        budget: The limits, or ``None`` for no token limit.
        max_messages: Cap on history messages sent (the pinned prompt included; the summary
            message is not history), or ``None``.
        pinned: Whether ``fixed`` holds the pinned system prompt (it counts against the cap).

    Raises:
        ContextWindowExceededError: If the fixed messages alone exceed the budget.
    """
    tokens: int | None = None
    if budget is not None:
        fixed_tokens = sum(map(count, fixed))
        if fixed_tokens > budget.prompt_tokens:
            raise ContextWindowExceededError(
                input_tokens=fixed_tokens,
                budget=budget.prompt_tokens,
                context_window=budget.context_window,
                reply_reserve=budget.reply_reserve,
            )
        tokens = budget.prompt_tokens - fixed_tokens
    cap = max(max_messages - 1, 0) if max_messages is not None and pinned else max_messages
    return newest_fitting([turn.messages for turn in turns], count, tokens=tokens, messages=cap)


def choose_batch(
    pushed: Sequence[StoredTurn],
    window: Sequence[StoredTurn],
    policy: SummaryPolicy,
    count: TokenCounter,
    *,
    backlog_complete: bool,
) -> list[StoredTurn]:
    """The whole turns to fold into the summary, oldest first.

    Every pushed-out turn (oldest first, within ``policy.max_input_tokens``; at least one),
    then, only if all of them fit and ``backlog_complete``, up to ``policy.batch_turns`` of the
    oldest turns still in the window (at most half of them), within the same bound.

    Args:
        pushed: Uncovered turns that will not be sent, oldest first (not empty).
        window: The turns that would be sent, oldest first.
        policy: The summary policy.
        count: Token counter for one message.
        backlog_complete: Whether ``pushed`` reaches the window (no unread backlog between).
    """
    batch: list[StoredTurn] = []
    used = 0
    ahead = min(policy.batch_turns, len(window) // 2)
    candidates = [*pushed, *window[:ahead]] if backlog_complete else list(pushed)
    for turn in candidates:
        cost = count(HumanMessage(render_turn(turn.messages, policy.include_reasoning)))
        if batch and used + cost > policy.max_input_tokens:
            break
        batch.append(turn)
        used += cost
    return batch


def _clip(text: str) -> str:
    if len(text) <= MAX_RENDERED_CHARS:
        return text
    return text[:MAX_RENDERED_CHARS] + f" [... {len(text) - MAX_RENDERED_CHARS} chars cut]"


def render_message(message: BaseMessage, include_reasoning: bool) -> str:
    """One message as transcript lines for the summarizer (tool calls and results compact)."""
    text = str(message.text).strip()
    if isinstance(message, HumanMessage):
        return f"User: {text}"
    if isinstance(message, SystemMessage):
        return f"System: {text}"
    if isinstance(message, ToolMessage):
        name = f" {message.name}" if message.name else ""
        return f"Tool{name} result: {_clip(text)}"
    if isinstance(message, AIMessage):
        lines: list[str] = []
        reasoning = reasoning_of(message) if include_reasoning else None
        if reasoning and reasoning.strip():
            lines.append(f"Assistant (thinking): {reasoning.strip()}")
        if text:
            lines.append(f"Assistant: {text}")
        for call in message.tool_calls:
            args = _clip(json.dumps(call.get("args", {}), ensure_ascii=False, sort_keys=True))
            lines.append(f"Assistant called {call.get('name')}({args})")
        return "\n".join(lines) if lines else "Assistant: (no text)"
    return f"{message.type.capitalize()}: {text}"


def render_turn(messages: Sequence[BaseMessage], include_reasoning: bool) -> str:
    """A turn as transcript text for the summarizer."""
    return "\n".join(render_message(m, include_reasoning) for m in messages)


def summarizer_input(
    previous: SessionSummary | None,
    turns: Sequence[StoredTurn],
    policy: SummaryPolicy,
    max_tokens: int | None = None,
) -> list[BaseMessage]:
    """The summarizer's messages: the instruction, then the previous summary and new turns.

    ``max_tokens`` is the size asked for (default: three quarters of ``max_summary_tokens``).
    """
    asked = max_tokens if max_tokens is not None else policy.max_summary_tokens * 3 // 4
    parts = [
        "Previous summary:",
        previous.text if previous is not None else "(none yet: this is the first summary)",
        "",
        "New turns to fold into the summary:",
        "\n\n".join(render_turn(t.messages, policy.include_reasoning) for t in turns),
        "",
        f"Reply with the updated summary only, in at most {asked} tokens.",
    ]
    return [SystemMessage(policy.prompt), HumanMessage("\n".join(parts))]


def summary_text(output: Any, policy: SummaryPolicy, count: TokenCounter) -> str:
    """The summary in a summarizer's output.

    Raises:
        ValueError: If the output is not a message or a string, is empty or whitespace, was
            cut off by a length limit, or is longer than ``policy.max_summary_tokens``.
    """
    if isinstance(output, BaseMessage):
        finish = output.response_metadata.get("finish_reason")
        if finish == "length":
            msg = "the summarizer's reply was cut off by its length limit"
            raise ValueError(msg)
        text = str(output.text)
    elif isinstance(output, str):
        text = output
    else:
        msg = f"the summarizer returned {type(output).__name__}, not a message or a string"
        raise ValueError(msg)
    text = text.strip()
    if not text:
        msg = "the summarizer returned an empty summary"
        raise ValueError(msg)
    tokens = count(HumanMessage(text))
    if tokens > policy.max_summary_tokens:
        msg = f"the summary has {tokens} tokens, more than max_summary_tokens"
        raise ValueError(msg)
    return text


# ---- the plan of a turn's summary step -----------------------------------------------------
@dataclass(frozen=True)
class _Composed:
    """A turn's history with a given summary.

    Attributes:
        history: What to send before the input: the lead, then the newest turns that fit.
        kept: How many of the newest turns it holds.
        summarized: Whether the summary is in it (``False``: it did not fit beside the input).
    """

    history: list[BaseMessage]
    kept: int
    summarized: bool


def _compose(
    pinned: SystemMessage | None,
    summary: SessionSummary | None,
    turns: Sequence[StoredTurn],
    input_messages: Sequence[BaseMessage],
    count: TokenCounter,
    *,
    budget: WindowBudget | None,
    max_messages: int | None,
    keep_newest: bool = False,
) -> _Composed:
    """The history to send with ``summary``.

    ``keep_newest``: the newest turn is sent whatever it costs (the input answers its tool
    calls); if it does not fit beside the summary, the summary gives way.
    """
    head = [pinned] if pinned is not None else []
    held = list(turns[-1].messages) if keep_newest and turns else []
    candidates = turns[:-1] if held else turns
    cap = max(max_messages - len(held), 0) if max_messages is not None and held else max_messages

    def fit(lead: Sequence[BaseMessage]) -> int:
        return fit_turns(
            candidates,
            [*lead, *held, *input_messages],
            count,
            budget=budget,
            max_messages=cap,
            pinned=pinned is not None,
        )

    lead = [leading_system_message(pinned, summary)] if summary is not None else head
    summarized = summary is not None
    try:
        kept = fit(lead)
    except ContextWindowExceededError:
        if summary is None:
            raise
        lead, summarized = head, False
        kept = fit(lead)
    history: list[BaseMessage] = list(lead)
    for turn in candidates[len(candidates) - kept :]:
        history.extend(turn.messages)
    history.extend(held)
    return _Composed(history, kept + (1 if held else 0), summarized)


def _make_room(
    policy: SummaryPolicy,
    summary: SessionSummary | None,
    batch: list[StoredTurn],
    window: Sequence[StoredTurn],
    pinned: SystemMessage | None,
    input_messages: Sequence[BaseMessage],
    count: TokenCounter,
    *,
    budget: WindowBudget | None,
    keep_newest: bool,
    reaches_window: bool,
) -> tuple[list[StoredTurn], int]:
    """The batch, grown if need be, and the summary size to ask the summarizer for.

    The summarizer is asked for no more than the room the input and the window's turns after
    the batch leave it, so that a summary of that size crowds none of them out: no turn falls
    between the summary and the window. While that room is under what a summary needs (the
    last one's size, and at least an eighth of the room the input leaves, up to the usual
    ask), the oldest turn after the batch is folded in too (never the newest when the input
    answers its tool calls, nor past ``max_input_tokens``). A batch that does not reach the
    window (a backlog caught up over several turns) is neither grown nor held to the room: the
    turns between it and the window are not sent either way, and are folded in later.
    """
    asked = policy.max_summary_tokens * 3 // 4
    if budget is None or not reaches_window:
        return batch, asked
    head = [pinned] if pinned is not None else []
    head_tokens = sum(map(count, head))
    header = count(summary_message(SessionSummary("", 0)))  # the marked section's own cost
    lead_tokens = count(leading_system_message(pinned, summary)) if summary is not None else 0
    current = lead_tokens - head_tokens - header if summary is not None else 0
    fixed = head_tokens + sum(map(count, input_messages)) + header
    need = min(asked, max(current, (budget.prompt_tokens - fixed) // 8))
    after = [turn for turn in window if turn.start >= batch[-1].end]
    movable = after[:-1] if keep_newest else after
    room = budget.prompt_tokens - fixed - sum(count(m) for turn in after for m in turn.messages)
    grown = list(batch)
    fed = sum(count(HumanMessage(render_turn(t.messages, policy.include_reasoning))) for t in grown)
    for turn in movable:
        if room >= need:
            break
        cost = count(HumanMessage(render_turn(turn.messages, policy.include_reasoning)))
        if fed + cost > policy.max_input_tokens:
            break
        grown.append(turn)
        fed += cost
        room += sum(map(count, turn.messages))
    return grown, max(min(asked, room), 1)


def plan_summary(
    policy: SummaryPolicy,
    summary: SessionSummary | None,
    loaded: LoadedHistory,
    input_messages: Sequence[BaseMessage],
    count: TokenCounter,
    *,
    budget: WindowBudget | None,
    max_messages: int | None = None,
    session_id: str,
) -> SummaryPlan:
    """Plan a turn's history with a running summary (sans I/O).

    Decides whether the summary needs an update (uncovered messages do not fit beside it),
    which whole turns to fold in, the new ``covers``, and what to send. Yields
    :class:`LoadPage` (only when uncovered messages older than the loaded ones must be read),
    :class:`Summarize` and :class:`SaveSummary` requests; the driver sends back their results
    or throws their exceptions in. No failure of those requests escapes: the turn then goes
    on with ``summary``.

    Args:
        policy: The summary policy.
        summary: The stored summary, or ``None``.
        loaded: The newest stored messages the turn read (the window plan's reads).
        input_messages: The new input (always sent; counted against the budget).
        count: Token counter for one message.
        budget: The limits, or ``None`` for no token limit.
        max_messages: Cap on history messages sent (as the adapter's ``max_history_messages``).
        session_id: Names the session in log records.

    Returns:
        (as the generator's return value) The :class:`SummaryStep`.

    Raises:
        ValueError: If ``loaded.head`` is missing while ``loaded.first_position > 0``.
        ContextWindowExceededError: If the input and the pinned system prompt alone exceed
            the budget.
    """
    if loaded.first_position > 0 and loaded.head is None:
        msg = "LoadedHistory.head is required when first_position > 0"
        raise ValueError(msg)
    messages = list(loaded.messages)
    head = loaded.head if loaded.first_position > 0 else (messages[0] if messages else None)
    pinned = head if isinstance(head, SystemMessage) else None
    floor = 1 if pinned is not None else 0

    expected = summary.covers if summary is not None else None
    if summary is not None and summary.covers > loaded.end:
        logger.warning(
            "Session %r: the stored summary covers %d messages but the session has %d; ignored",
            session_id,
            summary.covers,
            loaded.end,
        )
        summary = None
    covers = max(summary.covers if summary is not None else 0, floor)

    # The uncovered loaded turns: candidates to send.
    if covers >= loaded.first_position:
        tail = positioned_turns(messages[covers - loaded.first_position :], covers)
    else:
        tail = positioned_turns(messages, loaded.first_position)
        if tail and not isinstance(tail[0].messages[0], HumanMessage):
            tail = tail[1:]  # the rest of a turn whose start was not loaded: part of the backlog

    # Input tool results answer the newest turn's calls: that turn is always sent, never folded.
    answering = bool(tail) and any(isinstance(m, ToolMessage) for m in input_messages)

    def compose(current: SessionSummary | None, turns: Sequence[StoredTurn]) -> _Composed:
        return _compose(
            pinned,
            current,
            turns,
            input_messages,
            count,
            budget=budget,
            max_messages=max_messages,
            keep_newest=answering,
        )

    first = compose(summary, tail)
    if summary is not None and not first.summarized:
        logger.warning(
            "Session %r: the summary does not fit the window beside the input; sent without it",
            session_id,
        )
    unchanged = SummaryStep(history=first.history, summary=summary)
    kept = first.kept
    window = tail[len(tail) - kept :]
    window_start = window[0].start if window else loaded.end
    if window_start <= covers:
        return unchanged

    # Uncovered messages are pushed out: [covers, window_start) must be folded in.
    pushed = tail[: len(tail) - kept]
    backlog_complete = True
    gap_end = pushed[0].start if pushed else window_start
    if covers < gap_end:
        try:
            backlog, backlog_complete = yield from _read_backlog(covers, gap_end, session_id)
        except _NoUpdate:
            return unchanged
        pushed = [*backlog, *pushed] if backlog_complete else backlog
    batch = choose_batch(pushed, window, policy, count, backlog_complete=backlog_complete)
    batch, wanted = _make_room(
        policy,
        summary,
        batch,
        window,
        pinned,
        input_messages,
        count,
        budget=budget,
        keep_newest=answering,
        reaches_window=backlog_complete and batch[-1].end >= window_start,
    )

    try:
        output = yield Summarize(summarizer_input(summary, batch, policy, wanted))
        text = summary_text(output, policy, count)
    except Exception as error:
        logger.warning(
            "Session %r: summary update failed (%s: %s); the turn goes on with the last good "
            "summary and the update is retried on a later turn",
            session_id,
            type(error).__name__,
            error,
        )
        return unchanged

    new = SessionSummary(text=text, covers=batch[-1].end, updated_at=datetime.now(timezone.utc))
    composed = compose(new, [t for t in tail if t.start >= new.covers])
    if not composed.summarized:
        # Stored, it would replace a summary that fits with one that is never sent.
        logger.warning(
            "Session %r: the new summary does not fit the window beside the input; the last "
            "good one is kept and the update retried on a later turn",
            session_id,
        )
        return unchanged
    try:
        saved = bool((yield SaveSummary(new, expected)))
    except Exception as error:
        logger.warning(
            "Session %r: storing the summary failed (%s: %s); it is used for this turn only",
            session_id,
            type(error).__name__,
            error,
        )
        saved = False
    else:
        if not saved:
            logger.info(
                "Session %r: another writer moved the stored summary; this one is used for this "
                "turn only",
                session_id,
            )
    return SummaryStep(history=composed.history, summary=new, updated=True, saved=saved)


class _NoUpdate(Exception):
    """The backlog could not be read; the turn goes on without an update."""


def _read_backlog(
    start: int, stop: int, session_id: str
) -> Generator[SummaryRequest, Any, tuple[list[StoredTurn], bool]]:
    """Read uncovered whole turns in ``[start, stop)`` that the window did not load.

    Reads pages from ``start`` (growing x4) until they hold a complete turn or reach ``stop``.

    Returns:
        The whole turns read (oldest first) and whether they reach ``stop``.

    Raises:
        _NoUpdate: If a read fails or the session is shorter than expected.
    """
    limit = min(GAP_PAGE, stop - start)
    while True:
        try:
            page = list((yield LoadPage(start, limit)))
        except Exception as error:
            logger.warning(
                "Session %r: reading messages to summarize failed (%s: %s); retried later",
                session_id,
                type(error).__name__,
                error,
            )
            raise _NoUpdate from error
        if len(page) < limit:
            logger.warning(
                "Session %r: the session changed while summarizing; retried later", session_id
            )
            raise _NoUpdate
        turns = positioned_turns(page, start)
        if start + limit >= stop:
            return turns, True
        if len(turns) > 1:
            return turns[:-1], False  # the last turn may continue past the page
        limit = min(limit * 4, stop - start)


# ---- drivers (the only sync/async difference) ----------------------------------------------
def run_summary_plan(
    plan: SummaryPlan,
    io: SummaryIO,
    summarizer: Runnable[Any, Any],
    config: RunnableConfig | None = None,
    *,
    at: TurnLease | None = None,
) -> SummaryStep:
    """Drive a :func:`plan_summary` plan with sync I/O.

    Args:
        plan: The plan.
        io: The session's summary I/O.
        summarizer: The policy's summarizer.
        config: Config for the summarizer call (e.g. the turn's child callbacks).
        at: The turn's lease: the summary is stored only while the session is as it read it.
    """
    try:
        request = next(plan)
        while True:
            try:
                if isinstance(request, LoadPage):
                    reply: Any = io.load_page(request.offset, request.limit)
                elif isinstance(request, Summarize):
                    reply = summarizer.invoke(request.messages, config)
                else:
                    reply = io.save_summary(
                        request.summary, expected_covers=request.expected_covers, at=at
                    )
            except Exception as error:
                request = plan.throw(error)
            else:
                request = plan.send(reply)
    except StopIteration as done:
        step: SummaryStep = done.value
        return step


async def arun_summary_plan(
    plan: SummaryPlan,
    io: SummaryIO,
    summarizer: Runnable[Any, Any],
    config: RunnableConfig | None = None,
    *,
    at: TurnLease | None = None,
) -> SummaryStep:
    """Async :func:`run_summary_plan` (only async I/O)."""
    try:
        request = next(plan)
        while True:
            try:
                if isinstance(request, LoadPage):
                    reply: Any = await io.aload_page(request.offset, request.limit)
                elif isinstance(request, Summarize):
                    reply = await summarizer.ainvoke(request.messages, config)
                else:
                    reply = await io.asave_summary(
                        request.summary, expected_covers=request.expected_covers, at=at
                    )
            except Exception as error:
                request = plan.throw(error)
            else:
                request = plan.send(reply)
    except StopIteration as done:
        step: SummaryStep = done.value
        return step
