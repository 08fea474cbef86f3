"""A loopback HTTP server that speaks Arcee's documented wire format.

This is the project's only test double for Arcee's remote API. Tests, benchmarks, the CLI's
end-to-end tests, examples, cassette recording and the fault-injection suite all drive it through
the real ``openai`` client over real HTTP, so it follows the wire contract in
``REFERENCE.md`` section 1: FastAPI-style ``{"detail": ...}`` errors, assistant ``content`` that
must be a string, tool results that must answer the preceding assistant's tool calls, reasoning in
``reasoning_content`` (hosted Arcee) or ``reasoning`` (self-hosted vLLM), SSE streams ending with
``data: [DONE]`` and an optional usage chunk.

It uses only the standard library, so it adds no dependency and starts in milliseconds.

In process::

    with ArceeTestServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        server.enqueue(Reply(content="Hi", reasoning="Greeting."))
        server.fail_next(status=429, times=2, retry_after=0.01)
        ...
        assert server.count("chat") == 3
        assert server.last_request.body["messages"][0]["role"] == "user"

Out of process (benchmarks, CLI end-to-end tests)::

    python -m tests.arcee_server --port 0 --print-url

prints the base URL on its first stdout line and serves until killed. A process-external test can
script it through the control routes under ``/_test/`` (see :class:`_Handler`): ``POST
/_test/enqueue``, ``/_test/fault``, ``/_test/options``, ``/_test/reset`` and ``GET /_test/stats``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import re
import selectors
import signal
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, NamedTuple

__all__ = [
    "DEFAULT_MODELS",
    "ArceeTestServer",
    "Fault",
    "RecordedRequest",
    "Reply",
    "ServerOptions",
]

CREATED = 1_700_000_000
"""The fixed ``created`` timestamp of every response (keeps recordings deterministic)."""

DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    {"id": "trinity-large-thinking", "context_length": 262144, "reasoning": True},
    {"id": "trinity-mini", "context_length": 131072, "reasoning": True},
    {"id": "arcee-ai/trinity-mini-thinking", "context_length": 131072, "reasoning": True},
    {"id": "arcee-ai/AFM-4.5B", "context_length": 65536, "reasoning": False},
    {"id": "deepseek/deepseek-v3.2", "context_length": 163840, "reasoning": False},
    {"id": "zai-org/GLM-4.6", "context_length": 202752, "reasoning": True},
    {"id": "moonshotai/Kimi-K2-Instruct", "context_length": 131072, "reasoning": False},
)
"""The default catalogue served by ``GET /models``; ``reasoning`` marks thinking models."""

ROLES = frozenset({"system", "user", "assistant", "tool"})
ERROR_STATUSES = frozenset({400, 401, 402, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504})
ReasoningField = Literal["reasoning_content", "reasoning"]
FaultKind = Literal["status", "malformed", "cut", "hang", "delay"]
Route = Literal["chat", "models"]


# --------------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted assistant turn.

    Attributes:
        content: The assistant text. ``None`` means ``""``, or the server's
            ``tool_call_content`` (default ``"\\n"``, an Arcee quirk) on a tool-call turn.
        reasoning: The thinking text, sent as the server's reasoning field; omitted when
            ``None`` or when the server's ``reasoning_field`` is ``None``.
        tool_calls: Calls to emit, each ``{"name": str, "arguments": dict | str}`` with an
            optional ``"id"``; ids default to a hash of the request body and the call's index.
        finish_reason: Defaults to ``"tool_calls"`` with tool calls, else ``"stop"``.
        usage: Overrides the computed ``usage`` object entirely.
    """

    content: str | None = None
    reasoning: str | None = None
    tool_calls: Sequence[Mapping[str, Any]] = ()
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Fault:
    """A misbehaviour to inject instead of (or before) a normal answer.

    Attributes:
        kind: ``"status"`` (an error response), ``"malformed"`` (a 200 whose body is not valid
            JSON / SSE), ``"cut"`` (close the connection after ``after_chunks`` SSE chunks, or
            half-way through a non-streamed body), ``"hang"`` (send nothing for ``seconds``,
            then close) or ``"delay"`` (wait ``seconds``, then answer normally).
        status: HTTP status of a ``"status"`` fault.
        message: Error message; a default per status is used when empty.
        style: ``"detail"`` for ``{"detail": msg}`` (FastAPI, Arcee's usual shape) or
            ``"openai"`` for ``{"error": {"message", "type", "code"}}``.
        error_type: ``error.type`` in the OpenAI style.
        code: ``error.code`` in the OpenAI style.
        body: An exact JSON body to send instead of the styled one.
        retry_after: Value of a ``Retry-After`` header (seconds; floats are honoured by openai).
        headers: Extra response headers (e.g. ``{"x-should-retry": "false"}``).
        after_chunks: For ``"cut"``: how many SSE chunks to send before closing.
        seconds: For ``"hang"`` and ``"delay"``.
    """

    kind: FaultKind = "status"
    status: int = 500
    message: str = ""
    style: Literal["detail", "openai"] = "detail"
    error_type: str | None = None
    code: str | int | None = None
    body: Any = None
    retry_after: float | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    after_chunks: int = 1
    seconds: float = 10.0


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it.

    Attributes:
        method: ``"GET"`` or ``"POST"``.
        path: The request path, query string included.
        headers: Header names lower-cased (last value wins).
        body: The parsed JSON body; ``None`` when empty or not valid JSON.
        route: ``"chat"``, ``"models"`` or ``"other"``.
        peer_port: The client's port (equal across requests of one kept-alive connection).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    route: str
    peer_port: int = 0


@dataclass(frozen=True)
class ServerOptions:
    """Behaviour switches; change them with :meth:`ArceeTestServer.set_option`.

    Attributes:
        models: The catalogue: rows with ``id``, ``context_length`` and ``reasoning`` (whether
            the echo policy thinks on that model). Extra keys are served as-is.
        accept_any_model: Accept model ids outside the catalogue instead of answering 404.
        reasoning_field: ``"reasoning_content"`` (hosted Arcee), ``"reasoning"`` (vLLM) or
            ``None`` (never send reasoning).
        tool_call_content: ``content`` of tool-call turns when the reply sets none.
        stream_usage: Send the usage chunk when the request asks for it with
            ``stream_options.include_usage`` (Arcee does not document it).
        reasoning_tokens: Add ``completion_tokens_details.reasoning_tokens`` to usage.
        strict_reasoning: Reject (400) a request in which an assistant message this server
            produced with reasoning comes back without it (or with different text).
        require_auth: Demand ``Authorization: Bearer <non-empty>`` (401 otherwise).
        keyword_tools: The echo policy calls the first offered tool when the last user message
            mentions "weather".
        delay: Seconds to wait before every answer.
        chunk_delay: Seconds to wait between SSE chunks.
        record_requests: Keep every request in :attr:`ArceeTestServer.requests`.
        context_lengths: Per-model context windows (model id -> tokens) overriding the
            catalogue's ``context_length``. A request whose prompt (counted by
            :func:`count_prompt_tokens`) plus ``max_tokens`` does not fit its model's window is
            rejected as vLLM does: HTTP 400 with vLLM's "maximum context length" wording.
    """

    models: tuple[Mapping[str, Any], ...] = DEFAULT_MODELS
    accept_any_model: bool = False
    reasoning_field: ReasoningField | None = "reasoning_content"
    tool_call_content: str = "\n"
    stream_usage: bool = True
    reasoning_tokens: bool = True
    strict_reasoning: bool = False
    require_auth: bool = True
    keyword_tools: bool = True
    delay: float = 0.0
    chunk_delay: float = 0.0
    record_requests: bool = True
    context_lengths: Mapping[str, int] = field(default_factory=dict)


Responder = Callable[[dict[str, Any]], "Reply | None"]
"""A callable scripting replies from the parsed request body; ``None`` falls back to echo."""


# --------------------------------------------------------------------------------------------
# Validation (one pass over the messages)
# --------------------------------------------------------------------------------------------


class HTTPError(Exception):
    """An error answer: ``status`` with body ``{"detail": detail}`` (or ``body`` when given)."""

    def __init__(self, status: int, detail: str, body: Any = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.body = body if body is not None else {"detail": detail}


def _check_auth(headers: Mapping[str, str]) -> None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPError(401, "Not authenticated: send 'Authorization: Bearer <api key>'")


def _is_content(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(p, dict) for p in value)
    )


def _call_ids(message: Mapping[str, Any], index: int) -> list[str]:
    """Validate an assistant message's ``tool_calls`` and return their ids."""
    calls = message.get("tool_calls")
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise HTTPError(422, f"messages[{index}].tool_calls must be a list")
    ids = []
    for j, call in enumerate(calls):
        where = f"messages[{index}].tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(call.get("id"), str):
            raise HTTPError(422, f"{where} needs an 'id' and a 'function' object")
        if not isinstance(fn.get("name"), str) or not isinstance(fn.get("arguments"), str):
            raise HTTPError(422, f"{where}.function needs string 'name' and 'arguments'")
        ids.append(call["id"])
    return ids


def validate_messages(messages: Any) -> None:
    """Check a ``messages`` array the way Arcee does.

    Args:
        messages: The request's ``messages`` value.

    Raises:
        HTTPError: 422 for shape errors (missing or empty array, unknown role, non-string
            assistant content); 400 for tool results that answer no pending call, or calls
            left without results.
    """
    if not isinstance(messages, list):
        raise HTTPError(422, "messages: field required (a list of message objects)")
    if not messages:
        raise HTTPError(422, "messages: must contain at least one message")
    pending: dict[str, None] = {}  # ids of the last tool-call turn not yet answered
    owner = -1  # index of that assistant message
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise HTTPError(422, f"messages[{i}] must be an object")
        role = message.get("role")
        if role not in ROLES:
            raise HTTPError(
                422, f"messages[{i}].role: {role!r} is not one of system, user, assistant, tool"
            )
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                raise HTTPError(
                    400,
                    f"messages[{i}]: tool message's tool_call_id {call_id!r} does not match "
                    "a tool call of the preceding assistant message",
                )
            del pending[call_id]
            if not _is_content(message.get("content")):
                raise HTTPError(422, f"messages[{i}].content must be a string")
            continue
        if pending:
            raise HTTPError(
                400,
                f"messages[{owner}]: assistant message with tool_calls must be followed by "
                f"tool messages answering each call; missing {sorted(pending)}",
            )
        if role == "assistant":
            if not isinstance(message.get("content"), str):
                raise HTTPError(
                    422,
                    f"messages[{i}].content: assistant content must be a string "
                    f'(use "" on tool-call turns), got {type(message.get("content")).__name__}',
                )
            pending = dict.fromkeys(_call_ids(message, i))
            owner = i
        elif not _is_content(message.get("content")):
            raise HTTPError(422, f"messages[{i}].content must be a string or a list of parts")
    if pending:
        raise HTTPError(
            400,
            f"messages[{owner}]: assistant message with tool_calls must be followed by tool "
            f"messages answering each call; missing {sorted(pending)}",
        )


def _validate_tools(body: Mapping[str, Any]) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list) or not all(
        isinstance(t, dict) and isinstance(t.get("function"), dict) and t["function"].get("name")
        for t in tools
    ):
        raise HTTPError(422, "tools: each tool must be {'type': 'function', 'function': {...}}")


def _validate_response_format(body: Mapping[str, Any]) -> None:
    fmt = body.get("response_format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise HTTPError(422, "response_format.type must be 'text' or 'json_object'")


# --------------------------------------------------------------------------------------------
# Reply generation (echo policy)
# --------------------------------------------------------------------------------------------


def text_of(content: Any) -> str:
    """Return the text of a message ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


_LOCATION = re.compile(r"\b(?:in|for|at)\s+([A-Za-z][\w .'-]*?)\s*(?:[?!.,;]|$)")


def _plausible_value(name: str, schema: Mapping[str, Any], text: str) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    if any(k in name.lower() for k in ("location", "city", "place", "where")):
        match = _LOCATION.search(text)
        return match.group(1).strip() if match else "Paris"
    if "unit" in name.lower():
        return "celsius"
    return text or "example"


def plausible_arguments(tool: Mapping[str, Any], text: str) -> dict[str, Any]:
    """Build arguments for ``tool`` from its JSON schema (all required, else all, properties).

    Args:
        tool: An OpenAI tool definition (``{"type": "function", "function": {...}}``).
        text: The user's request, mined for a location.

    Returns:
        The arguments object.
    """
    params = tool.get("function", {}).get("parameters") or {}
    props: Mapping[str, Any] = params.get("properties") or {}
    names = params.get("required") or list(props)
    return {n: _plausible_value(n, props.get(n, {}), text) for n in names}


def _chosen_tool(body: Mapping[str, Any], text: str, keyword_tools: bool) -> Mapping[str, Any]:
    """Return the tool the echo policy calls, or ``{}`` for none."""
    tools: list[dict[str, Any]] = body.get("tools") or []
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return {}
    if isinstance(choice, dict):
        wanted = choice.get("function", {}).get("name")
        return next((t for t in tools if t["function"]["name"] == wanted), tools[0])
    if choice == "required" or (keyword_tools and "weather" in text.lower()):
        return tools[0]
    return {}


def _tool_results(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Return ``(tool name, result)`` for the trailing tool messages."""
    names: dict[str, str] = {}
    results: list[tuple[str, str]] = []
    start = len(messages)
    while start > 0 and messages[start - 1].get("role") == "tool":
        start -= 1
    if start > 0:
        for call in messages[start - 1].get("tool_calls") or []:
            names[call["id"]] = call["function"]["name"]
    for message in messages[start:]:
        name = names.get(message.get("tool_call_id", ""), "tool")
        results.append((name, text_of(message.get("content"))))
    return results


def echo_reply(body: Mapping[str, Any], thinks: bool, keyword_tools: bool) -> Reply:
    """The default policy: echo the last user text, call tools on "weather", use tool results.

    Args:
        body: The parsed, validated request body.
        thinks: Whether to produce reasoning (the model is a thinking model).
        keyword_tools: Whether the "weather" keyword triggers a tool call.

    Returns:
        The reply to send.
    """
    messages = body["messages"]
    text = _last_user_text(messages)
    count = len(messages)
    if messages[-1].get("role") == "tool":
        results = _tool_results(messages)
        said = "; ".join(f"{name} returned {result}" for name, result in results)
        return Reply(
            content=f"Based on the tool result: {said} (history: {count} messages)",
            reasoning=f"The tool answered: {said}. Now I can answer." if thinks else None,
        )
    tool = _chosen_tool(body, text, keyword_tools) if messages[-1].get("role") == "user" else {}
    if tool:
        name = tool["function"]["name"]
        return Reply(
            reasoning=f"The user asked: {text}. I should call {name}." if thinks else None,
            tool_calls=[{"name": name, "arguments": plausible_arguments(tool, text)}],
        )
    reasoning = f"The user asked: {text}. Thinking about it." if thinks else None
    if (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
        content = json.dumps({"answer": f"You said: {text}", "history": count})
    else:
        content = f"You said: {text} (history: {count} messages)"
    return Reply(content=content, reasoning=reasoning)


# --------------------------------------------------------------------------------------------
# Response building
# --------------------------------------------------------------------------------------------


def _tokens(chars: int) -> int:
    return max(1, (chars + 3) // 4)


# A tokenizer stand-in (a real BPE vocabulary would be a multi-megabyte dependency): each CJK
# character, digit group, punctuation mark and whitespace run is one token, a run of letters
# one token per six letters, and a single space between words is free (BPE merges it into the
# next word). That gives ~4 characters per token on English prose, ~1 per CJK character and
# ~2 on code and JSON, as real tokenizers roughly do.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_TOKEN_PIECES = re.compile(
    rf"(?P<cjk>[{_CJK}])|(?P<word>[^\W\d_{_CJK}]+)|\d{{1,3}}|(?P<space> (?=\S))|\s+|\S"
)
MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens a chat template adds per message (role markers)."""
PROMPT_OVERHEAD_TOKENS = 3
"""Tokens a chat template adds once per prompt (the assistant's start marker)."""


@functools.lru_cache(maxsize=200_000)
def count_tokens(text: str) -> int:
    """Count ``text``'s tokens the way a real tokenizer roughly does (see ``_TOKEN_PIECES``).

    Cached by text: conversations resend the same messages every turn, and the server's own
    speed must not weigh on the client benchmarks that run against it.
    """
    total = 0
    for match in _TOKEN_PIECES.finditer(text):
        kind = match.lastgroup
        if kind == "word":
            total += (len(match.group()) + 5) // 6
        elif kind != "space":
            total += 1
    return total


def count_prompt_tokens(body: Mapping[str, Any]) -> int:
    """The prompt tokens of a chat request: every message's texts, tool calls and tool schemas.

    Args:
        body: The parsed, validated request body.

    Returns:
        What the server reports as ``usage.prompt_tokens`` and checks against the window.
    """
    texts: list[str] = []
    messages = body["messages"]
    for message in messages:
        texts.append(text_of(message.get("content")))
        for key in ("reasoning_content", "reasoning", "name", "tool_call_id"):
            value = message.get(key)
            if isinstance(value, str):
                texts.append(value)
        for call in message.get("tool_calls") or []:
            texts.append(call["function"]["name"])
            texts.append(call["function"]["arguments"])
    if body.get("tools"):
        texts.append(json.dumps(body["tools"]))
    overhead = MESSAGE_OVERHEAD_TOKENS * len(messages) + PROMPT_OVERHEAD_TOKENS
    return overhead + sum(count_tokens(text) for text in texts)


def context_overflow_message(
    context_length: int, prompt_tokens: int, max_tokens: int | None
) -> str:
    """vLLM's error text for a request that does not fit the window (vLLM 0.11+ wording)."""
    head = f"This model's maximum context length is {context_length} tokens."
    if max_tokens is None:
        return (
            f"{head} However, your request has {prompt_tokens} input tokens. "
            "Please reduce the length of the input messages."
        )
    return (
        f"{head} However, you requested {max_tokens} output tokens and your prompt contains at "
        f"least {prompt_tokens} input tokens, for a total of at least "
        f"{prompt_tokens + max_tokens} tokens. Please reduce the length of the input prompt or "
        f"the number of requested output tokens. (parameter=input_tokens, value={prompt_tokens})"
    )


def check_context_length(body: Mapping[str, Any], context_length: int, prompt_tokens: int) -> None:
    """Reject a request that does not fit ``context_length`` as vLLM does.

    Raises:
        HTTPError: 400 with vLLM's OpenAI-style body (``type`` ``BadRequestError``).
    """
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    limit = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None
    if prompt_tokens + (limit or 0) <= context_length and prompt_tokens < context_length:
        return
    message = context_overflow_message(context_length, prompt_tokens, limit)
    error = {"message": message, "type": "BadRequestError", "param": "input_tokens", "code": 400}
    raise HTTPError(400, message, {"error": error})


@dataclass(frozen=True)
class _Turn:
    """A reply resolved against one request: ids, texts and usage, ready to serialize."""

    completion_id: str
    model: str
    content: str
    reasoning: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    usage: dict[str, Any]


def _resolve_turn(
    reply: Reply, body: Mapping[str, Any], digest: str, options: ServerOptions, prompt: int
) -> _Turn:
    calls: list[dict[str, Any]] = []
    for index, call in enumerate(reply.tool_calls):
        args = call.get("arguments", {})
        call_id = (
            call.get("id")
            or "call_" + hashlib.sha256(f"{digest}:{index}".encode()).hexdigest()[:24]
        )
        calls.append(
            {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
        )
    content = reply.content
    if content is None:
        content = options.tool_call_content if calls else ""
    reasoning = reply.reasoning if options.reasoning_field else None
    usage = dict(reply.usage) if reply.usage is not None else None
    if usage is None:
        reasoning_tokens = _tokens(len(reasoning)) if reasoning else 0
        out_chars = len(content) + sum(len(c["function"]["arguments"]) for c in calls)
        completion = _tokens(out_chars) + reasoning_tokens
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if options.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return _Turn(
        completion_id="chatcmpl-" + digest[:24],
        model=body["model"],
        content=content,
        reasoning=reasoning,
        tool_calls=calls,
        finish_reason=reply.finish_reason or ("tool_calls" if calls else "stop"),
        usage=usage,
    )


class _Prepared(NamedTuple):
    turn: _Turn
    stream: bool
    include_usage: bool


def completion_json(turn: _Turn, reasoning_field: str | None) -> dict[str, Any]:
    """Build a ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.reasoning is not None and reasoning_field:
        message[reasoning_field] = turn.reasoning
    if turn.tool_calls:
        message["tool_calls"] = turn.tool_calls
    return {
        "id": turn.completion_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": turn.model,
        "choices": [{"index": 0, "message": message, "finish_reason": turn.finish_reason}],
        "usage": turn.usage,
    }


def _pieces(text: str) -> list[str]:
    """Split ``text`` into word-sized stream pieces (concatenating them restores it)."""
    return re.findall(r"\s*\S+\s*|\s+", text) if text else []


def stream_chunks(
    turn: _Turn, reasoning_field: str | None, include_usage: bool
) -> Iterator[dict[str, Any]]:
    """Yield the ``chat.completion.chunk`` objects of a streamed turn, in wire order."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": turn.completion_id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": turn.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    if turn.reasoning and reasoning_field:
        for piece in _pieces(turn.reasoning):
            yield chunk({reasoning_field: piece})
    for piece in _pieces(turn.content):
        yield chunk({"content": piece})
    for index, call in enumerate(turn.tool_calls):
        fn = call["function"]
        head = {"name": fn["name"], "arguments": ""}
        yield chunk(
            {
                "tool_calls": [
                    {"index": index, "id": call["id"], "type": "function", "function": head}
                ]
            }
        )
        for piece in _pieces(fn["arguments"]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, turn.finish_reason)
    if include_usage:
        usage_chunk = chunk({})
        usage_chunk["choices"] = []
        usage_chunk["usage"] = turn.usage
        yield usage_chunk


def _strict_key(message: Mapping[str, Any]) -> str:
    """Identify an assistant message across requests (tool-call ids, else content)."""
    calls = message.get("tool_calls")
    if calls:
        return "calls:" + ",".join(str(c.get("id")) for c in calls)
    return "content:" + text_of(message.get("content"))


def _turn_key(turn: _Turn) -> str:
    if turn.tool_calls:
        return "calls:" + ",".join(c["id"] for c in turn.tool_calls)
    return "content:" + turn.content


def error_body(fault: Fault) -> Any:
    """The JSON body of a ``"status"`` fault."""
    if fault.body is not None:
        return fault.body
    message = fault.message or f"Simulated error {fault.status}"
    if fault.style == "openai":
        return {
            "error": {
                "message": message,
                "type": fault.error_type or "api_error",
                "code": fault.code if fault.code is not None else fault.status,
            }
        }
    return {"detail": message}


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


@dataclass
class _FaultSlot:
    fault: Fault
    remaining: int | None  # None: every request until cleared
    route: str | None


class ArceeTestServer:
    """An Arcee-compatible HTTP server on 127.0.0.1, running in a daemon thread.

    Args:
        host: Interface to bind.
        port: Port to bind; ``0`` picks a free one.
        prefix: Path prefix of the API routes.
        responder: Optional ``responder(body) -> Reply | None`` consulted after the queue.
        **options: Any :class:`ServerOptions` field.

    Replies are chosen in order from: the :meth:`enqueue` queue, the responder, the echo policy.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "/api/v1",
        *,
        responder: Responder | None = None,
        **options: Any,
    ) -> None:
        self.host = host
        self.prefix = prefix.rstrip("/")
        self._requested_port = port
        self._initial_options = ServerOptions(**options)
        self._initial_responder = responder
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._options: ServerOptions
        self._responder: Responder | None
        self._queue: deque[Reply]
        self._faults: list[_FaultSlot]
        self._requests: list[RecordedRequest]
        self._counts: dict[str, int]
        self._produced: dict[str, str]
        self._reset_state()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ArceeTestServer:
        """Bind and start serving in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            return self
        httpd = self._bind()
        self._thread = threading.Thread(
            target=self._serve, args=(httpd,), name=f"arcee-test-server:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving at once, end hanging handlers and close every open connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_signal.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_sockets(httpd)

    close = stop

    def serve_forever(self, on_ready: Callable[[str], object] | None = None) -> None:
        """Serve in the calling thread until interrupted (used by ``python -m``).

        Args:
            on_ready: Called with :attr:`base_url` once the port is bound.
        """
        httpd = self._bind()
        if on_ready is not None:
            on_ready(self.base_url)
        try:
            self._serve(httpd)
        except KeyboardInterrupt:
            pass
        finally:
            self._httpd = None
            self._stopping.set()
            self._close_sockets(httpd)

    def _bind(self) -> _HTTPServer:
        self._stopping.clear()
        self._waker, self._wake_signal = socket.socketpair()
        self._httpd = _HTTPServer((self.host, self._requested_port), _Handler, self)
        return self._httpd

    def _serve(self, httpd: _HTTPServer) -> None:
        """Accept connections until :meth:`stop` (whose wake-up byte makes it immediate)."""
        with selectors.DefaultSelector() as selector:
            selector.register(httpd, selectors.EVENT_READ)
            selector.register(self._waker, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is httpd and not self._stopping.is_set():
                        httpd.handle_request()  # ready: accepts without waiting

    def _close_sockets(self, httpd: _HTTPServer) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        self._waker.close()
        self._wake_signal.close()

    def __enter__(self) -> ArceeTestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:8123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """API base URL to hand to a client, e.g. ``http://127.0.0.1:8123/api/v1``."""
        return self.url + self.prefix

    # -- scripting ---------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies, consumed one per chat request in order."""
        with self._lock:
            self._queue.extend(replies)

    def set_responder(self, responder: Responder | None) -> None:
        """Set (or clear) the callable consulted when the queue is empty."""
        with self._lock:
            self._responder = responder

    def set_option(self, **changes: Any) -> None:
        """Change :class:`ServerOptions` fields, e.g. ``set_option(reasoning_field=None)``."""
        with self._lock:
            self._options = dataclasses.replace(self._options, **changes)

    @property
    def options(self) -> ServerOptions:
        """The current options."""
        return self._options

    def inject(self, fault: Fault, times: int | None = 1, route: str | None = "chat") -> None:
        """Apply ``fault`` to the next ``times`` requests on ``route``.

        Args:
            fault: What to do.
            times: How many requests; ``None`` means every request until :meth:`clear_faults`.
            route: ``"chat"``, ``"models"`` or ``None`` for any route.
        """
        with self._lock:
            self._faults.append(_FaultSlot(fault, times, route))

    def fail_next(
        self,
        status: int = 500,
        message: str = "",
        *,
        times: int | None = 1,
        retry_after: float | str | None = None,
        style: Literal["detail", "openai"] = "detail",
        body: Any = None,
        route: str | None = "chat",
        **fault: Any,
    ) -> None:
        """Answer the next ``times`` requests with an error status.

        Args:
            status: 400, 401, 402, 403, 404, 422, 429, 500, 503...
            message: The error message (a default per status when empty).
            times: How many requests; ``None`` for all until :meth:`clear_faults`.
            retry_after: ``Retry-After`` header value in seconds.
            style: ``"detail"`` or ``"openai"`` body shape.
            body: An exact JSON body instead.
            route: ``"chat"``, ``"models"`` or ``None``.
            **fault: Other :class:`Fault` fields (``error_type``, ``code``, ``headers``).
        """
        if status not in ERROR_STATUSES:
            raise ValueError(f"unsupported error status {status}")
        spec = Fault(
            status=status, message=message, retry_after=retry_after, style=style, body=body, **fault
        )
        self.inject(spec, times, route)

    def cut_stream_next(self, after_chunks: int = 1, times: int | None = 1) -> None:
        """Close the connection after ``after_chunks`` chunks, without ``[DONE]``."""
        self.inject(Fault(kind="cut", after_chunks=after_chunks), times)

    def hang_next(self, seconds: float = 10.0, times: int | None = 1) -> None:
        """Send nothing for ``seconds`` (until :meth:`stop` at most), then close."""
        self.inject(Fault(kind="hang", seconds=seconds), times)

    def delay_next(self, seconds: float, times: int | None = 1) -> None:
        """Wait ``seconds`` before answering the next requests normally."""
        self.inject(Fault(kind="delay", seconds=seconds), times)

    def malformed_next(self, times: int | None = 1) -> None:
        """Answer 200 with a body that is not valid JSON (or SSE data)."""
        self.inject(Fault(kind="malformed"), times)

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Back to the constructor's state: no requests, counts, queue, faults or memory."""
        with self._lock:
            self._reset_state()

    def _reset_state(self) -> None:
        self._options = self._initial_options
        self._responder = self._initial_responder
        self._queue = deque()
        self._faults = []
        self._requests = []
        self._counts = {}
        self._produced = {}

    # -- inspection --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST /chat/completions`` requests."""
        return [r for r in self.requests if r.route == "chat"]

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request (raises ``IndexError`` when none)."""
        with self._lock:
            return self._requests[-1]

    def count(self, route: str | None = None) -> int:
        """Requests received on ``route`` (``"chat"``, ``"models"``, ``"other"``), or in total."""
        with self._lock:
            if route is None:
                return sum(self._counts.values())
            return self._counts.get(route, 0)

    def stats(self) -> dict[str, Any]:
        """Counts per route and scripting state, as served by ``GET /_test/stats``."""
        with self._lock:
            return {
                "counts": dict(self._counts),
                "queued_replies": len(self._queue),
                "pending_faults": len(self._faults),
            }

    # -- request processing (called from handler threads) ------------------------------------

    def _record(self, request: RecordedRequest, options: ServerOptions) -> None:
        with self._lock:
            self._counts[request.route] = self._counts.get(request.route, 0) + 1
            if options.record_requests:
                self._requests.append(request)

    def _take_fault(self, route: str) -> Fault | None:
        with self._lock:
            for slot in self._faults:
                if slot.route in (None, route):
                    if slot.remaining is not None:
                        slot.remaining -= 1
                        if slot.remaining <= 0:
                            self._faults.remove(slot)
                    return slot.fault
        return None

    def _model_row(self, model_id: str, options: ServerOptions) -> Mapping[str, Any] | None:
        return next((row for row in options.models if row["id"] == model_id), None)

    def _check_strict_reasoning(self, messages: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            produced = self._produced
            for i, message in enumerate(messages):
                if message.get("role") != "assistant":
                    continue
                expected = produced.get(_strict_key(message))
                if expected is None:
                    continue
                sent = message.get("reasoning_content") or message.get("reasoning")
                if not sent:
                    raise HTTPError(
                        400,
                        f"messages[{i}]: assistant message was produced with reasoning but came "
                        "back without 'reasoning_content' (or 'reasoning'); Arcee requires the "
                        "reasoning of earlier turns to be sent back",
                    )
                if str(sent).strip() != expected.strip():
                    raise HTTPError(
                        400,
                        f"messages[{i}]: reasoning sent back differs from the reasoning this "
                        "server produced for that message",
                    )

    def prepare_chat(self, body: Any, raw: bytes, options: ServerOptions) -> _Prepared:
        """Validate a chat request and produce its turn.

        Args:
            body: The parsed JSON body.
            raw: The raw body bytes (hashed for deterministic ids).
            options: The options snapshot for this request.

        Returns:
            The turn, whether to stream it and whether to send the usage chunk.

        Raises:
            HTTPError: When the request is invalid.
        """
        if not isinstance(body, dict):
            raise HTTPError(422, "body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise HTTPError(422, "model: field required")
        row = self._model_row(model, options)
        if row is None and not options.accept_any_model:
            raise HTTPError(404, f"Model '{model}' not found")
        validate_messages(body.get("messages"))
        _validate_tools(body)
        _validate_response_format(body)
        if not isinstance(body.get("stream", False), bool):
            raise HTTPError(422, "stream must be a boolean")
        if options.strict_reasoning:
            self._check_strict_reasoning(body["messages"])
        prompt_tokens = count_prompt_tokens(body)
        window = options.context_lengths.get(model) or (row or {}).get("context_length")
        if isinstance(window, int) and window > 0:
            check_context_length(body, window, prompt_tokens)
        reply = self._next_reply(body, bool(row.get("reasoning", True)) if row else True, options)
        digest = hashlib.sha256(raw).hexdigest()
        turn = _resolve_turn(reply, body, digest, options, prompt_tokens)
        if turn.reasoning:  # remembered even when strict mode is enabled later
            with self._lock:
                self._produced[_turn_key(turn)] = turn.reasoning
        stream_options = body.get("stream_options") or {}
        include_usage = bool(stream_options.get("include_usage")) and options.stream_usage
        return _Prepared(turn, bool(body.get("stream")), include_usage)

    def _next_reply(self, body: dict[str, Any], thinks: bool, options: ServerOptions) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            responder = self._responder
        if responder is not None:
            reply = responder(body)
            if reply is not None:
                return reply
        return echo_reply(body, thinks, options.keyword_tools)

    def models_json(self, options: ServerOptions) -> dict[str, Any]:
        """The ``GET /models`` answer."""
        rows = [
            {
                "id": row["id"],
                "object": "model",
                "created": CREATED,
                "owned_by": row["id"].split("/")[0] if "/" in row["id"] else "arcee-ai",
                **{k: v for k, v in row.items() if k != "id"},
            }
            for row in options.models
        ]
        return {"object": "list", "data": rows}

    def control(self, action: str, body: Any) -> Any:
        """Serve a ``/_test/<action>`` control request (for out-of-process servers)."""
        body = dict(body) if isinstance(body, dict) else {}
        try:
            return self._control(action, body)
        except (TypeError, ValueError) as err:
            raise HTTPError(422, f"bad control payload: {err}") from err

    def _control(self, action: str, body: dict[str, Any]) -> Any:
        if action == "stats":
            return self.stats()
        if action == "reset":
            self.reset()
        elif action == "enqueue":
            self.enqueue(*(Reply(**r) for r in body.get("replies", [body])))
        elif action == "fault":
            times = body.pop("times", 1)
            route = body.pop("route", "chat")
            self.inject(Fault(**body), times, route)
        elif action == "options":
            self.set_option(**{k: tuple(v) if k == "models" else v for k, v in body.items()})
        else:
            raise HTTPError(404, f"unknown control action {action!r}")
        return {"ok": True}


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # load tests open many connections at once (default backlog: 5)

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], app: ArceeTestServer
    ) -> None:
        self.app = app
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away; report anything else."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, OSError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes: ``POST {prefix}/chat/completions``, ``GET {prefix}/models``, ``/_test/<action>``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Disable per-request logging."""

    def setup(self) -> None:
        """Track the connection so :meth:`ArceeTestServer.stop` can close it."""
        super().setup()
        with self.server.app._lock:
            self.server.app._connections.add(self.connection)

    def finish(self) -> None:
        """Untrack the connection."""
        with self.server.app._lock:
            self.server.app._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    # -- entry points ------------------------------------------------------------------------

    def do_GET(self) -> None:
        """Dispatch a GET."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Dispatch a POST."""
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        app = self.server.app
        options = app.options
        self._cut: int | None = None
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
            bad_json = False
        except ValueError:
            body, bad_json = None, True
        path = self.path.split("?", 1)[0]
        route = self._route(path, app.prefix)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            if path.startswith("/_test/"):
                self._send_json(200, app.control(path[len("/_test/") :], body))
                return
            app._record(
                RecordedRequest(method, self.path, headers, body, route, self.client_address[1]),
                options,
            )
            expected = {"chat": "POST", "models": "GET"}.get(route)
            if expected is None:
                raise HTTPError(404, "Not Found")
            if method != expected:
                raise HTTPError(405, "Method Not Allowed")
            fault = app._take_fault(route)
            if fault is not None and self._apply_fault(fault, route, options):
                return
            if options.delay:
                app._stopping.wait(options.delay)
            if options.require_auth:
                _check_auth(headers)
            if route == "models":
                self._send_json(200, app.models_json(options))
                return
            if bad_json:
                raise HTTPError(422, "JSON decode error: request body is not valid JSON")
            prepared = app.prepare_chat(body, raw, options)
            if prepared.stream:
                self._send_stream(prepared.turn, options, prepared.include_usage)
            else:
                self._send_json(200, completion_json(prepared.turn, options.reasoning_field))
        except HTTPError as err:
            self._send_json(err.status, err.body)
        except OSError:
            self.close_connection = True
        except Exception as err:  # a broken responder: report it instead of hanging up
            self._send_json(500, {"detail": f"arcee test server error: {err!r}"})

    @staticmethod
    def _route(path: str, prefix: str) -> str:
        if path == f"{prefix}/chat/completions":
            return "chat"
        if path == f"{prefix}/models":
            return "models"
        return "other"

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    # -- faults ------------------------------------------------------------------------------

    def _apply_fault(self, fault: Fault, route: str, options: ServerOptions) -> bool:
        """Act out ``fault``; return ``True`` when the request is fully handled."""
        stopping = self.server.app._stopping
        if fault.kind == "delay":
            stopping.wait(fault.seconds)
            return False
        if fault.kind == "hang":
            stopping.wait(fault.seconds)
            self._drop()
            return True
        if fault.kind == "status":
            headers = dict(fault.headers)
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            self._send_json(fault.status, error_body(fault), headers)
            return True
        if fault.kind == "malformed":
            self._send_bytes(
                200, b'{"id": "chatcmpl-broken", "choices": [{"mess', "application/json"
            )
            return True
        self._cut = fault.after_chunks  # "cut" is acted out while sending
        return False

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- responses ---------------------------------------------------------------------------

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
        self._send_bytes(status, body, "application/json", headers)

    def _send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        cut = self._pending_cut()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self._drop()
        else:
            self.wfile.write(body)

    def _pending_cut(self) -> int | None:
        """The ``after_chunks`` of a cut fault taken for this request, if any."""
        cut: int | None = getattr(self, "_cut", None)
        self._cut = None
        return cut

    def _send_stream(self, turn: _Turn, options: ServerOptions, include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        cut = self._pending_cut()
        events = (
            b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n"
            for c in stream_chunks(turn, options.reasoning_field, include_usage)
        )
        for sent, event in enumerate(itertools.chain(events, [b"data: [DONE]\n\n"])):
            if cut is not None and sent >= cut:
                self._drop()
                return
            if sent and options.chunk_delay:
                self.server.app._stopping.wait(options.chunk_delay)
            self._write_chunk(event)
        self._write_chunk(b"")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Run the server in the foreground: ``python -m tests.arcee_server --port 0 --print-url``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--prefix", default="/api/v1")
    parser.add_argument("--print-url", action="store_true", help="print the base URL first")
    parser.add_argument(
        "--reasoning-field", choices=["reasoning_content", "reasoning", "none"], default=None
    )
    parser.add_argument("--no-stream-usage", action="store_true")
    parser.add_argument("--strict-reasoning", action="store_true")
    parser.add_argument("--accept-any-model", action="store_true")
    parser.add_argument("--no-record", action="store_true", help="do not keep request bodies")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument(
        "--context-length",
        action="append",
        default=[],
        metavar="MODEL=TOKENS",
        help="reject requests over this model's window as vLLM does (repeatable)",
    )
    args = parser.parse_args(argv)
    options: dict[str, Any] = {
        "stream_usage": not args.no_stream_usage,
        "strict_reasoning": args.strict_reasoning,
        "accept_any_model": args.accept_any_model,
        "record_requests": not args.no_record,
        "delay": args.delay,
        "context_lengths": {
            model: int(tokens)
            for model, _, tokens in (item.rpartition("=") for item in args.context_length)
        },
    }
    if args.reasoning_field:
        options["reasoning_field"] = (
            None if args.reasoning_field == "none" else args.reasoning_field
        )
    server = ArceeTestServer(args.host, args.port, args.prefix, **options)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever(on_ready=lambda url: print(url, flush=True) if args.print_url else None)


if __name__ == "__main__":
    main()
