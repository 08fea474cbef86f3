"""Tests for the loopback Arcee-format server, driven through the real openai client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.arcee_server import ArceeTestServer, Fault, Reply
from tests.sample_texts import CJK, CODE, PROSE

pytestmark = pytest.mark.loopback

MODEL = "trinity-large-thinking"
REPO = Path(__file__).resolve().parent.parent
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}


@pytest.fixture
def client(arcee_server: ArceeTestServer) -> openai.OpenAI:
    with openai.OpenAI(base_url=arcee_server.base_url, api_key="test", max_retries=0) as c:
        yield c


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def chat(client: openai.OpenAI, messages: list[dict[str, Any]], **kw: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=messages, **kw)


def detail(error: openai.APIStatusError) -> str:
    """The error text from either body style.

    openai's exception text only carries ``error.message``/``message``, never FastAPI's
    ``detail``, so read the body (a client library must surface ``detail`` itself).
    """
    body = error.body if isinstance(error.body, dict) else {}
    return str(body.get("detail") or body.get("message"))


def raw_message(completion: Any) -> dict[str, Any]:
    """The assistant message as sent on the wire (extra fields included)."""
    return completion.choices[0].message.model_dump(exclude_none=True)


# -- non-streaming ---------------------------------------------------------------------------


def test_echo_reply_with_reasoning_and_usage(client, arcee_server):
    completion = chat(client, [{"role": "system", "content": "Be brief."}, user("hello")])
    message = raw_message(completion)
    assert message["content"] == "You said: hello (history: 2 messages)"
    assert message["reasoning_content"] == "The user asked: hello. Thinking about it."
    assert completion.object == "chat.completion"
    assert completion.created == 1_700_000_000
    assert completion.model == MODEL
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details.reasoning_tokens > 0


def test_responses_are_deterministic(client):
    first = chat(client, [user("same")]).model_dump()
    second = chat(client, [user("same")]).model_dump()
    assert first == second


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", None])
def test_reasoning_field_is_configurable(client, arcee_server, field):
    arcee_server.set_option(reasoning_field=field)
    message = raw_message(chat(client, [user("hi")]))
    sent = {"reasoning_content", "reasoning"} & message.keys()
    assert sent == ({field} if field else set())
    if field:
        assert message[field] == "The user asked: hi. Thinking about it."


def test_non_thinking_model_sends_no_reasoning(client):
    completion = client.chat.completions.create(
        model="deepseek/deepseek-v3.2", messages=[user("hi")]
    )
    assert "reasoning_content" not in raw_message(completion)


def test_json_mode_returns_a_json_object(client):
    completion = chat(client, [user("give json")], response_format={"type": "json_object"})
    assert json.loads(completion.choices[0].message.content) == {
        "answer": "You said: give json",
        "history": 1,
    }


def test_scripted_queue_then_responder_then_echo(client, arcee_server):
    arcee_server.enqueue(Reply(content="one", reasoning="r1"), Reply(content="two"))
    arcee_server.set_responder(lambda body: Reply(content=f"n={len(body['messages'])}"))
    contents = [chat(client, [user("x")]).choices[0].message.content for _ in range(3)]
    assert contents == ["one", "two", "n=1"]
    arcee_server.set_responder(lambda body: None)
    assert chat(client, [user("x")]).choices[0].message.content.startswith("You said: x")


def test_scripted_usage_override(client, arcee_server):
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    arcee_server.enqueue(Reply(content="ok", usage=usage))
    assert chat(client, [user("x")]).usage.model_dump(exclude_none=True) == usage


# -- tools -----------------------------------------------------------------------------------


def test_weather_keyword_calls_the_tool_then_uses_its_result(client):
    messages = [user("What's the weather in Lyon?")]
    first = chat(client, messages, tools=[WEATHER_TOOL])
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.content == "\n"
    (call,) = message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Lyon"}
    assert (
        call.id == chat(client, messages, tools=[WEATHER_TOOL]).choices[0].message.tool_calls[0].id
    )

    messages += [
        {"role": "assistant", "content": "", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21C"},
    ]
    final = chat(client, messages, tools=[WEATHER_TOOL]).choices[0].message
    assert final.tool_calls is None
    assert "get_weather returned Sunny, 21C" in final.content


def test_scripted_tool_calls_and_content_quirk(client, arcee_server):
    arcee_server.set_option(tool_call_content="")
    arcee_server.enqueue(
        Reply(tool_calls=[{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": "{}"}])
    )
    message = chat(client, [user("go")], tools=[WEATHER_TOOL]).choices[0].message
    assert message.content == ""
    assert [c.function.name for c in message.tool_calls] == ["a", "b"]
    assert message.tool_calls[0].function.arguments == '{"x": 1}'
    assert message.tool_calls[0].id != message.tool_calls[1].id


# -- streaming -------------------------------------------------------------------------------


def collect(stream: Any) -> tuple[str, str, list[Any], Any]:
    reasoning, content, chunks = "", "", list(stream)
    for chunk in chunks:
        if chunk.choices:
            delta = chunk.choices[0].delta.model_dump()
            reasoning += delta.get("reasoning_content") or ""
            content += delta.get("content") or ""
    return reasoning, content, chunks, chunks[-1].usage


def test_stream_reasoning_then_content_with_usage(client):
    stream = chat(client, [user("hi")], stream=True, stream_options={"include_usage": True})
    reasoning, content, chunks, usage = collect(stream)
    assert reasoning == "The user asked: hi. Thinking about it."
    assert content == "You said: hi (history: 1 messages)"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert usage.total_tokens > 0


@pytest.mark.parametrize("server_usage", [True, False])
def test_stream_without_usage(client, arcee_server, server_usage):
    arcee_server.set_option(stream_usage=server_usage)
    include = not server_usage  # server on + client off, or client on + server off
    stream = chat(client, [user("hi")], stream=True, stream_options={"include_usage": include})
    *_, usage = collect(stream)
    assert usage is None


def test_stream_tool_call_deltas(client):
    stream = chat(client, [user("weather in Oslo?")], tools=[WEATHER_TOOL], stream=True)
    chunks = list(stream)
    deltas = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices[0].delta.tool_calls]
    assert deltas[0].id and deltas[0].function.name == "get_weather"
    assert all(d.id is None and d.function.name is None for d in deltas[1:])
    arguments = "".join(d.function.arguments for d in deltas)
    assert json.loads(arguments) == {"location": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_stream_ends_with_done(arcee_server):
    body = {"model": MODEL, "messages": [user("hi")], "stream": True}
    response = httpx2.post(
        arcee_server.base_url + "/chat/completions",
        json=body,
        headers={"Authorization": "Bearer t"},
    )
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)


# -- validation ------------------------------------------------------------------------------


def test_null_assistant_content_is_422(client):
    messages = [
        user("hi"),
        {"role": "assistant", "content": None, "tool_calls": None},
        user("again"),
    ]
    with pytest.raises(openai.UnprocessableEntityError) as info:
        chat(client, messages)
    assert "assistant content must be a string" in detail(info.value)
    assert str(info.value) == "Error code: 422"  # openai does not surface "detail" itself


@pytest.mark.parametrize(
    ("messages", "error", "needle"),
    [
        ([], openai.UnprocessableEntityError, "at least one"),
        ([{"role": "developer", "content": "x"}], openai.UnprocessableEntityError, "role"),
        (
            [user("x"), {"role": "tool", "tool_call_id": "nope", "content": "r"}],
            openai.BadRequestError,
            "does not match",
        ),
        (
            [
                user("x"),
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                user("y"),
            ],
            openai.BadRequestError,
            "must be followed by tool messages",
        ),
    ],
)
def test_message_validation(client, messages, error, needle):
    with pytest.raises(error) as info:
        chat(client, messages)
    assert needle in detail(info.value)


def test_auth_and_unknown_model(arcee_server, client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[user("x")])
    assert detail(info.value) == "Model 'nope' not found"
    response = httpx2.get(arcee_server.base_url + "/models")
    assert response.status_code == 401
    assert "detail" in response.json()
    arcee_server.set_option(accept_any_model=True)
    assert client.chat.completions.create(model="new/model", messages=[user("x")]).choices


def test_models_listing(client):
    rows = {m.id: m.model_dump() for m in client.models.list()}
    assert rows["trinity-large-thinking"]["context_length"] == 262144
    assert rows["trinity-mini"]["context_length"] == 131072
    assert {"arcee-ai/trinity-mini-thinking", "deepseek/deepseek-v3.2"} <= rows.keys()
    assert all(r["object"] == "model" for r in rows.values())


def test_strict_reasoning_requires_reasoning_back(client, arcee_server):
    arcee_server.set_option(strict_reasoning=True)
    first = raw_message(chat(client, [user("hi")]))
    history = [user("hi"), {"role": "assistant", "content": first["content"]}, user("more")]
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, history)
    assert "without 'reasoning_content'" in detail(info.value)
    history[1]["reasoning_content"] = first["reasoning_content"]
    assert chat(client, history).choices[0].message.content.endswith("(history: 3 messages)")
    history[1] = {"role": "assistant", "content": first["content"], "reasoning": "other"}
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, history)
    assert "differs" in detail(info.value)


def test_strict_reasoning_on_tool_call_turns(client, arcee_server):
    arcee_server.set_option(strict_reasoning=True)
    first = raw_message(chat(client, [user("weather in Rome?")], tools=[WEATHER_TOOL]))
    call = first["tool_calls"][0]
    assistant = {"role": "assistant", "content": "", "tool_calls": [call]}
    history = [
        user("weather in Rome?"),
        assistant,
        {"role": "tool", "tool_call_id": call["id"], "content": "Hot"},
    ]
    with pytest.raises(openai.BadRequestError):
        chat(client, history, tools=[WEATHER_TOOL])
    assistant["reasoning_content"] = first["reasoning_content"]
    assert "Hot" in chat(client, history, tools=[WEATHER_TOOL]).choices[0].message.content


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (402, openai.APIStatusError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
@pytest.mark.parametrize("style", ["detail", "openai"])
def test_status_faults(client, arcee_server, status, error, style):
    arcee_server.fail_next(status=status, message="boom", style=style)
    with pytest.raises(error) as info:
        chat(client, [user("x")])
    assert info.value.status_code == status
    assert detail(info.value) == "boom"
    assert chat(client, [user("x")]).choices  # only the next request failed


def test_retries_are_counted_and_retry_after_sent(arcee_server):
    arcee_server.fail_next(status=429, times=2, retry_after=0.01)
    with openai.OpenAI(base_url=arcee_server.base_url, api_key="t", max_retries=2) as client:
        raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[user("x")])
    assert raw.retries_taken == 2
    assert arcee_server.count("chat") == 3
    retry_headers = [r.headers["x-stainless-retry-count"] for r in arcee_server.chat_requests]
    assert retry_headers == ["0", "1", "2"]


def test_persistent_fault_until_cleared(client, arcee_server):
    arcee_server.fail_next(status=503, times=None)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            chat(client, [user("x")])
    arcee_server.clear_faults()
    assert chat(client, [user("x")]).choices


def test_models_route_fault(client, arcee_server):
    arcee_server.fail_next(status=500, route="models")
    assert chat(client, [user("x")]).choices
    with pytest.raises(openai.InternalServerError):
        client.models.list()


def test_malformed_body(client, arcee_server):
    arcee_server.malformed_next()
    with pytest.raises(ValueError):  # openai lets the JSONDecodeError through
        chat(client, [user("x")])
    assert chat(client, [user("x")]).choices  # the connection is still usable


def test_stream_cut_mid_reply(client, arcee_server):
    arcee_server.cut_stream_next(after_chunks=3)
    stream = chat(client, [user("a long enough sentence")], stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError):
        received.extend(stream)
    assert len(received) == 3


def test_hang_times_out_and_server_still_stops():
    server = ArceeTestServer().start()
    server.hang_next(seconds=60)
    started = time.monotonic()
    with (
        openai.OpenAI(base_url=server.base_url, api_key="t", max_retries=0, timeout=0.3) as c,
        pytest.raises(openai.APITimeoutError),
    ):
        chat(c, [user("x")])
    server.stop()
    assert time.monotonic() - started < 5


def test_delays(client, arcee_server):
    arcee_server.delay_next(0.2)
    started = time.monotonic()
    chat(client, [user("x")])
    assert time.monotonic() - started >= 0.2
    arcee_server.set_option(delay=0.1)
    started = time.monotonic()
    chat(client, [user("x")])
    assert time.monotonic() - started >= 0.1


def test_inject_fault_object_with_headers(client, arcee_server):
    arcee_server.inject(Fault(status=500, headers={"x-should-retry": "false"}))
    with (
        openai.OpenAI(base_url=arcee_server.base_url, api_key="t", max_retries=3) as c,
        pytest.raises(openai.InternalServerError),
    ):
        chat(c, [user("x")])
    assert arcee_server.count("chat") == 1


# -- recording, reset, keep-alive, out of process --------------------------------------------


def test_records_exact_body_and_headers(client, arcee_server):
    messages = [
        user("hi"),
        {"role": "assistant", "content": "yo", "reasoning_content": "r"},
        user("x"),
    ]
    chat(client, messages, temperature=0.2)
    request = arcee_server.last_request
    assert (request.method, request.route) == ("POST", "chat")
    assert request.path == "/api/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer test"
    assert request.body == {"model": MODEL, "messages": messages, "temperature": 0.2}


def test_reset_restores_constructor_state(client, arcee_server):
    arcee_server.set_option(reasoning_field=None)
    arcee_server.enqueue(Reply(content="queued"))
    arcee_server.fail_next(status=500)
    arcee_server.reset()
    assert arcee_server.requests == [] and arcee_server.count() == 0
    assert "reasoning_content" in raw_message(chat(client, [user("x")]))


def test_large_body_and_keep_alive(arcee_server):
    # The openai SDK's typed transform costs ~1 s for 10,000 messages; post the body raw.
    messages = [user(f"message {i}") for i in range(10_000)]
    body = json.dumps({"model": MODEL, "messages": messages}).encode()
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    with httpx2.Client(base_url=arcee_server.base_url, headers=headers) as http:
        replies = [http.post("/chat/completions", content=body).json() for _ in range(3)]
    content = replies[-1]["choices"][0]["message"]["content"]
    assert content.endswith("(history: 10000 messages)")
    assert len(arcee_server.last_request.body["messages"]) == 10_000
    assert len({r.peer_port for r in arcee_server.requests}) == 1  # one kept-alive connection


async def test_async_client_stream(arcee_server):
    async with openai.AsyncOpenAI(base_url=arcee_server.base_url, api_key="t") as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[user("async")], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "You said: async (history: 1 messages)"


def test_out_of_process_server_and_control_routes():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.arcee_server", "--port", "0", "--print-url"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v1")
        root = base_url.removesuffix("/api/v1")
        control = {"replies": [{"content": "scripted", "reasoning": "why"}]}
        request = urllib.request.Request(root + "/_test/enqueue", json.dumps(control).encode())
        urllib.request.urlopen(request).close()
        with openai.OpenAI(base_url=base_url, api_key="t", max_retries=0) as c:
            assert chat(c, [user("x")]).choices[0].message.content == "scripted"
        with urllib.request.urlopen(root + "/_test/stats") as response:
            assert json.load(response)["counts"] == {"chat": 1}
    finally:
        proc.terminate()
        proc.wait(timeout=5)


# -- token counting and the context window ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [(PROSE, 3.5, 5.0), (CJK, 0.9, 1.2), (CODE, 1.5, 2.6)],
    ids=["prose", "cjk", "code"],
)
def test_prompt_tokens_count_like_a_tokenizer(client, text, low, high):
    """~4 characters per token on prose, ~1 per CJK character, ~2 on code."""
    empty = chat(client, [user("")]).usage.prompt_tokens  # the per-message overhead
    tokens = chat(client, [user(text)]).usage.prompt_tokens - empty
    assert low <= len(text) / tokens <= high


def test_prompt_tokens_count_reasoning_tool_calls_and_tools(client):
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    plain = [user("hi"), {"role": "assistant", "content": "ok"}, user("again")]
    thought = [plain[0], {**plain[1], "reasoning_content": "Let me think a while. " * 10}, plain[2]]
    called = [
        plain[0],
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "2"},
        plain[2],
    ]
    base = chat(client, plain).usage.prompt_tokens
    assert chat(client, thought).usage.prompt_tokens > base + 20
    assert chat(client, called).usage.prompt_tokens > base
    with_tools = chat(client, plain, tools=[WEATHER_TOOL]).usage.prompt_tokens
    assert with_tools > base + 20


@pytest.mark.parametrize("stream", [False, True])
def test_over_window_is_rejected_like_vllm(client, arcee_server, stream):
    arcee_server.set_option(context_lengths={MODEL: 100})  # CJK: ~1 token per character
    fits = chat(client, [user(CJK[:80])])
    assert fits.usage.prompt_tokens < 100
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, [user(CJK * 2)], stream=stream)
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "BadRequestError"
    assert body["message"].startswith("This model's maximum context length is 100 tokens. ")
    assert "However, your request has " in body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, [user(CJK[:80])], max_tokens=90)  # prompt + requested output over the window
    assert "you requested 90 output tokens and your prompt contains at least" in str(info.value)


def test_catalogue_window_is_enforced_by_default(client, arcee_server):
    arcee_server.set_option(models=({"id": MODEL, "context_length": 50, "reasoning": True},))
    with pytest.raises(openai.BadRequestError, match="maximum context length is 50 tokens"):
        chat(client, [user(PROSE)])
    arcee_server.set_option(context_lengths={MODEL: 10_000})  # the option overrides the row
    assert chat(client, [user(PROSE)]).usage.prompt_tokens > 50
