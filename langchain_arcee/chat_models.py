"""``ChatArcee``: Arcee AI chat models for LangChain."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams, LanguageModelInput, ModelProfile
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.prompt_values import ChatPromptValue, PromptValue
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils import from_env, secret_from_env
from langchain_openai.chat_models.base import (
    BaseChatOpenAI,
    _add_gateway_metadata,
    _handle_openai_api_error,
    _handle_openai_bad_request,
)
from pydantic import ConfigDict, Field, SecretStr, field_serializer, model_validator
from typing_extensions import Self

from langchain_arcee.catalog import (
    API_KEY_ENV_VARS,
    BASE_URL_ENV_VARS,
    DEFAULT_BASE_URL,
    DEFAULT_CONTEXT_WINDOW,
    DEFAULT_MODEL,
    known_context_window,
    list_models,
    missing_key_message,
)
from langchain_arcee.messages import all_messages, approximate_token_count, text_tokens
from langchain_arcee.redaction import checked_base_url, redact_url, split_userinfo, url_secrets
from langchain_arcee.transport import (
    ArceeContextOverflowError,
    ArceeOpenAI,
    AsyncArceeOpenAI,
    AsyncUntypedChatCompletions,
    MalformedResponseError,
    PerEventLoop,
    UntypedChatCompletions,
    as_context_overflow,
    async_http_client,
    checked_proxy_url,
    http_client,
    is_context_overflow,
)
from langchain_arcee.wire import (
    ReasoningField,
    reasoning_from_response,
    reasoning_request_fields,
    to_arcee_messages,
)

if TYPE_CHECKING:
    from langchain_arcee.memory import RunnableWithMemory
    from langchain_arcee.stores.base import ChatStore

DEFAULT_TIMEOUT_SECONDS = 300.0
"""Finite default request timeout: thinking models can reason for minutes before answering."""

_PROVIDER = "arcee"


def _choice_messages(response: dict[str, Any] | openai.BaseModel) -> list[dict[str, Any]]:
    # Reasoning is a non-OpenAI field: it lives in the SDK model's extras (no second model_dump).
    if isinstance(response, dict):
        return [choice.get("message") or {} for choice in response.get("choices") or []]
    messages = []
    for choice in getattr(response, "choices", None) or []:
        message = getattr(choice, "message", None)
        messages.append(dict(getattr(message, "model_extra", None) or {}))
    return messages


class ChatArcee(BaseChatOpenAI):
    r"""Arcee AI chat models (Trinity and every other model served by Arcee's API).

    Speaks Arcee's OpenAI-compatible ``/chat/completions`` contract exactly: reasoning is read
    from responses (``reasoning_content``, or ``reasoning`` from a self-hosted vLLM) into
    ``additional_kwargs["reasoning_content"]`` and sent back on every later assistant message,
    as Arcee requires; assistant ``content`` is never null; tool calls keep their ids; streams
    report token usage. Requests are posted without the openai SDK's slow typed transform and
    encoded by orjson, so long conversations stay cheap. See
    [Arcee's API docs](https://docs.arcee.ai) for the models.

    Setup:
        Install `langchain-arcee` and set the environment variable `ARCEE_API_KEY`
        (`ARCEEAI_API_KEY` is read too).

        ```bash
        pip install -e .  # from a checkout; the package is not on PyPI yet
        export ARCEE_API_KEY="your-api-key"
        ```

    Key init args — completion params:
        model:
            Model id, default `'trinity-large-thinking'`. Any id Arcee serves works
            (`'trinity-mini'`, `'deepseek/...'`): the catalogue churns, nothing is a closed list.
        temperature:
            Sampling temperature.
        max_tokens:
            Max number of tokens to generate (reasoning included).
        reasoning_field:
            Request field that carries earlier reasoning back: `'reasoning_content'` (Arcee's
            API, the default), `'reasoning'` (self-hosted vLLM), `'both'`, or `None` to send no
            reasoning back (for servers that reject unknown fields; thinking models then lose
            their earlier reasoning).
        context_window:
            Context window in tokens (default: from the known-model table; 32,768 for an
            unknown id; `refresh_context_window()` reads it from `GET /models`).

    Key init args — client params:
        api_key:
            Arcee API key. If not passed, read from `ARCEE_API_KEY` (or `ARCEEAI_API_KEY`).
        base_url:
            API base, default `https://api.arcee.ai/api/v1` (or `ARCEE_API_BASE` /
            `ARCEE_BASE_URL`); any OpenAI-compatible server, e.g. a self-hosted vLLM.
        timeout:
            Request timeout in seconds (default 300: thinking models can reason for minutes).
        max_retries:
            Retries on 408/409/429/5xx and connection errors (default 2); never on 4xx.

    See the class attributes for the full list of init args.

    Instantiate:
        ```python
        from langchain_arcee import ChatArcee

        model = ChatArcee(
            model="trinity-large-thinking",
            temperature=0.6,
            max_tokens=None,
            max_retries=2,
            # api_key="...",
            # base_url="...",
            # other params...
        )
        ```

    Invoke:
        ```python
        messages = [
            ("system", "You are a helpful translator. Translate the user sentence to French."),
            ("human", "I love programming."),
        ]
        ai_msg = model.invoke(messages)
        ai_msg.content  # the answer
        ```

    Stream:
        Reasoning and answer arrive as separate deltas:

        ```python
        for chunk in model.stream(messages):
            print(chunk.additional_kwargs.get("reasoning_content", ""), end="")  # thinking
            print(chunk.text, end="")  # answer
        ```

        Chunks add up to one message, with the whole reasoning and the usage:

        ```python
        stream = model.stream(messages)
        full = next(stream)
        for chunk in stream:
            full += chunk
        full.content, full.additional_kwargs["reasoning_content"], full.usage_metadata
        ```

    Async:
        One model serves several event loops (it keeps one HTTP client per loop).

        ```python
        await model.ainvoke(messages)

        # stream:
        async for chunk in model.astream(messages):
            print(chunk.text, end="")

        # batch:
        await model.abatch([messages, messages])
        ```

    Tool calling:
        ```python
        from pydantic import BaseModel, Field


        class GetWeather(BaseModel):
            '''Get the current weather in a given location'''

            location: str = Field(..., description="The city, e.g. Paris")


        model_with_tools = model.bind_tools([GetWeather])
        ai_msg = model_with_tools.invoke("What is the weather like in Paris?")
        ai_msg.tool_calls  # [{"name": "GetWeather", "args": {"location": "Paris"}, "id": ...}]
        ```

        Send the results back as `ToolMessage`s paired by `tool_call_id`; the call's reasoning
        goes back with it:

        ```python
        from langchain_core.messages import ToolMessage

        call = ai_msg.tool_calls[0]
        result = ToolMessage("Sunny, 24 °C", tool_call_id=call["id"])
        model_with_tools.invoke(["What is the weather like in Paris?", ai_msg, result])
        ```

    Structured output:
        The default method is function calling (Arcee documents tool calling);
        `method="json_mode"` sends `response_format: {"type": "json_object"}` (describe the
        shape in the prompt); `method="json_schema"` is opt-in (not documented by Arcee).

        ```python
        class Joke(BaseModel):
            '''Joke to tell user.'''

            setup: str = Field(description="The setup of the joke")
            punchline: str = Field(description="The punchline to the joke")
            rating: int = Field(description="How funny the joke is, from 1 to 10")


        structured_model = model.with_structured_output(Joke)
        joke = structured_model.invoke("Tell me a joke about cats")
        joke.setup, joke.punchline
        ```

    Reasoning:
        Thinking models (Trinity) return their reasoning apart from the answer, in
        `additional_kwargs["reasoning_content"]` and as a reasoning content block:

        ```python
        ai_msg = model.invoke("What is a small language model?")
        ai_msg.additional_kwargs["reasoning_content"]  # the model's thinking
        ai_msg.content_blocks[0]["type"]  # "reasoning"
        ```

        Arcee requires every earlier turn's reasoning to be sent back: passing the
        `AIMessage` in the next request's history does it. For a self-hosted vLLM, which reads
        the field `reasoning`, set `reasoning_field`:

        ```python
        follow_up = model.invoke(["What is a small language model?", ai_msg, "Give an example."])
        vllm_model = ChatArcee(base_url=model.openai_api_base, reasoning_field="reasoning")
        ```

    Token usage:
        ```python
        ai_msg = model.invoke(messages)
        ai_msg.usage_metadata
        ```

        ```txt
        {"input_tokens": 28, "output_tokens": 40, "total_tokens": 68,
         "output_token_details": {"reasoning": 31}}
        ```

        Streams report usage too (`stream_usage=True` by default; a server that sends no
        usage chunk is tolerated): see `full.usage_metadata` above.

    Response metadata:
        ```python
        ai_msg = model.invoke(messages)
        ai_msg.response_metadata  # model_name, finish_reason, model_provider, ...
        ```

        ```txt
        {"model_name": "trinity-large-thinking", "finish_reason": "stop",
         "model_provider": "arcee", "token_usage": {...}, "id": "chatcmpl-..."}
        ```

    Memory:
        `model.with_memory(store)` resends the prior turns (with their reasoning, tool calls
        and tool results) and stores each new turn: see `langchain_arcee.RunnableWithMemory`.
    """

    # hide_input_in_errors: a validation error would quote the arguments, base_url included.
    model_config = ConfigDict(populate_by_name=True, hide_input_in_errors=True)

    model_name: str = Field(default=DEFAULT_MODEL, alias="model")
    """Model id; any id Arcee serves is accepted (the catalogue churns)."""

    # Redeclared so that OPENAI_API_KEY / OPENAI_API_BASE / OPENAI_PROXY never leak in.
    openai_api_key: SecretStr | None = Field(
        alias="api_key", default_factory=secret_from_env(list(API_KEY_ENV_VARS), default=None)
    )
    """Arcee API key (``ARCEE_API_KEY``, or ``ARCEEAI_API_KEY``)."""

    openai_api_base: str = Field(
        alias="base_url",
        default_factory=from_env(list(BASE_URL_ENV_VARS), default=DEFAULT_BASE_URL),
    )
    """API base URL (``ARCEE_API_BASE`` or ``ARCEE_BASE_URL``, else Arcee's)."""

    openai_proxy: str | None = None
    """Explicit HTTP proxy (``OPENAI_PROXY`` is deliberately not read)."""

    request_timeout: float | tuple[float, float] | Any | None = Field(
        default=DEFAULT_TIMEOUT_SECONDS, alias="timeout"
    )
    """Request timeout in seconds (finite by default)."""

    max_retries: int | None = 2
    """Retries on 408/409/429/5xx and connection errors (never on 400/401/402/403/404/422)."""

    stream_usage: bool | None = True
    """Ask for a usage chunk when streaming (a server that sends none is tolerated)."""

    reasoning_field: ReasoningField | None = "reasoning_content"
    """Request field that carries earlier reasoning back (``"reasoning"`` for vLLM; ``None``
    sends no reasoning back, for OpenAI-compatible servers that reject unknown fields)."""

    context_window: int | None = None
    """Context window in tokens; ``None`` resolves from the known-model table, else 32,768."""

    # ------------------------------------------------------------------ setup
    @model_validator(mode="after")
    def validate_environment(self) -> Self:
        """Check the key and build the Arcee clients (replaces ``BaseChatOpenAI``'s validator)."""
        if self.n is not None and self.n < 1:
            raise ValueError("n must be at least 1.")
        if self.n is not None and self.n > 1 and self.streaming:
            raise ValueError("n must be 1 when streaming.")
        if self.context_window is None:
            self.context_window = known_context_window(self.model_name) or DEFAULT_CONTEXT_WINDOW
        elif self.context_window < 1:
            raise ValueError("context_window must be a positive number of tokens")
        checked_base_url(self.openai_api_base)
        if self.openai_proxy is not None:
            checked_proxy_url(self.openai_proxy)
        if self.client is not None and self.async_client is not None:
            return self  # clients injected explicitly
        if self.openai_api_key is None or not self.openai_api_key.get_secret_value():
            raise ValueError(missing_key_message())
        client_params: dict[str, Any] = {
            "api_key": self.openai_api_key.get_secret_value(),
            "base_url": self.openai_api_base,
            "timeout": self.request_timeout,
            "max_retries": self.max_retries if self.max_retries is not None else 2,
            "default_headers": self.default_headers,
            "default_query": self.default_query,
        }
        if self.client is None:
            self.root_client = ArceeOpenAI(
                **client_params,
                http_client=self.http_client or http_client(proxy=self.openai_proxy),
            )
            self.client = UntypedChatCompletions(self.root_client)
        if self.async_client is None:
            if self.http_async_client is not None:
                # An injected async HTTP client is bound to its own loop: use it as given.
                self.root_async_client = AsyncArceeOpenAI(
                    **client_params, http_client=self.http_async_client
                )
                self.async_client = AsyncUntypedChatCompletions(self.root_async_client)
            else:
                # One async client per event loop (httpx pools can't cross loops), on the
                # loop's HTTP pool shared by every model.
                proxy = self.openai_proxy
                roots = PerEventLoop(
                    lambda: AsyncArceeOpenAI(
                        **client_params, http_client=async_http_client(proxy=proxy)
                    )
                )
                self.root_async_client = roots
                self.async_client = PerEventLoop(
                    lambda: AsyncUntypedChatCompletions(roots.current())
                )
        return self

    def _resolve_model_profile(self) -> ModelProfile | None:
        window = self.context_window or known_context_window(self.model_name)
        profile: ModelProfile = {"tool_calling": True, "structured_output": True}
        if window:
            profile["max_input_tokens"] = window
        return profile

    def _use_responses_api(self, payload: dict[str, Any]) -> bool:
        # Arcee serves Chat Completions only.
        return False

    @property
    def _llm_type(self) -> str:
        return "arcee-chat"

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Secrets and the env var each is read from.

        A base URL or proxy URL that carries credentials (``https://user:pass@gateway/...``)
        is a secret too: ``dumpd`` (and so every tracer's ``serialized`` payload) holds a
        reference to ``ARCEE_API_BASE`` / ``ARCEE_PROXY`` instead of the URL.
        """
        secrets = {"openai_api_key": "ARCEE_API_KEY"}
        if url_secrets(self.openai_api_base):
            secrets["openai_api_base"] = BASE_URL_ENV_VARS[0]
        if self.openai_proxy and url_secrets(self.openai_proxy):
            secrets["openai_proxy"] = "ARCEE_PROXY"
        return secrets

    @field_serializer("openai_api_base", "openai_proxy")
    def _serialize_url(self, url: str | None) -> str | None:
        # model_dump()/model_dump_json() show URLs as repr does: credentials masked.
        return None if url is None else redact_url(url)

    def __repr_args__(self) -> Any:
        # URLs are shown with their credentials masked (the API key is a SecretStr already).
        for name, value in super().__repr_args__():
            if name in ("openai_api_base", "openai_proxy") and isinstance(value, str):
                yield name, redact_url(value)
            else:
                yield name, value

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        """Namespace used when serializing (``langchain_arcee.chat_models``)."""
        return ["langchain_arcee", "chat_models"]

    @property
    def lc_attributes(self) -> dict[str, Any]:
        """Non-secret constructor arguments kept by ``dumpd``."""
        attributes: dict[str, Any] = {}
        if self.openai_api_base != DEFAULT_BASE_URL:
            attributes["openai_api_base"] = self.openai_api_base
        return attributes

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """``ChatArcee`` can be serialized with ``dumpd`` and restored with ``load``."""
        return True

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        # langchain-openai's, read from the request defaults: it rebuilds every invocation param
        # (core's deprecated dict() in a warnings guard) on each call to read four; same result.
        params = {**self._default_params, **kwargs}
        ls_params = LangSmithParams(
            ls_provider=_PROVIDER,
            ls_model_name=params.get("model", self.model_name),
            ls_model_type="chat",
            ls_temperature=params.get("temperature", self.temperature),
        )
        if ls_max_tokens := params.get("max_tokens", self.max_tokens) or params.get(
            "max_completion_tokens", self.max_tokens
        ):
            ls_params["ls_max_tokens"] = ls_max_tokens
        if ls_stop := stop or params.get("stop"):
            ls_params["ls_stop"] = ls_stop
        return ls_params

    # ------------------------------------------------------------------ request
    def _convert_input(self, model_input: LanguageModelInput) -> PromptValue:
        if isinstance(model_input, list) and all_messages(model_input):
            # A history of messages is already valid: skip re-validating each one per call.
            return ChatPromptValue.model_construct(messages=model_input)
        return super()._convert_input(model_input)

    def _get_request_payload(
        self, input_: LanguageModelInput, *, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        # langchain-openai hands over the list core's invoke/stream already checked (see
        # _convert_input): no second pass here; the wire conversion's per-type dispatch rejects
        # anything that is not a message.
        messages = input_ if isinstance(input_, list) else self._convert_input(input_).to_messages()
        payload = {**self._default_params, **kwargs}
        if stop is not None:
            payload["stop"] = stop
        payload["messages"] = to_arcee_messages(
            messages, reasoning_request_fields(self.reasoning_field)
        )
        response_format = payload.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == "json_object":
            # JSON mode needs no client-side parsing: keep it on the fast untyped path. The
            # caller's own extra_body still wins, as it wins over any top-level key in the SDK.
            json_mode = {"response_format": payload.pop("response_format")}
            payload["extra_body"] = {**json_mode, **(payload.get("extra_body") or {})}
        return payload

    # ------------------------------------------------------------------ calls
    @contextlib.contextmanager
    def _arcee_errors(self) -> Iterator[None]:
        """Map what the SDK and langchain-openai raise to the errors ``ChatArcee`` documents."""
        try:
            yield
        except json.JSONDecodeError as exc:
            # The SDK lets a 200 whose body is not JSON escape as a bare JSONDecodeError.
            detail = f"the body is not valid JSON ({exc})"
            raise MalformedResponseError(detail, self._completions_url()) from exc
        except openai.BadRequestError as exc:
            # langchain-openai maps OpenAI's wordings only; vLLM's are Arcee's.
            if isinstance(exc, ArceeContextOverflowError) or not is_context_overflow(exc):
                raise
            raise as_context_overflow(exc) from exc

    def _completions_url(self) -> str:
        # The URL requests go to: without the base URL's user-info (sent as a header).
        return f"{split_userinfo(self.openai_api_base)[0].rstrip('/')}/chat/completions"

    def _empty_stream_error(self) -> MalformedResponseError:
        return MalformedResponseError("the stream ended without any data", self._completions_url())

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        with self._arcee_errors():
            return super()._generate(*args, **kwargs)

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        with self._arcee_errors():
            return await self._agenerate_inline(*args, **kwargs)

    async def _agenerate_inline(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # langchain-openai's _agenerate builds the result in a thread pool (run_in_executor):
        # the hop costs about as much CPU as building this small result, plus a GIL handoff on
        # every async turn. This is its plain chat-completions branch with the result built
        # inline; structured output (response_format) and include_response_headers keep its path.
        payload = self._get_request_payload(messages, stop=stop, **kwargs)
        if "response_format" in payload or self.include_response_headers:
            return await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
        raw_response = None
        try:
            raw_response = await self.async_client.with_raw_response.create(**payload)
            response = raw_response.parse()
        except openai.BadRequestError as exc:
            _handle_openai_bad_request(exc)
        except openai.APIError as exc:
            _handle_openai_api_error(exc)
        except Exception as exc:
            if raw_response is not None and hasattr(raw_response, "http_response"):
                exc.response = raw_response.http_response  # type: ignore[attr-defined]
            raise
        generation_info: dict[str, Any] = {}
        _add_gateway_metadata(generation_info, raw_response)
        return self._create_chat_result(response, generation_info)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        received = False
        with self._arcee_errors():
            for chunk in super()._stream(*args, **kwargs):
                received = True
                yield chunk
        if not received:
            raise self._empty_stream_error()

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        received = False
        with self._arcee_errors():
            async for chunk in super()._astream(*args, **kwargs):
                received = True
                yield chunk
        if not received:
            raise self._empty_stream_error()

    # ------------------------------------------------------------------ response
    def _create_chat_result(
        self,
        response: dict[str, Any] | openai.BaseModel,
        generation_info: dict[str, Any] | None = None,
    ) -> ChatResult:
        result = super()._create_chat_result(response, generation_info)
        for generation, choice_message in zip(
            result.generations, _choice_messages(response), strict=False
        ):
            message = generation.message
            message.response_metadata["model_provider"] = _PROVIDER
            reasoning = reasoning_from_response(choice_message)
            if reasoning is not None:
                message.additional_kwargs["reasoning_content"] = reasoning
            if (
                isinstance(message, AIMessage)
                and message.tool_calls
                and isinstance(message.content, str)
                and not message.content.strip()
            ):
                # Arcee answers tool-call turns with content "\n": normalize to "".
                message.content = ""
        if result.llm_output is not None:
            result.llm_output["model_provider"] = _PROVIDER
        return result

    def _convert_chunk_to_generation_chunk(
        self,
        chunk: dict[str, Any],
        default_chunk_class: type,
        base_generation_info: dict[str, Any] | None,
    ) -> ChatGenerationChunk | None:
        generation_chunk = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info
        )
        if generation_chunk is None:
            return None
        message = generation_chunk.message
        message.response_metadata["model_provider"] = _PROVIDER
        choices = chunk.get("choices") or []
        if choices and isinstance(choices[0].get("delta"), dict):
            reasoning = reasoning_from_response(choices[0]["delta"])
            if reasoning:
                message.additional_kwargs["reasoning_content"] = reasoning
        return generation_chunk

    # ------------------------------------------------------------------ tokens & context
    def get_num_tokens(self, text: str) -> int:
        """Approximate token count of a text, offline and script-aware.

        About one token per Chinese, Japanese or Korean character, two characters per token on
        code and JSON, four on English prose (see :func:`langchain_arcee.messages.text_tokens`).
        """
        return math.ceil(text_tokens(text))

    def get_num_tokens_from_messages(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool] | None = None,
        *,
        allow_fetching_images: bool = True,
    ) -> int:
        """Approximate token count of a conversation, offline.

        Counts content, roles, names, tool calls, tool call ids, reasoning and tool schemas,
        aware of script (CJK, code and JSON cost more tokens per character than prose). Never
        downloads a tokenizer.

        Args:
            messages: The conversation.
            tools: Tools whose schemas are sent with it.
            allow_fetching_images: Ignored: images count a fixed amount, nothing is fetched.

        Returns:
            The estimated number of input tokens.
        """
        from langchain_core.utils.function_calling import convert_to_openai_tool

        tool_dicts = [convert_to_openai_tool(tool) for tool in tools] if tools else None
        return approximate_token_count(messages, tools=tool_dicts)

    def refresh_context_window(self) -> int:
        """Read this model's ``context_length`` from Arcee's ``GET /models`` and adopt it.

        Returns:
            The context window now in effect.

        Raises:
            LookupError: If the live catalogue does not list this model.
        """
        api_key = self.openai_api_key.get_secret_value() if self.openai_api_key else None
        for info in list_models(api_key=api_key, base_url=self.openai_api_base):
            if info.id == self.model_name and info.context_length:
                self.context_window = info.context_length
                self.profile = self._resolve_model_profile()
                return info.context_length
        msg = (
            f"model {self.model_name!r} is not in Arcee's /models catalogue "
            "(or the catalogue gives it no context_length)"
        )
        raise LookupError(msg)

    # ------------------------------------------------------------------ structured output
    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["function_calling", "json_mode", "json_schema"] = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Model that returns output matching ``schema``.

        Args:
            schema: Pydantic class, TypedDict, JSON schema or OpenAI tool dict.
            method: ``"function_calling"`` (default; Arcee documents tool calling),
                ``"json_mode"`` (``response_format: json_object``, which Arcee documents; put the
                schema in the prompt), or ``"json_schema"`` (opt-in; not documented by Arcee).
            include_raw: Also return the raw message and any parsing error.
            strict: Passed through for ``function_calling`` / ``json_schema``.
            **kwargs: Passed to ``BaseChatOpenAI.with_structured_output``.

        Returns:
            A runnable producing the parsed output.
        """
        return super().with_structured_output(
            schema, method=method, include_raw=include_raw, strict=strict, **kwargs
        )

    # ------------------------------------------------------------------ memory
    def with_memory(self, store: ChatStore, **options: Any) -> RunnableWithMemory:
        """This model with conversation memory: prior turns injected, each turn stored.

        Args:
            store: Where conversations live (e.g. ``SQLiteChatStore("chat.db")``).
            **options: Options of :class:`langchain_arcee.memory.RunnableWithMemory`
                (context window fitting, reasoning retention, ...).

        Returns:
            A runnable invoked with ``config={"configurable": {"session_id": ...}}``.
        """
        from langchain_arcee.memory import RunnableWithMemory

        return RunnableWithMemory(self, store, **options)
