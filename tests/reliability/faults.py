"""The catalogue of API faults: how to inject each one, and what the caller must see.

Shared by ``test_api_faults.py`` and ``benchmarks/reliability_report.py``. Every fault is played
by the loopback Arcee server through the real openai client over real HTTP; the model under
test is built with ``max_retries=1``, so a retryable fault costs exactly two requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai

from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import ChatStore
from tests.arcee_server import ArceeTestServer
from tests.reliability.support import (
    KEY,
    check_echo_conversation,
    free_port,
    run_turn,
    snapshot,
    unique,
    user_texts,
)

RETRIES = 1
"""``max_retries`` of the model under test."""


@dataclass(frozen=True)
class ApiFault:
    """One way the API can fail.

    Attributes:
        name: Test id.
        inject: Arms the fault on the server (for every request until cleared).
        error: The exception type the caller must get.
        message: Text the exception's message must contain (Arcee's message), if any.
        requests: Chat requests the failed turn makes (``1 + RETRIES`` when retried).
        streamed_requests: The same for a streamed turn, where it differs (a reply cut after
            the response started streaming is not retried; a cut non-streamed body is).
        model: Overrides of the model's constructor arguments.
        transient: The fault may clear up after one request (a retry then succeeds).
    """

    name: str
    inject: Callable[[ArceeTestServer], None]
    error: type[BaseException]
    message: str | None
    requests: int
    streamed_requests: int | None = None
    model: Callable[[ArceeTestServer], dict[str, Any]] = field(default=lambda _: {})
    transient: Callable[[ArceeTestServer], None] | None = None


def _status(
    status: int, message: str, *, style: str = "detail", retry_after: float | None = None
) -> Callable[[ArceeTestServer], None]:
    def inject(server: ArceeTestServer) -> None:
        server.fail_next(
            status,
            message,
            times=None,
            style=style,  # type: ignore[arg-type]
            retry_after=retry_after,
        )

    return inject


def _once(status: int, retry_after: float | None) -> Callable[[ArceeTestServer], None]:
    def inject(server: ArceeTestServer) -> None:
        server.fail_next(status, "try again", times=1, retry_after=retry_after)

    return inject


def _closed_port(_server: ArceeTestServer) -> dict[str, Any]:
    return {"base_url": f"http://127.0.0.1:{free_port()}/api/v1"}


RETRIED = 1 + RETRIES

API_FAULTS: tuple[ApiFault, ...] = (
    ApiFault(
        "401-detail",
        _status(401, "Invalid API key provided"),
        openai.AuthenticationError,
        "Arcee API error 401: Invalid API key provided",
        1,
    ),
    ApiFault(
        "401-openai",
        _status(401, "Invalid API key provided", style="openai"),
        openai.AuthenticationError,
        "Arcee API error 401: Invalid API key provided",
        1,
    ),
    ApiFault(
        "402-detail",
        _status(402, "Insufficient balance: add credits"),
        openai.APIStatusError,
        "Arcee API error 402: Insufficient balance: add credits",
        1,
    ),
    ApiFault(
        "402-openai",
        _status(402, "Insufficient balance: add credits", style="openai"),
        openai.APIStatusError,
        "Arcee API error 402: Insufficient balance: add credits",
        1,
    ),
    ApiFault(
        "403-detail",
        _status(403, "Model not enabled for this account"),
        openai.PermissionDeniedError,
        "Arcee API error 403: Model not enabled for this account",
        1,
    ),
    ApiFault(
        "404-openai",
        _status(404, "Model 'trinity-gone' not found", style="openai"),
        openai.NotFoundError,
        "Arcee API error 404: Model 'trinity-gone' not found",
        1,
    ),
    ApiFault(
        "422-detail",
        _status(422, "messages: field required"),
        openai.UnprocessableEntityError,
        "Arcee API error 422: messages: field required",
        1,
    ),
    ApiFault(
        "429-retry-after",
        _status(429, "Rate limit exceeded", retry_after=0.01),
        openai.RateLimitError,
        "Arcee API error 429: Rate limit exceeded",
        RETRIED,
        transient=_once(429, 0.01),
    ),
    ApiFault(
        "429-no-retry-after",
        _status(429, "Rate limit exceeded", style="openai"),
        openai.RateLimitError,
        "Arcee API error 429: Rate limit exceeded",
        RETRIED,
        transient=_once(429, None),
    ),
    ApiFault(
        "500-openai",
        _status(500, "Internal server error", style="openai", retry_after=0.01),
        openai.InternalServerError,
        "Arcee API error 500: Internal server error",
        RETRIED,
        transient=_once(500, 0.01),
    ),
    ApiFault(
        "503-detail",
        _status(503, "Service temporarily unavailable", retry_after=0.01),
        openai.InternalServerError,
        "Arcee API error 503: Service temporarily unavailable",
        RETRIED,
        transient=_once(503, 0.01),
    ),
    ApiFault(
        # A 200 whose body is not JSON: not retried. The error is not an openai error today
        # (see test_malformed_body_error_is_clear); any exception is accepted here.
        "malformed-json",
        lambda server: server.malformed_next(times=None),
        Exception,
        None,
        1,
    ),
    ApiFault(
        "stream-cut",
        lambda server: server.cut_stream_next(after_chunks=2, times=None),
        openai.APIConnectionError,
        None,
        RETRIED,
        streamed_requests=1,
    ),
    ApiFault(
        "timeout",
        lambda server: server.hang_next(seconds=5, times=None),
        openai.APITimeoutError,
        None,
        RETRIED,
        model=lambda _: {"timeout": 0.15},
        transient=lambda server: server.hang_next(seconds=5, times=1),
    ),
    ApiFault(
        "connection-refused",
        lambda _server: None,
        openai.APIConnectionError,
        None,
        0,
        model=_closed_port,
    ),
)


def expected_requests(fault: ApiFault, mode: str) -> int:
    """Chat requests a failed turn makes in ``mode``."""
    if "stream" in mode and fault.streamed_requests is not None:
        return fault.streamed_requests
    return fault.requests


TRANSIENT_FAULTS = tuple(f for f in API_FAULTS if f.transient is not None)


async def play_fault(
    fault: ApiFault,
    mode: str,
    store: ChatStore,
    server: ArceeTestServer,
    make_model: Callable[..., Any],
) -> list[str]:
    """Play one fault against one store through the adapter; return the problems seen.

    A good turn first; then the faulty turn must raise ``fault.error`` carrying Arcee's message
    (never the key) after exactly the expected number of requests, with the stored conversation
    unchanged; then, the fault cleared, the next turn must work and see exactly that history.
    """
    good = RunnableWithMemory(make_model(), store)
    faulty = RunnableWithMemory(make_model(**fault.model(server)), store)
    session = unique("s")
    problems: list[str] = []
    await run_turn(good, "first question", session, mode)
    before = snapshot(store, session)
    server.reset()
    fault.inject(server)
    try:
        await run_turn(faulty, "doomed question", session, mode)
        problems.append("no error raised")
    except Exception as exc:
        if not isinstance(exc, fault.error):
            problems.append(f"raised {type(exc).__name__}, expected {fault.error.__name__}")
        if fault.message is not None and fault.message not in str(exc):
            problems.append(f"message {str(exc)!r} lacks {fault.message!r}")
        if KEY in str(exc):
            problems.append("the API key is in the error message")
    requests = server.count("chat")
    if requests != expected_requests(fault, mode):
        problems.append(f"{requests} requests, expected {expected_requests(fault, mode)}")
    if snapshot(store, session) != before:
        problems.append("the stored conversation changed")
    server.clear_faults()
    await run_turn(good, "second question", session, mode)
    stored = store.load(session)
    if user_texts(stored) != ["first question", "second question"]:
        problems.append(f"stored turns after recovery: {user_texts(stored)}")
    problems.extend(check_echo_conversation(stored))
    return problems
