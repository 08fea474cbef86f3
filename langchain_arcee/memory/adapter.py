"""``RunnableWithMemory``: conversation memory for any runnable, backed by a ``ChatStore``.

A turn flows session -> window -> runnable -> commit:

1. the session is resolved from the call's config; the input is checked;
2. the turn takes the session's lease in the store and reads the newest messages with the
   session's version, in one round trip (another turn of the session, in any process, waits
   for it, up to ``lock_timeout``); the newest history that fits the model's context window
   is placed into the runnable's input;
3. the runnable runs (the lease is renewed meanwhile);
4. on success, the turn (input messages and every message the runnable produced) is stored
   with one atomic commit that the store refuses if the session moved on since step 2.

The turn itself is an I/O-free plan (:meth:`RunnableWithMemory._turn_plan`, a generator of
:class:`Load` / :class:`Call` steps); one sync and one async driver run it for ``invoke`` and
``stream`` alike.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from types import GenericAlias
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.exceptions import ContextOverflowError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, patch_config
from langchain_core.runnables.utils import ConfigurableFieldSpec, get_unique_config_specs
from langchain_core.utils.pydantic import create_model_v2
from pydantic import BaseModel

from langchain_arcee.memory.calibration import TokenCalibration
from langchain_arcee.memory.keepalive import RENEWER, Keepalive
from langchain_arcee.memory.session import (
    GetSessionHistory,
    Session,
    SessionResolver,
    TurnLimits,
)
from langchain_arcee.memory.summary import (
    LoadedHistory,
    SummaryPlan,
    SummaryPolicy,
    SummaryStep,
    arun_summary_plan,
    plan_summary,
    run_summary_plan,
)
from langchain_arcee.memory.tokens import (
    IdentityCache,
    base_counter_for,
    context_window_of,
    find_chat_model,
    reply_reserve_of,
)
from langchain_arcee.memory.turn import (
    StreamAggregator,
    TurnInput,
    build_runnable_input,
    new_messages,
    read_turn_input,
)
from langchain_arcee.memory.window import (
    DEFAULT_INITIAL_LOAD,
    LoadHead,
    ReasoningRetention,
    TokenCounter,
    WindowBudget,
    WindowFit,
    WindowPlan,
    WindowReads,
    apply_reasoning_retention,
    check_tool_results,
    complete_tool_groups,
    fit_history,
    pending_tool_calls,
    plan_window,
    without_reasoning,
)
from langchain_arcee.stores.base import DEFAULT_LEASE_SECONDS, DEFAULT_LOCK_TIMEOUT, ChatStore
from langchain_arcee.stores.serialization import detached

logger = logging.getLogger(__name__)

OVERFLOW_RETRY_SHRINK = 0.7
"""On a context-overflow error the window is re-fit to this share of the budget, once."""


@dataclass(frozen=True)
class Load:
    """Step: read the newest ``last`` messages of the session (all if ``None``)."""

    last: int | None


@dataclass(frozen=True)
class Call:
    """Step: run the wrapped runnable on ``input``; the driver sends back its output."""

    input: Any


@dataclass(frozen=True)
class LoadSummary:
    """Step: read the session's stored running summary."""


@dataclass(frozen=True)
class Summarize:
    """Step: run a summary plan (its reads, the summarizer call, the compare-and-set)."""

    plan: SummaryPlan


TurnPlan = Generator[Load | Call | LoadSummary | Summarize, Any, list[BaseMessage]]
"""A turn without I/O: yields steps, returns the messages to store."""


class RunnableWithMemory(Runnable[Any, Any]):
    """Wraps a runnable so every call continues a stored conversation.

    A drop-in for LangChain's deprecated ``RunnableWithMessageHistory`` (same constructor,
    same input and output shapes, same ``configurable`` session keys) that stores whole turns
    reliably and sends only the history that fits the model's context window.

    What it does on each call (a *turn*):

    * reads the session named by ``config["configurable"]`` (``session_id`` by default, or
      the keys of ``history_factory_config``); turns of one session are serialized by the
      store's lease, across processes and hosts, so concurrent turns never interleave or miss
      each other's messages, and the store refuses (``ConcurrentTurnError``) a turn whose
      session moved on (a clear, a delete, a turn that outlived its lease);
    * prepends the newest whole turns of history that fit the token budget (context window
      minus a reply reserve minus the input); the store keeps everything;
    * runs the wrapped runnable;
    * stores the input messages and every message the runnable produced (tool-call
      messages with their reasoning, tool results, final answer; never history the runnable
      echoes back) with ONE atomic append, only after the runnable succeeded.

    Failures: if the runnable raises, nothing is stored and the error propagates. If the
    store write fails, the error propagates to the caller (never logged and swallowed).

    Streams (``stream``/``astream``): chunks are yielded as they arrive; when the stream
    completes, the aggregated reply is stored as one ``AIMessage`` (not a chunk) with its full
    content, reasoning (``additional_kwargs``), tool calls and ``usage_metadata``. A stream
    that fails or is abandoned (the consumer stops iterating, closes the generator, or an
    error is raised mid-stream) stores nothing, so the user can simply retry the turn. The
    session stays claimed until the stream finishes or its generator is closed; a generator
    that is abandoned without being closed lets its lease expire (``lease_seconds``).

    Args:
        runnable: The runnable to wrap: a chat model, an LCEL chain, an agent
            (``langchain.agents.create_agent``) or any runnable taking messages (or a dict
            holding them) and returning a message, a string, messages, or a dict of those.
        get_session_history: A ``ChatStore`` (sessions keyed by ``session_id``), or an
            RWMH-style factory returning a ``BaseChatMessageHistory`` for the session keys.
            A ``StoreChatMessageHistory`` (e.g. ``store.history``) uses the store directly
            (windowed reads, native async); any other history works through its generic
            interface (which reads the whole history).
        input_messages_key: Key of the input messages when the input is a dict.
        output_messages_key: Key of the output messages when the output is a dict.
        history_messages_key: Key for the history when the runnable takes it separately
            (e.g. a ``MessagesPlaceholder``); otherwise history is prepended to the input
            messages.
        history_factory_config: ``ConfigurableFieldSpec`` s naming a session (default:
            ``session_id``); their ids are the factory's parameter names.
        context_window: The model's context window in tokens. Default: discovered from the
            wrapped runnable's chat model (``context_window`` attribute or
            ``profile["max_input_tokens"]``); if unknown, history is not trimmed by tokens.
        reply_reserve: Tokens kept free for the reply. Default: the model's ``max_tokens``,
            else 4096 (at most a quarter of the window).
        max_history_messages: Send at most this many history messages; a turn never reads
            more than this (+1) from the store.
        initial_history_messages: Size of the first read (at most ``max_history_messages``);
            reads grow x4, up to ``max_history_messages``, only while the token budget is not
            full and older messages exist.
        reasoning_retention: ``"all"`` (default, Arcee's guidance) sends every earlier
            assistant message's reasoning back; ``"current_turn"`` strips reasoning from
            assistant messages of earlier turns in what is sent (not from the store).
        token_counter: Counts one message's tokens. Default: ``ChatArcee``'s own counter,
            else ``count_tokens_approximately`` plus reasoning text. Cached per message object.
        summary: Opt-in running summary of what no longer fits the window: a summarizer (a
            chat model or chain) or a :class:`~langchain_arcee.memory.summary.SummaryPolicy`.
            The summary is stored beside the transcript (never replacing it) and sent as a
            marked system message before the newest turns; a failed summary call never fails
            the turn. Default ``None``: no summary, nothing changes. Needs a ``ChatStore``.
        calibrate: Learn the ratio of the server's prompt-token counts (``usage``) to the
            offline estimate, per model, and fit later windows with it (bounded, robust to
            outliers), so text the estimate misjudges (Chinese, code) neither overflows the
            window nor wastes it.
        lock_timeout: How long a turn waits for another turn of its session before
            ``SessionBusyError`` (raised before anything is sent).
        lease_seconds: How long a turn's claim on its session lasts unless renewed (renewed
            while the turn runs): the longest a crashed process can block a session.
        name: Name of the runnable in traces.

    Raises:
        ValueError: On invalid options or session key configuration.

    Example:
        .. code-block:: python

            from langchain_arcee.memory import RunnableWithMemory
            from langchain_arcee.stores import InMemoryChatStore

            chat = RunnableWithMemory(model, InMemoryChatStore())
            chat.invoke("Hi, I'm Bob", config={"configurable": {"session_id": "s1"}})
            chat.invoke("What's my name?", config={"configurable": {"session_id": "s1"}})
    """

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        get_session_history: ChatStore | GetSessionHistory,
        *,
        input_messages_key: str | None = None,
        output_messages_key: str | None = None,
        history_messages_key: str | None = None,
        history_factory_config: Sequence[ConfigurableFieldSpec] | None = None,
        context_window: int | None = None,
        reply_reserve: int | None = None,
        max_history_messages: int | None = None,
        initial_history_messages: int = DEFAULT_INITIAL_LOAD,
        reasoning_retention: ReasoningRetention = "all",
        token_counter: TokenCounter | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        summary: SummaryPolicy | Runnable[Any, Any] | None = None,
        calibrate: bool = True,
        name: str | None = None,
    ) -> None:
        if reasoning_retention not in ("all", "current_turn"):
            msg = (
                f"reasoning_retention must be 'all' or 'current_turn', got {reasoning_retention!r}"
            )
            raise ValueError(msg)
        for option, value in (
            ("context_window", context_window),
            ("max_history_messages", max_history_messages),
            ("initial_history_messages", initial_history_messages),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                msg = f"{option} must be a positive int or None, got {value!r}"
                raise ValueError(msg)
        if reply_reserve is not None and (not isinstance(reply_reserve, int) or reply_reserve < 0):
            msg = f"reply_reserve must be a non-negative int or None, got {reply_reserve!r}"
            raise ValueError(msg)

        self.runnable = runnable
        self.get_session_history = get_session_history
        self.input_messages_key = input_messages_key
        self.output_messages_key = output_messages_key
        self.history_messages_key = history_messages_key
        for option, seconds in (("lock_timeout", lock_timeout), ("lease_seconds", lease_seconds)):
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                msg = f"{option} must be a non-negative number of seconds, got {seconds!r}"
                raise ValueError(msg)
        self.summary: SummaryPolicy | None = (
            SummaryPolicy(summarizer=summary) if isinstance(summary, Runnable) else summary
        )
        self.limits = TurnLimits(
            lease_seconds=float(lease_seconds), lock_timeout=float(lock_timeout)
        )
        self._resolver = SessionResolver(get_session_history, history_factory_config, self.limits)
        self.history_factory_config: list[ConfigurableFieldSpec] = self._resolver.specs
        self.max_history_messages = max_history_messages
        self.initial_history_messages = initial_history_messages
        self._window_reads = WindowReads()
        self.reasoning_retention: ReasoningRetention = reasoning_retention
        self.name = name

        model = find_chat_model(runnable)
        window = context_window if context_window is not None else context_window_of(model)
        self.budget: WindowBudget | None = None
        if window is not None:
            reserve = (
                reply_reserve if reply_reserve is not None else reply_reserve_of(model, window)
            )
            if reserve >= window:
                msg = (
                    f"reply_reserve ({reserve}) must be smaller than the context window ({window})"
                )
                raise ValueError(msg)
            self.budget = WindowBudget(context_window=window, reply_reserve=reserve)
        self._calibration = TokenCalibration() if calibrate else None
        self._model_key = str(getattr(model, "model_name", None) or type(model).__name__)
        self._count: IdentityCache[int] = IdentityCache(token_counter or base_counter_for(runnable))
        self._strip_reasoning: Callable[[BaseMessage], BaseMessage] = IdentityCache(
            without_reasoning
        )
        # A chat model never mutates its input; any other runnable (an agent's graph assigns
        # ids in place) gets copies, so stored and cached messages stay as they were.
        self._copy_history = not isinstance(model, BaseChatModel) or model is not _unwrap(runnable)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(runnable={self.runnable!r}, "
            f"get_session_history={self.get_session_history!r}, "
            f"input_messages_key={self.input_messages_key!r}, "
            f"output_messages_key={self.output_messages_key!r}, "
            f"history_messages_key={self.history_messages_key!r}, budget={self.budget!r})"
        )

    # ---- schema ----------------------------------------------------------------------------
    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """The wrapped runnable's config specs plus the session keys."""
        return get_unique_config_specs([*self.runnable.config_specs, *self.history_factory_config])

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """Input schema, as ``RunnableWithMessageHistory`` reports it."""
        fields: dict[str, Any] = {}
        if self.input_messages_key and self.history_messages_key:
            fields[self.input_messages_key] = (str | BaseMessage | Sequence[BaseMessage], ...)
        elif self.input_messages_key:
            fields[self.input_messages_key] = (Sequence[BaseMessage], ...)
        else:
            return create_model_v2(
                "RunnableWithChatHistoryInput",
                module_name=type(self).__module__,
                root=(Sequence[BaseMessage], ...),
            )
        return create_model_v2(
            "RunnableWithChatHistoryInput",
            field_definitions=fields,
            module_name=type(self).__module__,
        )

    @property
    def OutputType(self) -> Any:
        """The output type ``RunnableWithMessageHistory`` reports, for schema parity.

        RWMH reports the type of its history-loading step, not the wrapped runnable's:
        ``list[BaseMessage]``, or ``dict[str, Any]`` when messages are keyed. LangServe/OpenAPI
        consumers and snapshot tests written against RWMH see the same here.
        """
        if self.input_messages_key or self.history_messages_key:
            return dict[str, Any]
        return list[BaseMessage]

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """Output schema, as ``RunnableWithMessageHistory`` reports it.

        :attr:`OutputType` when it is a pydantic model, else a root model of it titled
        ``RunnableWithChatHistoryOutput``.
        """
        root_type = self.OutputType
        if (
            inspect.isclass(root_type)
            and not isinstance(root_type, GenericAlias)
            and issubclass(root_type, BaseModel)
        ):
            return root_type
        return create_model_v2(
            "RunnableWithChatHistoryOutput", root=root_type, module_name=type(self).__module__
        )

    # ---- the parts of a turn shared by every path ------------------------------------------
    def _current_budget(self) -> WindowBudget | None:
        """The budget in estimated tokens, scaled by what the server's counts taught us."""
        if self.budget is None or self._calibration is None:
            return self.budget
        scale = self._calibration.factor(self._model_key)
        return replace(self.budget, token_scale=scale)

    def _sent_tokens(
        self, turn: TurnInput, sent: Sequence[BaseMessage], history_tokens: int | None
    ) -> int:
        """The estimated tokens of ``sent`` (the history sent and the input).

        ``history_tokens`` is the fit's count of the history, if it was sent as fitted.
        """
        if history_tokens is None or self.reasoning_retention != "all":
            return self._count.total(sent)
        # The fit counted the very history sent (copies sent to a runnable that is not a plain
        # chat model count the same): only the input is left to count, not the whole window
        # again (a pass over it costs ~60 µs a turn at 1,000 messages).
        return history_tokens + self._count.total(turn.messages)

    def _observe(self, stored: Sequence[BaseMessage], sent_tokens: Callable[[], int]) -> None:
        """Learn from the server's count of exactly what was sent (first reply's usage).

        Nothing to learn without a token budget: the factor only scales the budget, and the
        estimate would cost a pass over the whole window.
        """
        if self._calibration is None or self.budget is None:
            return
        for message in stored:
            usage = getattr(message, "usage_metadata", None)
            if isinstance(message, AIMessage) and usage and usage.get("input_tokens"):
                estimated = sent_tokens()
                self._calibration.observe(self._model_key, estimated, int(usage["input_tokens"]))
                return

    def _plan(self, turn: TurnInput, session_name: str) -> WindowPlan:
        remembered = self._window_reads.get(session_name) or 0
        return plan_window(
            turn.messages,
            self._count,
            budget=self._current_budget(),
            max_messages=self.max_history_messages,
            initial_load=max(self.initial_history_messages, remembered),
        )

    def _prepare(
        self, turn: TurnInput, history: list[BaseMessage]
    ) -> tuple[Any, list[BaseMessage]]:
        """The runnable's input and every message sent (history + input)."""
        if self._copy_history:
            history = [detached(m) for m in history]
        history = apply_reasoning_retention(
            history, turn.messages, self.reasoning_retention, self._strip_reasoning
        )
        runnable_input = build_runnable_input(
            turn,
            history,
            input_messages_key=self.input_messages_key,
            history_messages_key=self.history_messages_key,
        )
        return runnable_input, [*history, *turn.messages]

    # ---- the turn, without I/O --------------------------------------------------------------
    def _turn_plan(
        self, turn: TurnInput, start: Any, session_name: str, window: WindowPlan
    ) -> TurnPlan:
        """One turn from its start (lease taken, newest messages read) to what to store.

        ``window`` is the turn's window plan, past its first read (the one the start did).
        Yields :class:`Load` for further reads and :class:`Call` to run the runnable; a
        context-overflow error thrown back into the plan re-fits the window to a smaller
        budget once.
        """
        # The start names the first message only when its window doesn't hold it.
        head = start.head if start.head is not None else next(iter(start.messages), None)
        newest: list[BaseMessage] = start.messages
        loaded = newest
        try:
            while True:
                request = window.send(loaded)
                if isinstance(request, LoadHead):
                    loaded = [head] if head is not None else []
                else:
                    loaded = newest = yield Load(request.last)
        except StopIteration as done:
            fit: WindowFit = done.value
        history = fit.messages
        # What the fit learned about the history holds while the history is sent as fitted.
        tool_free, history_tokens = fit.tool_free, fit.tokens
        # What the window held, not what was read: a read sized from the last read would
        # grow every turn by the headroom.
        self._window_reads.record(session_name, len(history))
        if self.summary is not None:
            stored_summary = yield LoadSummary()
            positioned = LoadedHistory(newest, start.total - len(newest), head)
            summary_plan = plan_summary(
                self.summary,
                stored_summary,
                positioned,
                turn.messages,
                self._count,
                budget=self._current_budget(),
                max_messages=self.max_history_messages,
                session_id=session_name,
            )
            summarized: SummaryStep = yield Summarize(summary_plan)
            history = summarized.history
            tool_free, history_tokens = False, None
        check_tool_results(history, turn.messages)
        if not tool_free:  # else the fit saw no tool call or result: no group to leave out
            history, dropped = complete_tool_groups(history, turn.messages)
            if dropped:
                history_tokens = None
                logger.warning(
                    "session %r: left %d message(s) of incomplete tool-call groups out of the "
                    "request (the stored transcript is unchanged)",
                    session_name,
                    dropped,
                )
        runnable_input, sent = self._prepare(turn, history)
        try:
            output = yield Call(runnable_input)
        except ContextOverflowError as exc:
            budget = self._current_budget()
            if budget is None:
                raise
            # Nothing stored yet: re-fit to a smaller share and retry once; a second overflow
            # propagates (nothing stored) with the session named in the log.
            actual = getattr(exc, "prompt_tokens", None)  # the server's count, when it says
            if self._calibration is not None and isinstance(actual, int) and actual > 0:
                estimated = self._sent_tokens(turn, sent, history_tokens)
                self._calibration.observe(self._model_key, estimated, actual)
            smaller = replace(budget, token_scale=budget.token_scale / OVERFLOW_RETRY_SHRINK)
            logger.warning(
                "session %r: the model's context overflowed (%s); retrying once with %d "
                "prompt tokens",
                session_name,
                exc,
                smaller.prompt_tokens,
            )
            refit = fit_history(history, turn.messages, self._count, budget=smaller)
            history, history_tokens = refit.messages, refit.tokens
            runnable_input, sent = self._prepare(turn, history)
            output = yield Call(runnable_input)
        stored = new_messages(turn, sent, output, self.output_messages_key)
        self._observe(
            stored[len(turn.messages) :], partial(self._sent_tokens, turn, sent, history_tokens)
        )
        return stored

    # ---- drivers: the only sync/async difference --------------------------------------------
    @staticmethod
    def _first_read(window: WindowPlan) -> int | None:
        """Start the turn's window plan: the size of its first read (the turn's start)."""
        return getattr(next(window), "last", None)

    @staticmethod
    def _keepalive(session: Session, start: Any, limits: TurnLimits) -> Keepalive:
        keepalive = Keepalive(partial(session.io.renew, start), limits.lease_seconds, session.name)
        RENEWER.register(keepalive)
        return keepalive

    def _summarizer_config(self, config: RunnableConfig) -> RunnableConfig:
        """The summarizer's config: the turn's, without the keys that name the turn's session.

        A summarizer with memory of its own (its own session bound by ``with_config``) would
        otherwise be handed this turn's session and wait on this turn's own lease.
        """
        configurable = config.get("configurable") or {}
        keys = self._resolver.keys
        own = {key: value for key, value in configurable.items() if key not in keys}
        return {**config, "configurable": own}

    @staticmethod
    def _log_release_failure(session: Session) -> None:
        logger.warning("session %r: releasing the turn's claim failed", session.name, exc_info=True)

    def _drive(
        self,
        value: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        stream: bool,
        **kwargs: Any,
    ) -> Generator[Any, None, Any]:
        """Run one turn (sync); yields chunks when streaming; returns the runnable's output."""
        session = self._resolver.resolve(config)
        turn = read_turn_input(value, self.input_messages_key)
        # One plan per turn, made before the lease is taken: its first read is the start's.
        window = self._plan(turn, session.name)
        start = session.io.begin(self._first_read(window), _ready_for(turn))
        keepalive = self._keepalive(session, start, self.limits)
        output: Any = None
        try:
            plan = self._turn_plan(turn, start, session.name, window)
            try:
                step = next(plan)
                while True:
                    if isinstance(step, Load):
                        step = plan.send(session.io.load(step.last))
                        continue
                    child = patch_config(config, callbacks=run_manager.get_child())
                    if isinstance(step, LoadSummary):
                        step = plan.send(session.io.load_summary())
                        continue
                    if isinstance(step, Summarize):
                        assert self.summary is not None
                        summarizer = self.summary.summarizer
                        own = self._summarizer_config(child)
                        summarized = run_summary_plan(
                            step.plan, session.io, summarizer, own, at=start.lease
                        )
                        step = plan.send(summarized)
                        continue
                    try:
                        if stream:
                            aggregator = StreamAggregator(self.output_messages_key)
                            for chunk in self.runnable.stream(step.input, child, **kwargs):
                                aggregator.add(chunk)
                                keepalive.pause()
                                yield chunk
                                keepalive.resume()
                            output = aggregator.output()
                        else:
                            output = self.runnable.invoke(step.input, child, **kwargs)
                    except ContextOverflowError as exc:
                        step = plan.throw(exc)
                        continue
                    step = plan.send(output)
            except StopIteration as done:
                messages: list[BaseMessage] = done.value
            session.io.commit(start, messages)
        except BaseException:
            try:
                session.io.release(start)
            except Exception:
                self._log_release_failure(session)
            raise
        finally:
            RENEWER.unregister(keepalive)
        return output

    async def _adrive(
        self,
        value: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        stream: bool,
        result: list[Any],
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Async :meth:`_drive`; the output is appended to ``result``."""
        session = self._resolver.resolve(config)
        turn = read_turn_input(value, self.input_messages_key)
        # One plan per turn, made before the lease is taken: its first read is the start's.
        window = self._plan(turn, session.name)
        start = await session.io.abegin(self._first_read(window), _ready_for(turn))
        keepalive = self._keepalive(session, start, self.limits)
        output: Any = None
        try:
            plan = self._turn_plan(turn, start, session.name, window)
            try:
                step = next(plan)
                while True:
                    if isinstance(step, Load):
                        step = plan.send(await session.io.aload(step.last))
                        continue
                    child = patch_config(config, callbacks=run_manager.get_child())
                    if isinstance(step, LoadSummary):
                        step = plan.send(await session.io.aload_summary())
                        continue
                    if isinstance(step, Summarize):
                        assert self.summary is not None
                        summarizer = self.summary.summarizer
                        io = session.io
                        own = self._summarizer_config(child)
                        summarized = await arun_summary_plan(
                            step.plan, io, summarizer, own, at=start.lease
                        )
                        step = plan.send(summarized)
                        continue
                    try:
                        if stream:
                            aggregator = StreamAggregator(self.output_messages_key)
                            async for chunk in self.runnable.astream(step.input, child, **kwargs):
                                aggregator.add(chunk)
                                keepalive.pause()
                                yield chunk
                                keepalive.resume()
                            output = aggregator.output()
                        else:
                            output = await self.runnable.ainvoke(step.input, child, **kwargs)
                    except ContextOverflowError as exc:
                        step = plan.throw(exc)
                        continue
                    step = plan.send(output)
            except StopIteration as done:
                messages: list[BaseMessage] = done.value
            await session.io.acommit(start, messages)
        except BaseException:
            try:
                await session.io.arelease(start)
            except Exception:
                self._log_release_failure(session)
            raise
        finally:
            RENEWER.unregister(keepalive)
        result.append(output)

    # ---- invoke ----------------------------------------------------------------------------
    def _invoke_turn(
        self,
        value: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        turn = self._drive(value, run_manager, config, False, **kwargs)
        try:
            while True:
                next(turn)
        except StopIteration as done:
            return done.value

    async def _ainvoke_turn(
        self,
        value: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        result: list[Any] = []
        async for _ in self._adrive(value, run_manager, config, False, result, **kwargs):
            pass
        return result[0]

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run one turn of the session named in ``config["configurable"]``.

        Returns:
            The wrapped runnable's output, unchanged.

        Raises:
            ValueError: If a session key is missing, or the input does not fit the window.
            TypeError: If a session key has the wrong type.
            SessionBusyError: If another turn held the session for all of ``lock_timeout``
                (nothing was sent).
            ConcurrentTurnError: If the session moved on while this turn ran (nothing stored;
                the turn's messages are on the error).
        """
        return self._call_with_config(self._invoke_turn, input, ensure_config(config), **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async :meth:`invoke` (only async I/O)."""
        return await self._acall_with_config(
            self._ainvoke_turn, input, ensure_config(config), **kwargs
        )

    # ---- stream ----------------------------------------------------------------------------
    def _stream_turn(
        self,
        inputs: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Any]:
        yield from self._drive(next(inputs), run_manager, config, True, **kwargs)

    async def _astream_turn(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        value = await anext(inputs)
        async for chunk in self._adrive(value, run_manager, config, True, [], **kwargs):
            yield chunk

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> Iterator[Any]:
        """Stream one turn; the reply is stored when the stream completes (see class doc)."""
        yield from self._transform_stream_with_config(
            iter([input]), self._stream_turn, ensure_config(config), **kwargs
        )

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> AsyncIterator[Any]:
        """Async :meth:`stream`."""

        async def single() -> AsyncIterator[Any]:
            yield input

        async for chunk in self._atransform_stream_with_config(
            single(), self._astream_turn, ensure_config(config), **kwargs
        ):
            yield chunk

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> Iterator[Any]:
        """Stream one turn from an input iterator (the chunks are added into one input)."""
        aggregator = StreamAggregator()
        for chunk in input:
            aggregator.add(chunk)
        yield from self.stream(aggregator.value, config, **kwargs)

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> AsyncIterator[Any]:
        """Async :meth:`transform`."""
        aggregator = StreamAggregator()
        async for chunk in input:
            aggregator.add(chunk)
        async for chunk in self.astream(aggregator.value, config, **kwargs):
            yield chunk


def _precompute_signatures(*functions: Callable[..., Any]) -> None:
    """Give functions their ``__signature__``, which ``inspect.signature`` returns as is.

    LangChain's ``_call_with_config`` family asks for the turn function's signature on every
    call (``accepts_config``, ``accepts_run_manager``): computing it costs ~25 µs a turn, reading
    ``__signature__`` ~8 µs.
    """
    for function in functions:
        function.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]


_precompute_signatures(
    RunnableWithMemory._invoke_turn,
    RunnableWithMemory._ainvoke_turn,
    RunnableWithMemory._stream_turn,
    RunnableWithMemory._astream_turn,
)


def _ready_for(turn: TurnInput) -> Callable[[Any], bool] | None:
    """A new question waits while another turn still answers the session's tool calls.

    Without this, a turn from another instance landing between a tool call and its results
    would split the tool group in the store. A turn that sends tool results starts at once
    (stale results are refused by the plan).
    """
    if any(isinstance(m, ToolMessage) for m in turn.messages):
        return None
    return lambda start: not pending_tool_calls(start.messages)


def _unwrap(runnable: Any) -> Any:
    """The runnable under ``RunnableBinding`` layers (``model.bind_tools(...)`` is a model)."""
    from langchain_core.runnables import RunnableBinding

    while isinstance(runnable, RunnableBinding):
        runnable = runnable.bound
    return runnable


def with_memory(
    runnable: Runnable[Any, Any],
    get_session_history: ChatStore | GetSessionHistory,
    **options: Any,
) -> RunnableWithMemory:
    """``RunnableWithMemory(runnable, get_session_history, **options)``.

    The helper behind ``ChatArcee.with_memory(store, **options)``; import it lazily there to
    keep the model module free of the memory package.
    """
    return RunnableWithMemory(runnable, get_session_history, **options)
