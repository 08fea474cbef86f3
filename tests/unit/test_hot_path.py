"""The per-call hot path of ChatArcee (issue 12): one pass over the history, no thread hop.

Behaviour only (which thread, how many passes, same errors and results on every path); the
timings live in benchmarks/model_overhead.py.
"""

from __future__ import annotations

import datetime
import json
import math
import threading
from typing import Any, ClassVar

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.outputs import ChatResult
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel

from langchain_arcee import ChatArcee
from langchain_arcee.body_encoding import encoded_body
from langchain_arcee.messages import all_messages
from langchain_arcee.wire import to_arcee_messages
from tests.arcee_server import ArceeTestServer, Reply

KEY = "sk-arcee-test-0123456789"


class _Spy(ChatArcee):
    """Records which thread builds each result and how often the input is checked."""

    result_threads: ClassVar[list[int]] = []
    input_checks: ClassVar[int] = 0

    def _create_chat_result(self, *args: Any, **kwargs: Any) -> ChatResult:
        type(self).result_threads.append(threading.get_ident())
        return super()._create_chat_result(*args, **kwargs)

    def _convert_input(self, model_input: LanguageModelInput) -> PromptValue:
        type(self).input_checks += 1
        return super()._convert_input(model_input)


@pytest.fixture
def spy(arcee_server: ArceeTestServer) -> _Spy:
    _Spy.result_threads = []
    _Spy.input_checks = 0
    return _Spy(api_key=KEY, base_url=arcee_server.base_url, max_retries=0)


async def test_async_result_is_built_on_the_event_loop_thread(spy: _Spy) -> None:
    reply = await spy.ainvoke([HumanMessage("hi")])
    assert reply.additional_kwargs["reasoning_content"]
    assert spy.result_threads == [threading.get_ident()]


def test_history_is_checked_once_per_call(spy: _Spy, arcee_server: ArceeTestServer) -> None:
    history = [HumanMessage("q"), AIMessage("a", additional_kwargs={"reasoning_content": "r"})]
    spy.invoke([*history, HumanMessage("next")])
    assert spy.input_checks == 1
    sent = arcee_server.last_request.body["messages"]
    assert sent[1] == {"role": "assistant", "content": "a", "reasoning_content": "r"}


def test_message_likes_are_still_converted(spy: _Spy, arcee_server: ArceeTestServer) -> None:
    spy.invoke([("system", "Be brief."), ("user", "hi")])
    assert arcee_server.last_request.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


@pytest.mark.parametrize("status", [400, 401, 404, 429])
async def test_async_errors_match_sync_errors(arcee_server: ArceeTestServer, status: int) -> None:
    model = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, max_retries=0)
    arcee_server.fail_next(status, "nope")
    with pytest.raises(openai.APIStatusError) as sync_error:
        model.invoke("hi")
    arcee_server.fail_next(status, "nope")
    with pytest.raises(openai.APIStatusError) as async_error:
        await model.ainvoke("hi")
    assert type(async_error.value) is type(sync_error.value)
    assert str(async_error.value) == str(sync_error.value)


async def test_async_paths_that_keep_langchain_openai_behaviour(
    arcee_server: ArceeTestServer,
) -> None:
    with_headers = ChatArcee(
        api_key=KEY, base_url=arcee_server.base_url, include_response_headers=True
    )
    reply = await with_headers.ainvoke("hi")
    assert "content-type" in {k.lower() for k in reply.response_metadata["headers"]}

    class Person(BaseModel):
        name: str

    model = ChatArcee(api_key=KEY, base_url=arcee_server.base_url)
    arcee_server.enqueue(Reply(content='{"name": "Ann"}'))
    structured = model.with_structured_output(Person, method="json_schema")
    assert await structured.ainvoke("Ann") == Person(name="Ann")
    assert arcee_server.last_request.body["response_format"]["type"] == "json_schema"


def test_wire_dispatch_covers_subclasses_and_rejects_non_messages() -> None:
    chunk = AIMessageChunk(content="c", additional_kwargs={"reasoning": "r"})
    assert to_arcee_messages([chunk], ("reasoning_content",)) == [
        {"role": "assistant", "content": "c", "reasoning_content": "r"}
    ]
    with pytest.raises(TypeError, match="cannot send a tuple to Arcee"):
        to_arcee_messages([("user", "hi")], ("reasoning_content",))  # type: ignore[list-item]


def test_all_messages_learns_new_message_classes_and_rejects_others() -> None:
    class Note(HumanMessage):
        pass

    assert all_messages([HumanMessage("a"), AIMessage("b")])
    assert all_messages([HumanMessage("a"), Note("new class")])  # first sighting of Note
    assert all_messages([Note("seen")])
    assert not all_messages([HumanMessage("a"), ("user", "hi")])
    assert not all_messages([Note("seen"), "text"])
    assert all_messages([])


@pytest.mark.parametrize("timeout", [12.5, 7, (3.0, 40.0), None])
async def test_request_timeout_reaches_every_request(
    arcee_server: ArceeTestServer, timeout: Any
) -> None:
    # The transport hands httpx a prebuilt Timeout for numbers: same header, same limits.
    model = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, timeout=timeout)
    expected = None if timeout is None else str(model.request_timeout)
    model.invoke("hi")
    assert arcee_server.last_request.headers.get("x-stainless-read-timeout") == expected
    await model.ainvoke("hi")
    assert arcee_server.last_request.headers.get("x-stainless-read-timeout") == expected
    model.root_client.timeout = 9.5  # a client changed after construction is still honoured
    model.invoke("hi")
    assert arcee_server.last_request.headers["x-stainless-read-timeout"] == "9.5"
    model.client.create(
        model=model.model_name, messages=[{"role": "user", "content": "x"}], timeout=4
    )
    assert arcee_server.last_request.headers["x-stainless-read-timeout"] == "4"


@pytest.mark.parametrize(
    ("init", "call"),
    [
        ({}, {}),
        ({"temperature": 0.3, "max_tokens": 100, "stop": ["END"]}, {}),
        ({"model_kwargs": {"max_completion_tokens": 50}}, {"tools": []}),
        ({"model": "trinity-mini", "temperature": 0}, {}),
        ({"temperature": 0.3}, {"temperature": 0.9, "max_tokens": 5, "model": "m2"}),
        ({"stop": ["a"]}, {}),
        ({"stop": []}, {"max_completion_tokens": 7}),
    ],
)
def test_ls_params_match_langchain_openai(init: dict[str, Any], call: dict[str, Any]) -> None:
    from langchain_openai.chat_models.base import BaseChatOpenAI

    model = ChatArcee(api_key=KEY, **init)
    for stop in (None, ["STOP"]):
        expected = BaseChatOpenAI._get_ls_params(model, stop=stop, **call)
        expected["ls_provider"] = "arcee"
        assert model._get_ls_params(stop=stop, **call) == expected
    model.temperature = 0.25  # attributes changed after construction are still read
    assert model._get_ls_params()["ls_temperature"] == 0.25


def test_wire_reads_fields_set_after_construction() -> None:
    message = AIMessage("a", additional_kwargs={"reasoning_content": "r"})
    message.name = "bot"
    message.content = [{"type": "text", "text": "b"}]
    assert to_arcee_messages([message], ("reasoning_content", "reasoning")) == [
        {
            "role": "assistant",
            "content": "b",
            "name": "bot",
            "reasoning_content": "r",
            "reasoning": "r",
        }
    ]
    message.additional_kwargs = None  # type: ignore[assignment]  # unvalidated assignment
    message.content = [{"type": "reasoning", "reasoning": "from a block"}, "text"]
    assert to_arcee_messages([message], ("reasoning",)) == [
        {"role": "assistant", "content": "text", "name": "bot", "reasoning": "from a block"}
    ]


_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "trinity-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi.", "reasoning_content": "Greet."},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}


@pytest.mark.parametrize("client_class", ["ArceeOpenAI", "AsyncArceeOpenAI"])
def test_a_completion_is_validated_without_the_sdks_python_walk(
    client_class: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A well-formed completion parses in pydantic-core, to what the SDK's parse gives."""
    from openai import _base_client
    from openai.types.chat import ChatCompletion

    from langchain_arcee import transport

    expected = _base_client.construct_type(type_=ChatCompletion, value=_COMPLETION)

    def walk(**_: Any) -> Any:
        raise AssertionError("the SDK's construct_type walked a well-formed completion")

    monkeypatch.setattr(_base_client, "construct_type", walk)
    client = getattr(transport, client_class)(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    parsed = client._process_response_data(data=_COMPLETION, cast_to=ChatCompletion, response=None)
    assert isinstance(parsed, ChatCompletion)
    assert parsed.model_dump() == expected.model_dump()
    assert parsed.choices[0].message.model_extra == {"reasoning_content": "Greet."}


def test_a_malformed_completion_still_takes_the_lenient_path() -> None:
    """What does not validate is built as the SDK builds it (no error where there was none)."""
    from openai.types.chat import ChatCompletion

    from langchain_arcee.transport import ArceeOpenAI

    odd = {**_COMPLETION, "created": "yesterday", "choices": [{"message": {"content": "x"}}]}
    client = ArceeOpenAI(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    parsed = client._process_response_data(data=odd, cast_to=ChatCompletion, response=None)
    assert isinstance(parsed, ChatCompletion)
    assert parsed.created == "yesterday"
    assert parsed.choices[0].message.content == "x"


# ------------------------------------------------------------------ body encoding


@pytest.fixture
def sdk_encodes(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every body the openai SDK's own (stdlib json) encoder is asked to encode."""
    calls: list[object] = []
    real = openai._base_client.openapi_dumps

    def counting(obj: object) -> bytes:
        calls.append(obj)
        return real(obj)

    monkeypatch.setattr(openai._base_client, "openapi_dumps", counting)
    return calls


async def test_request_bodies_skip_the_sdks_stdlib_json_encoder(
    spy: _Spy, arcee_server: ArceeTestServer, sdk_encodes: list[object]
) -> None:
    # The SDK's encoder costs ~1 ms of client CPU at 1,000 messages, orjson ~0.04 ms.
    history = [
        HumanMessage('héllo \u2028 \x1f "q" \\ 😀'),
        AIMessage("a", additional_kwargs={"reasoning_content": "r"}),
        HumanMessage("next"),
    ]
    spy.invoke(history)
    list(spy.stream(history))
    await spy.ainvoke(history)
    [chunk async for chunk in spy.astream(history)]
    assert sdk_encodes == []
    requests = arcee_server.chat_requests
    assert len(requests) == 4
    for request in requests:
        assert request.body["messages"] == to_arcee_messages(history, ("reasoning_content",))
        assert request.headers["content-type"] == "application/json"
    assert [request.body.get("stream", False) for request in requests] == [
        False,
        True,
        False,
        True,
    ]


_json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
_json_values = st.recursive(
    _json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(body=st.dictionaries(st.text(), _json_values, max_size=6))
def test_encoded_body_is_the_json_the_sdk_sends(body: dict[str, Any]) -> None:
    sdk = openai._base_client.openapi_dumps(body)
    ours = encoded_body(body)
    assert isinstance(ours, bytes)
    assert json.loads(ours) == json.loads(sdk)


@settings(max_examples=300, deadline=None)
@given(
    body=st.dictionaries(
        st.text(),
        st.recursive(
            _json_scalars,
            lambda children: (
                st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
            ),
            max_leaves=20,
        ),
        max_size=6,
    )
)
def test_encoded_body_without_floats_is_byte_for_byte_the_sdks(body: dict[str, Any]) -> None:
    assert encoded_body(body) == openai._base_client.openapi_dumps(body)


class _Labels(BaseModel):
    team: str


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"labels": _Labels(team="a")}, {"labels": {"team": "a"}}),
        (
            {"when": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)},
            {"when": "2026-01-02T03:04:05+00:00"},
        ),
        ({"seed": 2**70}, {"seed": 2**70}),
        ({"logit_bias": {50256: -100}}, {"logit_bias": {"50256": -100}}),
    ],
    ids=["pydantic-model", "datetime", "integer-beyond-64-bits", "integer-keys"],
)
def test_values_only_the_sdk_encodes_still_go_through_it(
    spy: _Spy,
    arcee_server: ArceeTestServer,
    sdk_encodes: list[object],
    extra: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    spy.invoke("hi", **extra)
    assert len(sdk_encodes) == 1
    assert {key: arcee_server.last_request.body[key] for key in expected} == expected


@pytest.mark.parametrize(
    "extra",
    [
        {"temperature": float("nan")},
        {"top_p": float("inf")},
        {
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"x": [-math.inf]}}}
            ]
        },
    ],
    ids=["nan", "infinity", "nested-in-a-tool-schema"],
)
async def test_non_finite_numbers_are_refused_before_sending(
    spy: _Spy, arcee_server: ArceeTestServer, extra: dict[str, Any]
) -> None:
    # orjson would send null in their place; the SDK's encoder refuses them, as before.
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        spy.invoke("hi", **extra)
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        await spy.ainvoke("hi", **extra)
    assert arcee_server.chat_requests == []


def test_a_lone_surrogate_in_a_stored_reply_is_sent_as_a_replacement_character(
    spy: _Spy, arcee_server: ArceeTestServer
) -> None:
    spy.invoke([HumanMessage("q"), AIMessage("broken \udc80 reply"), HumanMessage("next")])
    assert arcee_server.last_request.body["messages"][1]["content"] == "broken \ufffd reply"


async def test_extra_body_fields_are_merged_before_the_fast_encoding(
    arcee_server: ArceeTestServer, sdk_encodes: list[object]
) -> None:
    # JSON mode and extra_body used to leave the merge, and so the encoding, to the SDK.
    model = ChatArcee(
        api_key=KEY, base_url=arcee_server.base_url, max_retries=0, extra_body={"top_k": 5}
    )
    json_mode = model.bind(response_format={"type": "json_object"})
    arcee_server.enqueue(Reply(content='{"a": 1}'))
    json_mode.invoke("hi")
    arcee_server.enqueue(Reply(content='{"a": 2}'))
    await json_mode.ainvoke("hi")
    assert sdk_encodes == []
    for request in arcee_server.chat_requests:
        assert request.body["top_k"] == 5
        assert request.body["response_format"] == {"type": "json_object"}
    # A body the SDK must encode (a lone surrogate in a stored reply) keeps the extra fields.
    model.invoke([HumanMessage("q"), AIMessage("broken \udc80"), HumanMessage("next")])
    assert arcee_server.last_request.body["top_k"] == 5
    assert arcee_server.last_request.body["messages"][1]["content"] == "broken \ufffd"
