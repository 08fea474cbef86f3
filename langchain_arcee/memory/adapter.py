"""``RunnableWithMemory``: conversation memory for any runnable, backed by a ``ChatStore``.

A turn flows session -> window -> runnable -> append:

1. the session is resolved from the call's config and locked (turns of one session run one
   after the other);
2. the newest history that fits the model's context window is read (only that, not the whole
   conversation) and placed into the runnable's input;
3. the runnable runs;
4. on success, the turn (input messages and every message the runnable produced) is stored
   with one atomic append.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from types import GenericAlias
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, patch_config
from langchain_core.runnables.utils import ConfigurableFieldSpec, get_unique_config_specs
from langchain_core.utils.pydantic import create_model_v2
from pydantic import BaseModel

from langchain_arcee.memory.session import GetSessionHistory, SessionIO, SessionResolver
from langchain_arcee.memory.tokens import (
    PerMessageCache,
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
    with_id,
)
from langchain_arcee.memory.window import (
    DEFAULT_INITIAL_LOAD,
    LoadHead,
    LoadRequest,
    ReasoningRetention,
    TokenCounter,
    WindowBudget,
    WindowPlan,
    apply_reasoning_retention,
    plan_window,
    without_reasoning,
)
from langchain_arcee.stores.base import ChatStore


class RunnableWithMemory(Runnable[Any, Any]):
    """Wraps a runnable so every call continues a stored conversation.

    A drop-in for LangChain's deprecated ``RunnableWithMessageHistory`` (same constructor,
    same input and output shapes, same ``configurable`` session keys) that stores whole turns
    reliably and sends only the history that fits the model's context window.

    What it does on each call (a *turn*):

    * reads the session named by ``config["configurable"]`` (``session_id`` by default, or
      the keys of ``history_factory_config``); turns of one session are serialized inside the
      process, so concurrent turns never interleave or miss each other's messages;
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
    session stays locked until the stream finishes or its generator is closed; close
    abandoned generators (leaving a ``for`` loop does this in CPython).

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
            else ``count_tokens_approximately`` plus reasoning text. Cached per message id.
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
        self._resolver = SessionResolver(get_session_history, history_factory_config)
        self.history_factory_config: list[ConfigurableFieldSpec] = self._resolver.specs
        self.max_history_messages = max_history_messages
        self.initial_history_messages = initial_history_messages
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
        self._count: TokenCounter = PerMessageCache(token_counter or base_counter_for(runnable))
        self._strip_reasoning: Callable[[BaseMessage], BaseMessage] = PerMessageCache(
            without_reasoning
        )

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
    def _plan(self, turn: TurnInput) -> WindowPlan:
        return plan_window(
            turn.messages,
            self._count,
            budget=self.budget,
            max_messages=self.max_history_messages,
            initial_load=self.initial_history_messages,
        )

    def _prepare(
        self, turn: TurnInput, history: list[BaseMessage]
    ) -> tuple[Any, list[BaseMessage]]:
        """The runnable's input and every message sent (history + input), all with ids."""
        history = apply_reasoning_retention(
            [with_id(m) for m in history],
            turn.messages,
            self.reasoning_retention,
            self._strip_reasoning,
        )
        runnable_input = build_runnable_input(
            turn,
            history,
            input_messages_key=self.input_messages_key,
            history_messages_key=self.history_messages_key,
        )
        return runnable_input, [*history, *turn.messages]

    def _turn_messages(
        self, turn: TurnInput, sent: list[BaseMessage], output: Any
    ) -> list[BaseMessage]:
        return new_messages(turn, sent, output, self.output_messages_key)

    # ---- I/O drivers of the window plan (the only sync/async difference) -------------------
    @staticmethod
    def _read(io: SessionIO, request: LoadRequest) -> list[BaseMessage]:
        if isinstance(request, LoadHead):
            return io.load_head()
        return io.load(request.last)

    @staticmethod
    async def _aread(io: SessionIO, request: LoadRequest) -> list[BaseMessage]:
        if isinstance(request, LoadHead):
            return await io.aload_head()
        return await io.aload(request.last)

    def _load_window(self, io: SessionIO, turn: TurnInput) -> list[BaseMessage]:
        plan = self._plan(turn)
        try:
            request = next(plan)
            while True:
                request = plan.send(self._read(io, request))
        except StopIteration as done:
            result: list[BaseMessage] = done.value
            return result

    async def _aload_window(self, io: SessionIO, turn: TurnInput) -> list[BaseMessage]:
        plan = self._plan(turn)
        try:
            request = next(plan)
            while True:
                request = plan.send(await self._aread(io, request))
        except StopIteration as done:
            result: list[BaseMessage] = done.value
            return result

    # ---- invoke ----------------------------------------------------------------------------
    def _invoke_turn(
        self,
        value: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        session = self._resolver.resolve(config)
        with session.lock.hold():
            turn = read_turn_input(value, self.input_messages_key)
            runnable_input, sent = self._prepare(turn, self._load_window(session.io, turn))
            child = patch_config(config, callbacks=run_manager.get_child())
            output = self.runnable.invoke(runnable_input, child, **kwargs)
            session.io.append(self._turn_messages(turn, sent, output))
        return output

    async def _ainvoke_turn(
        self,
        value: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        session = self._resolver.resolve(config)
        async with session.lock.ahold():
            turn = read_turn_input(value, self.input_messages_key)
            runnable_input, sent = self._prepare(turn, await self._aload_window(session.io, turn))
            child = patch_config(config, callbacks=run_manager.get_child())
            output = await self.runnable.ainvoke(runnable_input, child, **kwargs)
            await session.io.aappend(self._turn_messages(turn, sent, output))
        return output

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Run one turn of the session named in ``config["configurable"]``.

        Returns:
            The wrapped runnable's output, unchanged.

        Raises:
            ValueError: If a session key is missing, or the input does not fit the window.
            TypeError: If a session key has the wrong type.
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
        value = next(inputs)
        session = self._resolver.resolve(config)
        with session.lock.hold():
            turn = read_turn_input(value, self.input_messages_key)
            runnable_input, sent = self._prepare(turn, self._load_window(session.io, turn))
            aggregator = StreamAggregator(self.output_messages_key)
            child = patch_config(config, callbacks=run_manager.get_child())
            for chunk in self.runnable.stream(runnable_input, child, **kwargs):
                aggregator.add(chunk)
                yield chunk
            # Reached only when the stream completed: abandoned/failed streams store nothing.
            session.io.append(self._turn_messages(turn, sent, aggregator.output()))

    async def _astream_turn(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        value = await anext(inputs)
        session = self._resolver.resolve(config)
        async with session.lock.ahold():
            turn = read_turn_input(value, self.input_messages_key)
            runnable_input, sent = self._prepare(turn, await self._aload_window(session.io, turn))
            aggregator = StreamAggregator(self.output_messages_key)
            child = patch_config(config, callbacks=run_manager.get_child())
            async for chunk in self.runnable.astream(runnable_input, child, **kwargs):
                aggregator.add(chunk)
                yield chunk
            await session.io.aappend(self._turn_messages(turn, sent, aggregator.output()))

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
