"""Fitting a conversation's history to the model's context window (pure functions, no I/O).

The history sent with a turn is the newest suffix of the stored conversation that fits a token
budget::

    budget = context_window - reply_reserve

and must hold the pinned system message, the new input and the kept history. Rules (Arcee's
guidance for truncating a conversation):

* whole oldest turns are dropped first; a turn starts at a ``HumanMessage``;
* an ``AIMessage`` with ``tool_calls`` is never separated from its ``ToolMessage`` results
  (the history sent never starts with an orphan ``ToolMessage``);
* a leading ``SystemMessage`` of the conversation is always kept;
* the new input is always kept; if it does not fit on its own,
  :class:`ContextWindowExceededError` is raised (nothing is cut silently).

The store keeps everything: the window trims what is *sent*, never what is *stored*.

Loading is planned here too, but without doing I/O: :func:`plan_window` is a generator that
yields :class:`LoadNewest` / :class:`LoadHead` requests and receives the messages, so the sync
and async adapters drive the same logic with their own I/O. It asks for a modest number of
newest messages first and grows the request (x4) only while the budget is not full and older
messages exist, so a turn's cost does not grow with how long the conversation is.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, compress, pairwise, repeat
from operator import attrgetter, is_
from typing import Literal, NamedTuple

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_arcee.memory.tokens import IdentityCache
from langchain_arcee.messages import REASONING_KEYS, is_reasoning_block

TokenCounter = Callable[[BaseMessage], int]
"""Counts the tokens of one message."""

ReasoningRetention = Literal["all", "current_turn"]

DEFAULT_INITIAL_LOAD = 256
"""How many newest messages the first read of a turn asks the store for."""

SINGLE_READ_LIMIT = 2048
"""A ``max_messages`` cap up to this size is read in one query rather than grown into."""

GROWTH_FACTOR = 4


class ContextWindowExceededError(ValueError):
    """The new input (with the pinned system message) does not fit the context window.

    Attributes:
        input_tokens: Tokens of the new input and the pinned system message.
        budget: Tokens available for them (context window minus the reply reserve).
        context_window: The model's context window.
        reply_reserve: Tokens kept free for the reply.
    """

    def __init__(
        self, *, input_tokens: int, budget: int, context_window: int, reply_reserve: int
    ) -> None:
        self.input_tokens = input_tokens
        self.budget = budget
        self.context_window = context_window
        self.reply_reserve = reply_reserve
        super().__init__(
            f"The input needs {input_tokens} tokens but only {budget} are available "
            f"(context window {context_window} - {reply_reserve} reserved for the reply); "
            "shorten the input or lower the reply reserve. Nothing was sent or stored."
        )


@dataclass(frozen=True)
class WindowBudget:
    """The token limits a turn's messages must fit.

    Attributes:
        context_window: The model's context window in tokens.
        reply_reserve: Tokens kept free for the model's reply.
        token_scale: Real tokens per estimated token (learned from the server's counts, see
            ``langchain_arcee.memory.calibration``); the budget is in estimated tokens.
    """

    context_window: int
    reply_reserve: int
    token_scale: float = 1.0

    @property
    def prompt_tokens(self) -> int:
        """Estimated tokens available to everything sent (system, history, input)."""
        return int((self.context_window - self.reply_reserve) / self.token_scale)


@dataclass(frozen=True)
class WindowFit:
    """Result of fitting history to a budget.

    Attributes:
        messages: The history to send, oldest first (pinned system message included).
        budget_full: True if an older complete turn was left out (for tokens or the message
            cap), i.e. loading more history could not add anything.
        tool_free: True if no message of ``messages`` calls tools or is a tool result (so
            :func:`complete_tool_groups` has nothing to leave out); False if any may.
        tokens: The estimated tokens of ``messages``, or ``None`` if they were not counted
            (no token budget).
    """

    messages: list[BaseMessage]
    budget_full: bool
    tool_free: bool
    tokens: int | None


@dataclass(frozen=True)
class LoadNewest:
    """Request: the newest ``last`` messages of the session (all if ``None``)."""

    last: int | None


@dataclass(frozen=True)
class LoadHead:
    """Request: the session's first message (a list of at most one message)."""


LoadRequest = LoadNewest | LoadHead
WindowPlan = Generator[LoadRequest, list[BaseMessage], WindowFit]


READ_HEADROOM = 64
"""Messages added to a session's remembered window (its growth over a few turns)."""


class WindowReads:
    """How many newest messages each recent session's turn ended up reading (LRU, thread-safe).

    With a token budget, a turn's plan reads the newest messages and grows the read (x4) while
    everything loaded fits, one more read each time: at 2,000 stored messages that is three
    reads a turn. Starting the next turn at the size of the last one's window (plus headroom
    for the turns in between) makes it one read of about the window's size, which the store's
    window cache then answers without shipping anything.

    Args:
        max_sessions: How many sessions to remember.
    """

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.max_sessions = max_sessions
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: str) -> int | None:
        """The read size to start the session's next turn with, if remembered."""
        with self._lock:
            return self._sizes.get(session)

    def record(self, session: str, window: int) -> None:
        """How many history messages a turn of ``session`` sent (its fitted window)."""
        with self._lock:
            self._sizes[session] = window + READ_HEADROOM
            self._sizes.move_to_end(session)
            while len(self._sizes) > self.max_sessions:
                self._sizes.popitem(last=False)


class _Kinds(dict[type, type]):
    """Message class -> the standard class it is (or ``BaseMessage``); filled on first sight."""

    def __missing__(self, cls: type) -> type:
        standard = (HumanMessage, AIMessage, ToolMessage, SystemMessage)
        kind = next((base for base in standard if issubclass(cls, base)), BaseMessage)
        self[cls] = kind
        return kind


_KINDS = _Kinds()
_TOOL_CALLS = attrgetter("tool_calls")


def kinds_of(messages: Sequence[BaseMessage]) -> list[type]:
    """Which of ``HumanMessage``, ``AIMessage``, ``ToolMessage``, ``SystemMessage`` each is.

    Subclasses (e.g. ``AIMessageChunk``) map to their standard class, anything else to
    ``BaseMessage``. A dict probe by class instead of ``isinstance`` checks (pydantic's
    ABC-based ``isinstance`` is several times slower), and ``map`` over the dict's
    ``__getitem__`` runs the per-message work in C (a new class goes through
    ``_Kinds.__missing__``): a pass over a long window costs a few tens of nanoseconds a
    message instead of a Python loop iteration each.
    """
    return list(map(_KINDS.__getitem__, map(type, messages)))


def _calls_tools(messages: Sequence[BaseMessage], kinds: Sequence[type]) -> bool:
    """Whether an assistant message among ``messages`` (of ``kinds``) calls tools (C passes)."""
    assistants = compress(messages, map(is_, kinds, repeat(AIMessage)))
    return any(map(_TOOL_CALLS, assistants))


class TurnScan(NamedTuple):
    """Where the turns of a message sequence start, and whether it holds tool messages."""

    starts: list[int]
    """Where each segment of :func:`split_turns` starts: indices, ascending."""
    tool_free: bool
    """No message calls tools or is a tool result."""


def scan_turns(messages: Sequence[BaseMessage]) -> TurnScan:
    """Where each segment of :func:`split_turns` starts, and whether any tool message is there."""
    if not messages:
        return TurnScan([], tool_free=True)
    kinds = kinds_of(messages)
    if not _calls_tools(messages, kinds):
        # Nothing waits for tool results, so every HumanMessage starts a turn: found by C-level
        # passes (compress) rather than the general loop below, a Python iteration a message.
        starts = list(compress(range(len(messages)), map(is_, kinds, repeat(HumanMessage))))
        if not starts or starts[0]:
            starts.insert(0, 0)
        return TurnScan(starts, tool_free=not any(map(is_, kinds, repeat(ToolMessage))))
    starts = [0]
    pending: set[str | None] = set()
    for index, (message, kind) in enumerate(zip(messages, kinds, strict=True)):
        if kind is HumanMessage:
            if not pending and index:
                starts.append(index)
        elif kind is AIMessage:
            calls = message.tool_calls  # type: ignore[attr-defined]
            pending = {call.get("id") for call in calls} if calls else set()
        elif kind is ToolMessage and pending:
            pending.discard(message.tool_call_id)  # type: ignore[attr-defined]
    return TurnScan(starts, tool_free=False)


def split_turns(messages: Sequence[BaseMessage]) -> list[list[BaseMessage]]:
    """Split messages into turns; each turn starts at a ``HumanMessage``.

    A ``HumanMessage`` that arrives while tool calls of the preceding ``AIMessage`` still wait
    for their ``ToolMessage`` results does not start a turn, so a tool-call group is never split.
    Messages before the first turn start form a leading segment of their own.

    Args:
        messages: Messages oldest first.

    Returns:
        The segments, oldest first; concatenated they equal ``messages``.
    """
    bounds = [*scan_turns(messages).starts, len(messages)]
    return [list(messages[start:end]) for start, end in pairwise(bounds)]


def token_counts(messages: Sequence[BaseMessage], count: TokenCounter) -> list[int]:
    """``count`` of every message, oldest first (the cache's inline probes when it is cached)."""
    if isinstance(count, IdentityCache):
        counts: list[int] = count.counts(messages)
        return counts
    return list(map(count, messages))


FIRST_COUNT = 64
"""How many newest messages :func:`newest_running_totals` counts first (then x4 while they fit)."""


def newest_running_totals(
    messages: Sequence[BaseMessage], count: TokenCounter, tokens: int, most: int
) -> list[int]:
    """Running token totals of the newest ``messages``, newest first, while within ``tokens``.

    At most ``most`` totals: ``len(result)`` newest messages fit together. Counts newest first
    in growing batches and stops at the first batch that overflows, so a long window that
    mostly does not fit is not counted whole (a count can be a tokenizer).

    Raises:
        ValueError: If the counter returns a negative count.
    """
    totals: list[int] = []
    batch = FIRST_COUNT
    end = len(messages)
    while len(totals) < most:
        done = len(totals)
        size = min(batch, most - done)
        counts = token_counts(messages[end - done - size : end - done], count)
        counts.reverse()  # newest first
        if min(counts) < 0:
            msg = f"the token counter returned a negative count ({min(counts)})"
            raise ValueError(msg)
        running = list(accumulate(counts, initial=totals[-1] if totals else 0))
        del running[0]
        # Non-negative counts make the running total non-decreasing: bisect finds the cut.
        within = bisect_right(running, tokens)
        totals += running[:within]
        if within < size:
            break
        batch *= GROWTH_FACTOR
    return totals


class TurnsFitting(NamedTuple):
    """How many of the newest turns fit, and their estimated tokens."""

    turns: int
    tokens: int | None
    """``None`` when not counted (no token limit)."""


def newest_turns_fitting(
    messages: Sequence[BaseMessage],
    starts: Sequence[int],
    count: TokenCounter,
    *,
    tokens: int | None,
    max_messages: int | None,
) -> TurnsFitting:
    """How many of the newest turns (``messages`` from each of ``starts``) fit the limits.

    The newest turns are kept while they fit ``tokens`` and ``max_messages`` together
    (``None``: no limit); turns are whole, so the cut is the first turn start at or after the
    oldest message that fits.
    """
    room = len(messages) if max_messages is None else min(len(messages), max_messages)
    totals = None
    if tokens is not None:
        totals = newest_running_totals(messages, count, tokens, room)
        room = len(totals)
    first = bisect_left(starts, len(messages) - room)
    turns = len(starts) - first
    if totals is None:
        return TurnsFitting(turns, None)
    kept = len(messages) - starts[first] if turns else 0
    return TurnsFitting(turns, totals[kept - 1] if kept else 0)


def newest_fitting(
    segments: Sequence[Sequence[BaseMessage]],
    count: TokenCounter,
    *,
    tokens: int | None,
    messages: int | None,
) -> int:
    """How many of the newest ``segments`` (whole turns) fit ``tokens`` and ``messages``.

    Newest first, stopping at the first turn that does not fit (``None``: no limit).
    """
    if not segments:
        return 0
    starts = list(accumulate(map(len, segments[:-1]), initial=0))
    flat = list(chain.from_iterable(segments))
    return newest_turns_fitting(flat, starts, count, tokens=tokens, max_messages=messages).turns


def fit_history(
    history: Sequence[BaseMessage],
    input_messages: Sequence[BaseMessage],
    count: TokenCounter,
    *,
    budget: WindowBudget | None,
    max_messages: int | None = None,
    head: BaseMessage | None = None,
) -> WindowFit:
    """Choose the newest whole turns of ``history`` that fit the budget.

    Args:
        history: Stored messages, oldest first. If ``head`` is given, ``history`` is a suffix
            of the conversation (older messages exist) and its leading partial turn is dropped.
        input_messages: The new input; always sent, counted against the budget.
        count: Token counter for one message.
        budget: The limits, or ``None`` to keep every whole turn (subject to
            ``max_messages``).
        max_messages: Send at most this many history messages (the pinned system message
            included), or ``None`` for no cap.
        head: The conversation's first message when ``history`` does not start with it;
            it is pinned if it is a ``SystemMessage``.

    Returns:
        The history to send and whether the budget was full.

    Raises:
        ContextWindowExceededError: If the input and the pinned system message alone exceed
            the budget.
        ValueError: If ``count`` returns a negative count (the cut is found by bisecting
            running totals).
    """
    partial = head is not None
    pinned: BaseMessage | None = None
    rest: Sequence[BaseMessage] = history
    if partial:
        if isinstance(head, SystemMessage):
            pinned = head
    elif history and isinstance(history[0], SystemMessage):
        pinned, rest = history[0], history[1:]

    starts, tool_free = scan_turns(rest)
    if partial and starts and not isinstance(rest[0], HumanMessage):
        starts = starts[1:]  # the tail of a turn whose start was not loaded

    remaining_tokens = budget.prompt_tokens if budget is not None else None
    remaining_messages = max_messages
    pinned_tokens = 0
    if remaining_tokens is not None:
        pinned_tokens = count(pinned) if pinned is not None else 0
        fixed = sum(map(count, input_messages)) + pinned_tokens
        if fixed > remaining_tokens:
            assert budget is not None
            raise ContextWindowExceededError(
                input_tokens=fixed,
                budget=budget.prompt_tokens,
                context_window=budget.context_window,
                reply_reserve=budget.reply_reserve,
            )
        remaining_tokens -= fixed
    if pinned is not None and remaining_messages is not None:
        remaining_messages = max(remaining_messages - 1, 0)

    kept, kept_tokens = newest_turns_fitting(
        rest, starts, count, tokens=remaining_tokens, max_messages=remaining_messages
    )
    selected: list[BaseMessage] = [pinned] if pinned is not None else []
    if kept:
        selected.extend(rest[starts[len(starts) - kept] :])
    return WindowFit(
        messages=selected,
        budget_full=kept < len(starts),
        tool_free=tool_free,
        tokens=None if kept_tokens is None else pinned_tokens + kept_tokens,
    )


def plan_window(
    input_messages: Sequence[BaseMessage],
    count: TokenCounter,
    *,
    budget: WindowBudget | None,
    max_messages: int | None = None,
    initial_load: int = DEFAULT_INITIAL_LOAD,
) -> WindowPlan:
    """Plan the reads that fetch a turn's history window (sans I/O).

    Yields :class:`LoadNewest` / :class:`LoadHead` requests; the driver sends back the
    messages read. Each read asks for one message more than it needs, to learn whether older
    messages exist without a separate count. With no budget and no cap, everything is read
    once; a cap of at most ``SINGLE_READ_LIMIT`` messages is read at once; otherwise reads
    start at ``initial_load`` (or the cap) and grow x4, up to the cap,
    only while every loaded whole turn fits and older messages exist.

    Args:
        input_messages: The new input (always sent).
        count: Token counter for one message.
        budget: The limits, or ``None`` for no token limit.
        max_messages: Cap on history messages sent, or ``None``.
        initial_load: Size of the first read when there is a token budget.

    Returns:
        (as the generator's return value) The fit: the history to send, oldest first, and
        what the fit learned about it.

    Raises:
        ContextWindowExceededError: If the input alone does not fit.
    """
    if budget is None and max_messages is None:
        everything = yield LoadNewest(None)
        return fit_history(everything, input_messages, count, budget=None)

    if max_messages is not None and (budget is None or max_messages <= SINGLE_READ_LIMIT):
        wanted = max_messages  # a small cap is read at once: one query instead of 257 + 1,001
    else:
        wanted = min(initial_load, max_messages) if max_messages else initial_load
    assert wanted is not None
    head: BaseMessage | None = None
    head_loaded = False
    while True:
        loaded = yield LoadNewest(wanted + 1)
        older_exist = len(loaded) > wanted
        if older_exist:
            loaded = loaded[1:]
            if not head_loaded:
                first = yield LoadHead()
                head, head_loaded = (first[0] if first else None), True
        fit = fit_history(
            loaded,
            input_messages,
            count,
            budget=budget,
            max_messages=max_messages,
            head=head if older_exist else None,
        )
        at_cap = max_messages is not None and wanted >= max_messages
        if not older_exist or fit.budget_full or at_cap:
            return fit
        wanted *= GROWTH_FACTOR
        if max_messages is not None:
            wanted = min(wanted, max_messages)


class StaleToolResultsError(ValueError):
    """Tool results were sent for tool calls the session is not waiting for.

    Raised before anything is sent: the calls were answered already, or the session moved on
    (another turn was stored after the tool calls).
    """


def pending_tool_calls(history: Sequence[BaseMessage]) -> set[str]:
    """Ids of the newest assistant message's tool calls that have no result yet."""
    index = len(history) - 1
    while index >= 0 and isinstance(history[index], ToolMessage):
        index -= 1
    if index < 0:
        return set()
    message = history[index]
    if not isinstance(message, AIMessage) or not message.tool_calls:
        return set()
    answered = {m.tool_call_id for m in history[index + 1 :] if isinstance(m, ToolMessage)}
    return {str(call.get("id")) for call in message.tool_calls} - answered


def check_tool_results(
    history: Sequence[BaseMessage], input_messages: Sequence[BaseMessage]
) -> None:
    """Refuse input tool results that don't answer the session's pending tool calls.

    Raises:
        StaleToolResultsError: If an input ``ToolMessage`` answers no pending call.
    """
    results = [m for m in input_messages if isinstance(m, ToolMessage)]
    if not results:
        return
    pending = pending_tool_calls(history)
    stale = [m.tool_call_id for m in results if m.tool_call_id not in pending]
    if stale:
        msg = (
            f"tool results {stale} answer no pending tool call of this session (answered "
            f"already, or another turn was stored since; pending: {sorted(pending)}). "
            "Nothing was sent or stored."
        )
        raise StaleToolResultsError(msg)


def has_tool_messages(messages: Sequence[BaseMessage]) -> bool:
    """Whether any message is a tool result or an assistant message calling tools."""
    kinds = kinds_of(messages)
    return any(map(is_, kinds, repeat(ToolMessage))) or _calls_tools(messages, kinds)


def complete_tool_groups(
    history: Sequence[BaseMessage], input_messages: Sequence[BaseMessage]
) -> tuple[list[BaseMessage], int]:
    """The history without incomplete tool groups, which no API accepts.

    An ``AIMessage`` whose tool calls are not all answered by the ``ToolMessage`` s right after
    it is left out with those results, and so is a ``ToolMessage`` answering no preceding
    call, except for the last message's calls when the input answers them. Stores written by
    other clients, older versions or by hand may hold such groups; leaving them out of what is
    sent keeps the session usable.

    Returns:
        The history to send and how many messages were left out.
    """
    if not has_tool_messages(history):
        return list(history), 0  # no tool group at all: nothing to check
    answered_by_input = {m.tool_call_id for m in input_messages if isinstance(m, ToolMessage)}
    kept: list[BaseMessage] = []
    index = 0
    while index < len(history):
        message = history[index]
        if isinstance(message, AIMessage) and message.tool_calls:
            end = index + 1
            while end < len(history) and isinstance(history[end], ToolMessage):
                end += 1
            calls = {str(call.get("id")) for call in message.tool_calls}
            results = {
                m.tool_call_id for m in history[index + 1 : end] if isinstance(m, ToolMessage)
            }
            if end == len(history):
                results |= answered_by_input
            if calls <= results:
                kept.extend(history[index:end])
            index = end
        elif isinstance(message, ToolMessage):
            index += 1  # answers no preceding call
        else:
            kept.append(message)
            index += 1
    return kept, len(history) - len(kept)


def has_reasoning(message: BaseMessage) -> bool:
    """Whether an assistant message carries reasoning text."""
    if not isinstance(message, AIMessage):
        return False
    if any(key in message.additional_kwargs for key in REASONING_KEYS):
        return True
    return isinstance(message.content, list) and any(map(is_reasoning_block, message.content))


def without_reasoning(message: BaseMessage) -> BaseMessage:
    """A shallow copy of an assistant message without its reasoning (others unchanged).

    The message id is kept, so the copy still identifies the stored message.
    """
    if not has_reasoning(message):
        return message
    kwargs = {k: v for k, v in message.additional_kwargs.items() if k not in REASONING_KEYS}
    update: dict[str, object] = {"additional_kwargs": kwargs}
    if isinstance(message.content, list):
        update["content"] = [block for block in message.content if not is_reasoning_block(block)]
    return message.model_copy(update=update)


def current_turn_start(messages: Sequence[BaseMessage]) -> int:
    """Index where the current turn starts: the last ``HumanMessage`` (0 if none)."""
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return index
    return 0


def apply_reasoning_retention(
    history: Sequence[BaseMessage],
    input_messages: Sequence[BaseMessage],
    retention: ReasoningRetention,
    strip: Callable[[BaseMessage], BaseMessage] = without_reasoning,
) -> list[BaseMessage]:
    """Drop reasoning from assistant messages of earlier turns in the history to send.

    Args:
        history: The history window, oldest first.
        input_messages: The new input. If it holds a ``HumanMessage`` the whole history is
            earlier turns; otherwise (e.g. tool results) the history's last turn continues.
        retention: ``"all"`` keeps everything (Arcee's guidance); ``"current_turn"`` strips
            reasoning from assistant messages before the current turn.
        strip: Returns a message without its reasoning (lets callers cache copies).

    Returns:
        The history to send (the input list is not modified).
    """
    if retention == "all":
        return list(history)
    if any(isinstance(m, HumanMessage) for m in input_messages):
        cutoff = len(history)
    else:
        cutoff = current_turn_start(history)
    return [strip(m) if i < cutoff else m for i, m in enumerate(history)]
