"""The openai client, adapted to Arcee: untyped request bodies and Arcee's error bodies.

The openai SDK's ``chat.completions.create`` runs every request through a typed-parameter
transform that costs ~120 ms of client CPU for a 1,000-message conversation (it walks every
message against the TypedDict schema). ``ChatArcee`` already builds an exact JSON-ready body, so
it posts it as is through the same client, encoded by orjson where orjson writes what the SDK
would (:mod:`langchain_arcee.body_encoding`: ~25x faster than the SDK's stdlib ``json``), and
the openai client still does HTTP, retries, timeouts, streaming (SSE) and error mapping. No
library offers this, hence the small subclass below.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import functools
import os
import re
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import httpx2
import openai
import pydantic
from langchain_openai.chat_models.base import OpenAIContextOverflowError
from openai import AsyncStream, Stream
from openai._base_client import _merge_mappings, make_request_options
from openai._types import NOT_GIVEN, Body, Headers, NotGiven, Query
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from langchain_arcee.body_encoding import encoded_body
from langchain_arcee.event_loops import PerLoop
from langchain_arcee.redaction import (
    checked_base_url,
    redact_url,
    split_userinfo,
    unambiguous_url,
    url_secrets,
    withhold_secrets,
)

_CHAT_COMPLETIONS_PATH = "/chat/completions"
_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings replaced by U+FFFD.

    UTF-8 (and so the request body) cannot hold a lone surrogate. A turn's input with one is
    refused before sending; a stored reply may hold one (stored exactly), and is sent back as
    U+FFFD. Only called after encoding the body failed, so normal requests pay nothing.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_surrogates(v) for v in value]
    return value


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~15 ms; share one context, build cheap per-model HTTP clients.
    import certifi

    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or certifi.where())


_sync_clients: dict[tuple[int, str | None], openai.DefaultHttpxClient] = {}
_sync_clients_lock = threading.Lock()


def http_client(*, proxy: str | None = None) -> openai.DefaultHttpxClient:
    """The process's sync HTTP client for ``proxy``, shared by every model.

    One connection pool for all models, as langchain-openai's models share theirs: a model
    built per request reuses warm connections instead of opening (and leaking until garbage
    collection) a pool of its own. The API key and a base URL's credentials go on each
    request, not on the client. Keyed by process id too: a forked child (a pre-forking
    server's worker) must not write to connections its parent opened.
    """
    key = (os.getpid(), proxy)
    client = _sync_clients.get(key)
    if client is None:
        with _sync_clients_lock:
            client = _sync_clients.get(key)
            if client is None:
                client = _sync_clients[key] = openai.DefaultHttpxClient(
                    verify=_tls_context(), proxy=proxy
                )
    return client


@atexit.register
def _close_this_process_clients() -> None:
    """Close this process's shared sync pools when it exits: they opened the sockets.

    Only the clients this process built (a forked child's copy of its parent's is the
    parent's); async pools are let go with their event loops.
    """
    pid = os.getpid()
    with _sync_clients_lock:
        mine = [key for key in _sync_clients if key[0] == pid]
        clients = [_sync_clients.pop(key) for key in mine]
    for client in clients:
        client.close()


_async_clients: dict[str | None, PerEventLoop[openai.DefaultAsyncHttpxClient]] = {}
_async_clients_lock = threading.Lock()


def async_http_client(*, proxy: str | None = None) -> openai.DefaultAsyncHttpxClient:
    """The running event loop's async HTTP client for ``proxy``, shared by every model.

    httpx pools belong to the loop that opened them, so each loop has its own (let go once the
    loop has closed); outside a running loop, one shared client.
    """
    with _async_clients_lock:
        per_loop = _async_clients.get(proxy)
        if per_loop is None:
            per_loop = _async_clients[proxy] = PerEventLoop(
                lambda: openai.DefaultAsyncHttpxClient(verify=_tls_context(), proxy=proxy)
            )
    return per_loop.current()


def arcee_error_message(status_code: int, body: object) -> str:
    """Build a readable message from an Arcee error body.

    Arcee answers errors FastAPI style (``{"detail": "..."}``, where ``detail`` may also be a list
    of validation errors) or OpenAI style (``{"error": {"message": "..."}}``).

    Args:
        status_code: The HTTP status.
        body: The decoded JSON body (or raw text) of the error response.

    Returns:
        ``"Arcee API error <status>: <message>"``.
    """
    detail: object = body
    if isinstance(body, Mapping):
        if "detail" in body:
            detail = body["detail"]
        elif isinstance(body.get("error"), Mapping):
            detail = body["error"].get("message") or body["error"]
        elif "message" in body:  # the openai client passes the inner ``error`` object on
            detail = body["message"]
    if isinstance(detail, list):  # FastAPI validation errors: [{"loc": [...], "msg": "..."}]
        detail = "; ".join(
            str(item.get("msg", item)) if isinstance(item, Mapping) else str(item)
            for item in detail
        )
    text = "" if detail is None else str(detail).strip()
    return f"Arcee API error {status_code}: {text or 'no error message in the response'}"


def checked_proxy_url(url: str) -> str:
    """``url`` if httpx can use it as a proxy, its credentials safe.

    Raises:
        ValueError: If httpx refuses it (unknown scheme, bad port), or as
            :func:`~langchain_arcee.redaction.unambiguous_url`. The message shows the URL
            redacted (httpx's own may quote a piece of a password as the port).
    """
    unambiguous_url(url)
    try:
        httpx2.Proxy(url)
    except (httpx2.InvalidURL, ValueError) as exc:
        msg = f"the proxy URL {redact_url(url)!r} is not usable ({type(exc).__name__})"
        raise ValueError(msg) from None
    return url


class MalformedResponseError(openai.APIError):
    """Arcee answered with a body that is not valid JSON (or a stream with no data)."""

    def __init__(self, detail: str, url: str) -> None:
        super().__init__(
            f"Arcee returned a malformed response: {detail}",
            httpx2.Request("POST", url),
            body=None,
        )


class ArceeContextOverflowError(OpenAIContextOverflowError):
    """The request does not fit the model's context window (HTTP 400).

    Both an ``openai.BadRequestError`` (``status_code`` 400, Arcee's message, the response body)
    and langchain-core's ``ContextOverflowError`` (via langchain-openai's
    ``OpenAIContextOverflowError``), so LangChain middleware, the memory adapter and code written
    for ``ChatOpenAI`` all recognise it.

    Attributes:
        context_length: The model's context window in tokens, when the server named it.
        prompt_tokens: The server's count of the request's input tokens, when it named it.
    """

    context_length: int | None
    prompt_tokens: int | None

    def __init__(
        self,
        message: str,
        *,
        response: httpx2.Response,
        body: object | None,
        context_length: int | None = None,
        prompt_tokens: int | None = None,
    ) -> None:
        super().__init__(message, response=response, body=body)
        self.context_length = context_length
        self.prompt_tokens = prompt_tokens


# vLLM's wordings over its versions (and OpenAI's, which vLLM copied):
#   "This model's maximum context length is N tokens. However, you requested M tokens
#    (P in the messages, C in the completion). Please reduce the length of the messages ..."
#   "This model's maximum context length is N tokens. However, your request has P input tokens.
#    Please reduce the length of the input messages."
#   "This model's maximum context length is N tokens. However, you requested C output tokens and
#    your prompt contains at least P input tokens, for a total of at least T tokens. ..."
#   "'max_tokens' or 'max_completion_tokens' is too large: C. This model's maximum context length
#    is N tokens and your request has P input tokens (C > N - P)."
#   "The decoder prompt (length P) is longer than the maximum model length of N. ..."
# OpenAI's own answer carries ``code: "context_length_exceeded"``.
_OVERFLOW_TEXT = re.compile(
    r"maximum context length|context_length_exceeded|longer than the maximum model length",
    re.IGNORECASE,
)
_CONTEXT_LENGTH = re.compile(r"maximum (?:context|model) length (?:is|of) (\d+)", re.IGNORECASE)
_PROMPT_TOKENS = re.compile(
    r"(\d+) in the messages|(?:has|at least) (\d+) input tokens|decoder prompt \(length (\d+)\)",
    re.IGNORECASE,
)


def _first_int(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    if match is None:
        return None
    return int(next(group for group in match.groups() if group is not None))


def is_context_overflow(error: openai.APIStatusError) -> bool:
    """Whether an error response says the request exceeds the model's context window.

    Recognises vLLM's wordings ("This model's maximum context length is N tokens ...", and
    "... longer than the maximum model length ...") and OpenAI's ``context_length_exceeded``
    code, on a 400 answer.
    """
    if error.status_code != 400:
        return False
    return getattr(error, "code", None) == "context_length_exceeded" or bool(
        _OVERFLOW_TEXT.search(error.message)
    )


def as_context_overflow(error: openai.APIStatusError) -> ArceeContextOverflowError:
    """The :class:`ArceeContextOverflowError` for an error :func:`is_context_overflow` accepts.

    The window and the prompt's size are parsed from the message when the server states them.
    """
    return ArceeContextOverflowError(
        error.message,
        response=error.response,
        body=error.body,
        context_length=_first_int(_CONTEXT_LENGTH, error.message),
        prompt_tokens=_first_int(_PROMPT_TOKENS, error.message),
    )


class _ArceeClientMixin:
    """What both Arcee clients change in the openai clients."""

    api_key: str
    organization: str | None
    project: str | None
    _url_authorization: str | None = None
    _url_secrets: frozenset[str] = frozenset()

    def _take_url_credentials(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Move ``user:password@`` out of ``base_url`` into an ``Authorization`` header value.

        httpx would send URL credentials as HTTP Basic auth (replacing the bearer key) but
        also print the URL, credentials included, in its logs and in every error that quotes
        the request. The client therefore gets the bare URL, and :meth:`_set_url_auth` adds
        the same Basic header to each request.

        Raises:
            ValueError: If ``base_url`` is not usable
                (:func:`~langchain_arcee.redaction.checked_base_url`).
        """
        base_url = kwargs.get("base_url")
        if base_url is None:
            return kwargs
        bare, credentials = split_userinfo(checked_base_url(str(base_url)))
        if credentials is not None:
            token = base64.b64encode(":".join(credentials).encode()).decode("ascii")
            self._url_authorization = f"Basic {token}"
            self._url_secrets = url_secrets(base_url)
        return {**kwargs, "base_url": bare}

    def _init_client(self, init: Callable[..., None], kwargs: dict[str, Any]) -> None:
        """Run the openai client's ``__init__`` on ``kwargs`` with the base URL's credentials out.

        Raises:
            ValueError: If the URL is not usable; the message shows it redacted (httpx's own
                quotes it, which may cut a password and show a piece as the port).
        """
        clean = self._take_url_credentials(kwargs)
        try:
            init(**clean)
        except httpx2.InvalidURL as exc:
            shown = redact_url(str(kwargs.get("base_url")))
            msg = f"the API base URL {shown!r} is not a valid URL ({type(exc).__name__})"
            raise ValueError(msg) from None
        self._forget_openai_identity()

    def _set_url_auth(self, request: httpx2.Request) -> None:
        if self._url_authorization is not None:
            request.headers["Authorization"] = self._url_authorization

    def _forget_openai_identity(self) -> None:
        # The SDK reads OPENAI_ORG_ID / OPENAI_PROJECT_ID into headers; Arcee has neither.
        self.organization = None
        self.project = None

    def _process_response_data(self, *, data: object, cast_to: Any, response: Any) -> Any:
        if cast_to is ChatCompletion and isinstance(data, dict):
            # pydantic-core validates a well-formed completion in ~7 µs; the SDK's lenient
            # construct_type walks the type hints in Python (~80 µs a call). What does not
            # validate takes the SDK's lenient path, as before.
            try:
                return ChatCompletion.model_validate(data)
            except pydantic.ValidationError:
                pass
        return super()._process_response_data(  # type: ignore[misc]
            data=data, cast_to=cast_to, response=response
        )

    def _make_status_error(
        self, err_msg: str, *, body: object, response: Any
    ) -> openai.APIStatusError:
        # A server may echo the key (or the gateway's password) back: the error's message and
        # body show each string that holds one as withheld (``response`` keeps the raw bytes).
        body = withhold_secrets(body, frozenset({self.api_key, *self._url_secrets}))
        message = arcee_error_message(response.status_code, body)
        error: openai.APIStatusError = super()._make_status_error(  # type: ignore[misc]
            message, body=body, response=response
        )
        return error


class ArceeOpenAI(_ArceeClientMixin, openai.OpenAI):
    """``openai.OpenAI`` for Arcee: no ``OPENAI_*`` leakage, errors carry Arcee's message."""

    def __init__(self, **kwargs: Any) -> None:
        self._init_client(super().__init__, kwargs)

    def _prepare_request(self, request: httpx2.Request) -> None:
        super()._prepare_request(request)
        self._set_url_auth(request)


class AsyncArceeOpenAI(_ArceeClientMixin, openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` for Arcee: no ``OPENAI_*`` leakage, Arcee's error messages."""

    def __init__(self, **kwargs: Any) -> None:
        self._init_client(super().__init__, kwargs)

    async def _prepare_request(self, request: httpx2.Request) -> None:
        await super()._prepare_request(request)
        self._set_url_auth(request)


@functools.lru_cache(maxsize=32)
def _timeout_of(seconds: float) -> httpx2.Timeout:
    return httpx2.Timeout(seconds)


def _untyped_post_arguments(
    body: dict[str, Any],
    extra_headers: Headers | None,
    extra_query: Query | None,
    extra_body: Body | None,
    timeout: float | Any | NotGiven | None,
    client_timeout: float | Any | None,
) -> dict[str, Any]:
    """Arguments of the client's ``_post`` for a verbatim chat-completions body."""
    if isinstance(timeout, NotGiven):
        timeout = client_timeout
    if type(timeout) in (int, float):
        # httpx2 turns a number into a Timeout on every request, through a slow runtime-Protocol
        # isinstance (~10 us CPU); the same Timeout built once per value sends the same request.
        timeout = _timeout_of(timeout)
    if extra_body is not None:  # merged as the SDK merges it (shallow, Omit values dropped)
        if not isinstance(extra_body, Mapping):
            msg = f"extra_body must be a mapping, got {type(extra_body).__name__}"
            raise TypeError(msg)
        body = _merge_mappings(body, extra_body)
    encoded = encoded_body(body)
    return {
        **({"content": encoded} if isinstance(encoded, bytes) else {"body": encoded}),
        "options": make_request_options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            security={"bearer_auth": True},
        ),
        "cast_to": ChatCompletion,
        "stream": bool(body.get("stream")),
    }


class UntypedChatCompletions(Completions):
    """``chat.completions`` whose ``create`` posts the body as given (no typed transform)."""

    def create(  # type: ignore[override]
        self,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | Any | NotGiven | None = NOT_GIVEN,
        **body: Any,
    ) -> ChatCompletion | Stream[ChatCompletionChunk]:
        """POST ``/chat/completions`` with ``body`` serialized verbatim.

        Args:
            extra_headers: Extra HTTP headers.
            extra_query: Extra query parameters.
            extra_body: Extra JSON properties merged into the body.
            timeout: Per-request timeout override.
            **body: The JSON body (``model``, ``messages``, ``stream``, ...).

        Returns:
            A ``ChatCompletion``, or a ``Stream`` of chunks when ``body["stream"]`` is true.
        """
        arguments = _untyped_post_arguments(
            body, extra_headers, extra_query, extra_body, timeout, self._client.timeout
        )
        try:
            return self._post(  # type: ignore[no-any-return]
                _CHAT_COMPLETIONS_PATH, **arguments, stream_cls=Stream[ChatCompletionChunk]
            )
        except UnicodeEncodeError:  # raised before sending: nothing was sent
            if "body" not in arguments:  # the body was encoded: a header failed, as in the SDK
                raise
            arguments["body"] = without_surrogates(arguments["body"])
            return self._post(  # type: ignore[no-any-return]
                _CHAT_COMPLETIONS_PATH, **arguments, stream_cls=Stream[ChatCompletionChunk]
            )


class AsyncUntypedChatCompletions(AsyncCompletions):
    """Async ``chat.completions`` whose ``create`` posts the body as given."""

    async def create(  # type: ignore[override]
        self,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | Any | NotGiven | None = NOT_GIVEN,
        **body: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        """Async POST ``/chat/completions`` with ``body`` serialized verbatim (see the sync one)."""
        arguments = _untyped_post_arguments(
            body, extra_headers, extra_query, extra_body, timeout, self._client.timeout
        )
        try:
            return await self._post(  # type: ignore[no-any-return]
                _CHAT_COMPLETIONS_PATH, **arguments, stream_cls=AsyncStream[ChatCompletionChunk]
            )
        except UnicodeEncodeError:  # raised before sending: nothing was sent
            if "body" not in arguments:  # the body was encoded: a header failed, as in the SDK
                raise
            arguments["body"] = without_surrogates(arguments["body"])
            return await self._post(  # type: ignore[no-any-return]
                _CHAT_COMPLETIONS_PATH, **arguments, stream_cls=AsyncStream[ChatCompletionChunk]
            )


_T = TypeVar("_T")


class PerEventLoop(Generic[_T]):
    """A lazily built object per running event loop, reached through attribute access.

    httpx connection pools belong to the event loop that opened them, so one async client
    reused across ``asyncio.run()`` calls fails with "Event loop is closed". This proxy builds
    one instance per loop (dropped once the loop has closed) and forwards attribute access to
    the instance of the loop that is running, so ``model.async_client.create(...)`` works in
    any loop. Outside a running loop it forwards to one shared instance.
    """

    def __init__(self, factory: Callable[[], _T]) -> None:
        self._factory = factory
        self._by_loop: PerLoop[_T] = PerLoop()
        self._outside_loop: _T | None = None
        self._lock = threading.Lock()

    def current(self) -> _T:
        """The instance for the running event loop (built on first use)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            if loop is None:
                if self._outside_loop is None:
                    self._outside_loop = self._factory()
                return self._outside_loop
            instance = self._by_loop.get(loop)
            if instance is None:
                instance = self._by_loop.add(loop, self._factory())
            return instance

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy/pickle protocol probes: never build a client for them
            raise AttributeError(name)
        return getattr(self.current(), name)

    def __repr__(self) -> str:
        return f"PerEventLoop({self._factory!r})"
