"""Arcee's (vLLM's) and OpenAI's context-length errors become ContextOverflowError."""

from __future__ import annotations

import asyncio

import openai
import pytest
from langchain_core.exceptions import ContextOverflowError
from langchain_openai.chat_models.base import OpenAIContextOverflowError

from langchain_arcee import ArceeContextOverflowError, ChatArcee
from tests.arcee_server import ArceeTestServer, count_prompt_tokens
from tests.sample_texts import CJK

KEY = "sk-arcee-test-0123456789"
MODEL = "trinity-mini"
LONG = CJK * 3  # ~400 tokens, where a 4-characters-per-token estimate sees ~100


def _model(server: ArceeTestServer, **kwargs: object) -> ChatArcee:
    return ChatArcee(api_key=KEY, base_url=server.base_url, model=MODEL, max_retries=2, **kwargs)


def _call(model: ChatArcee, mode: str, text: str) -> object:
    if mode == "invoke":
        return model.invoke(text)
    if mode == "stream":
        return list(model.stream(text))
    if mode == "ainvoke":
        return asyncio.run(model.ainvoke(text))

    async def collect() -> list[object]:
        return [chunk async for chunk in model.astream(text)]

    return asyncio.run(collect())


@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
def test_over_window_request_raises_context_overflow(
    arcee_server: ArceeTestServer, mode: str
) -> None:
    arcee_server.set_option(context_lengths={MODEL: 200})
    model = _model(arcee_server)
    with pytest.raises(ContextOverflowError) as info:
        _call(model, mode, LONG)
    error = info.value
    assert isinstance(error, ArceeContextOverflowError)
    assert isinstance(error, openai.BadRequestError)
    assert isinstance(error, OpenAIContextOverflowError)  # code written for ChatOpenAI works
    assert error.status_code == 400
    assert "maximum context length is 200 tokens" in str(error)
    assert error.context_length == 200
    sent = arcee_server.last_request.body
    assert error.prompt_tokens == count_prompt_tokens(sent)
    assert arcee_server.count("chat") == 1  # a 400 is never retried
    assert KEY not in str(error) and KEY not in repr(error)


def test_requested_output_tokens_count_against_the_window(arcee_server: ArceeTestServer) -> None:
    arcee_server.set_option(context_lengths={MODEL: 200})
    _model(arcee_server, max_tokens=100).invoke("short question")  # fits with its reply
    with pytest.raises(ArceeContextOverflowError) as info:
        _model(arcee_server, max_tokens=195).invoke("short question")
    assert "you requested 195 output tokens" in str(info.value)
    assert info.value.context_length == 200
    assert info.value.prompt_tokens == count_prompt_tokens(arcee_server.last_request.body)


VLLM_WORDINGS = [
    # vLLM <= 0.10 (and OpenAI's classic text)
    (
        "This model's maximum context length is 4096 tokens. However, you requested 5000 "
        "tokens (4000 in the messages, 1000 in the completion). Please reduce the length of "
        "the messages or completion.",
        4096,
        4000,
    ),
    (
        "This model's maximum context length is 4096 tokens. However, your request has 4100 "
        "input tokens. Please reduce the length of the input messages.",
        4096,
        4100,
    ),
    (
        "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum "
        "context length is 4096 tokens and your request has 2778 input tokens "
        "(8000 > 4096 - 2778).",
        4096,
        2778,
    ),
    (
        "The decoder prompt (length 9000) is longer than the maximum model length of 8192. "
        "Make sure that `max_model_len` is no smaller than the number of text tokens.",
        8192,
        9000,
    ),
]


@pytest.mark.parametrize("style", ["openai", "detail"])
@pytest.mark.parametrize(("message", "window", "prompt"), VLLM_WORDINGS)
def test_vllm_wordings_in_either_body_style(
    arcee_server: ArceeTestServer, style: str, message: str, window: int, prompt: int
) -> None:
    arcee_server.fail_next(400, message, style=style)  # type: ignore[arg-type]
    with pytest.raises(ArceeContextOverflowError) as info:
        _model(arcee_server).invoke("hi")
    assert (info.value.context_length, info.value.prompt_tokens) == (window, prompt)
    assert message in str(info.value)


@pytest.mark.parametrize("mode", ["invoke", "astream"])
def test_openai_context_length_exceeded_code(arcee_server: ArceeTestServer, mode: str) -> None:
    arcee_server.fail_next(
        400,
        "Your input exceeds the context window of this model.",
        style="openai",
        error_type="invalid_request_error",
        code="context_length_exceeded",
    )
    with pytest.raises(ArceeContextOverflowError) as info:
        _call(_model(arcee_server), mode, "hi")
    assert info.value.code == "context_length_exceeded"
    assert info.value.context_length is None and info.value.prompt_tokens is None


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "temperature must be between 0 and 2"),
        (422, "This model's maximum context length is 10 tokens."),  # not a 400
    ],
)
def test_other_errors_are_not_context_overflow(
    arcee_server: ArceeTestServer, status: int, message: str
) -> None:
    arcee_server.fail_next(status, message)
    with pytest.raises(openai.APIStatusError) as info:
        _model(arcee_server).invoke("hi")
    assert not isinstance(info.value, ContextOverflowError)
    assert info.value.status_code == status
