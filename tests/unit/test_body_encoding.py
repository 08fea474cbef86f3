"""Adversarial checks of the orjson request encoding (``langchain_arcee/body_encoding.py`` and
the untyped ``create`` in ``transport.py``) against the openai SDK's own encoding.

Each defect test failed on the code before ``body_encoding`` (which walked non-message values
with a recursive ``_non_finite`` and let orjson write everything else); its comment says what
the SDK does.
The SDK's behaviour is shown on the same loopback server through ``root_client.post(body=...)``,
the SDK's untyped ``body=`` path (stdlib ``json`` via ``openapi_dumps``, ``extra_body`` merged
by ``_build_request``).
"""

from __future__ import annotations

import collections
import enum
import math
import uuid
from typing import Any

import openai
import pytest
from langchain_core.messages import HumanMessage
from openai._base_client import make_request_options
from openai.types.chat import ChatCompletion

from langchain_arcee import ChatArcee
from tests.arcee_server import ArceeTestServer

KEY = "sk-arcee-test-0123456789"
HOWS = ["invoke", "ainvoke", "stream", "astream"]


async def _send(model: ChatArcee, how: str, input_: Any, **kwargs: Any) -> Any:
    if how == "invoke":
        return model.invoke(input_, **kwargs)
    if how == "ainvoke":
        return await model.ainvoke(input_, **kwargs)
    if how == "stream":
        return list(model.stream(input_, **kwargs))
    return [chunk async for chunk in model.astream(input_, **kwargs)]


def _sdk_post(model: ChatArcee, body: dict[str, Any], **options: Any) -> Any:
    """The SDK's own path for ``body``: stdlib json encoding, the SDK's extra_body merge."""
    return model.root_client.post(
        "/chat/completions",
        body=body,
        options=make_request_options(**options),
        cast_to=ChatCompletion,
    )


@pytest.fixture
def model(arcee_server: ArceeTestServer) -> ChatArcee:
    return ChatArcee(api_key=KEY, base_url=arcee_server.base_url, max_retries=0)


def _user(text: str = "hi") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


# ------------------------------------------------------------------ defects


@pytest.mark.parametrize("how", HOWS)
async def test_nan_in_a_non_text_content_block_is_refused(
    model: ChatArcee, arcee_server: ArceeTestServer, how: str
) -> None:
    # SDK: openapi_dumps raises ValueError (allow_nan=False) and sends nothing; orjson sent null.
    block = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    message = HumanMessage(content=[{**block, "detail_score": math.nan}])
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        await _send(model, how, [message])
    assert arcee_server.chat_requests == []


class _Effort(enum.Enum):
    HIGH = "high"


@pytest.mark.parametrize(
    "value",
    [_Effort.HIGH, uuid.UUID(int=5)],
    ids=["plain-enum", "uuid"],
)
@pytest.mark.parametrize("how", HOWS)
async def test_values_the_sdk_cannot_encode_are_refused(
    model: ChatArcee, arcee_server: ArceeTestServer, how: str, value: Any
) -> None:
    # SDK: TypeError "Object of type ... is not JSON serializable", nothing sent; orjson encodes
    # a plain Enum by its .value and a UUID as its string, and the request went out.
    with pytest.raises(TypeError, match="is not JSON serializable"):
        _sdk_post(model, {"model": model.model_name, "messages": _user(), "x": value})
    with pytest.raises(TypeError, match="is not JSON serializable"):
        await _send(model, how, "hi", reasoning_effort=value)
    assert arcee_server.chat_requests == []


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("how", HOWS)
async def test_a_deeply_nested_value_is_sent_as_the_sdk_sends_it(
    model: ChatArcee, arcee_server: ArceeTestServer, how: str
) -> None:
    # SDK: stdlib json encodes 500 levels and sends them; _non_finite's Python recursion (it
    # runs before orjson, on every non-message value) raised RecursionError instead.
    deep = _nested(500)
    _sdk_post(model, {"model": model.model_name, "messages": _user(), "nested": deep})
    assert arcee_server.last_request.body["nested"] == deep
    await _send(model, how, "hi", nested=deep)
    assert len(arcee_server.chat_requests) == 2
    assert arcee_server.last_request.body["nested"] == deep


@pytest.mark.parametrize("how", HOWS)
async def test_a_circular_value_raises_the_sdks_error(
    model: ChatArcee, arcee_server: ArceeTestServer, how: str
) -> None:
    # SDK: ValueError("Circular reference detected"); _non_finite recursed into RecursionError.
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="Circular reference detected"):
        await _send(model, how, "hi", metadata_blob=loop)
    assert arcee_server.chat_requests == []


@pytest.mark.parametrize("how", HOWS)
async def test_an_ordered_dict_is_sent_in_its_own_order(
    model: ChatArcee, arcee_server: ArceeTestServer, how: str
) -> None:
    # SDK: stdlib json reads a dict subclass through .items() (OrderedDict's order, here
    # reasoning then answer); orjson reads the underlying dict storage (answer then reasoning).
    # Property order of a guided-decoding schema is the order the server generates fields in.
    properties = collections.OrderedDict(answer={"type": "string"}, reasoning={"type": "string"})
    properties.move_to_end("answer")
    schema = {"type": "object", "properties": properties}
    _sdk_post(model, {"model": model.model_name, "messages": _user(), "guided_json": schema})
    assert list(arcee_server.last_request.body["guided_json"]["properties"]) == [
        "reasoning",
        "answer",
    ]
    await _send(model, how, "hi", guided_json=schema)
    assert list(arcee_server.last_request.body["guided_json"]["properties"]) == [
        "reasoning",
        "answer",
    ]


@pytest.mark.parametrize(
    "init",
    [{"api_key": "sk-\u200barcee"}, {"api_key": KEY, "default_headers": {"X-Team": "café"}}],
    ids=["zero-width-space-in-api-key", "non-ascii-default-header"],
)
@pytest.mark.parametrize("how", HOWS)
async def test_a_header_httpx_cannot_encode_raises_the_sdks_error(
    arcee_server: ArceeTestServer, init: dict[str, Any], how: str
) -> None:
    # SDK: UnicodeEncodeError ('ascii' codec, naming the header); the surrogate retry in
    # create() caught it and read arguments["body"], absent on the bytes path: KeyError('body').
    model = ChatArcee(base_url=arcee_server.base_url, max_retries=0, **init)
    with pytest.raises(UnicodeEncodeError):
        _sdk_post(model, {"model": model.model_name, "messages": _user()})
    with pytest.raises(UnicodeEncodeError):
        await _send(model, how, "hi")
    assert arcee_server.chat_requests == []


@pytest.mark.parametrize("how", HOWS)
async def test_an_empty_extra_body_is_merged_as_the_sdk_merges_it(
    arcee_server: ArceeTestServer, how: str
) -> None:
    # SDK: any extra_body that is not None (an empty one too) is merged by _merge_mappings,
    # which drops Omit values, so temperature is left out; `if extra_body:` skipped the merge
    # and the Omit reached the encoder: TypeError, nothing sent.
    model = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, max_retries=0, extra_body={})
    body = {"model": model.model_name, "messages": _user(), "temperature": openai.omit}
    _sdk_post(model, body, extra_body={})
    assert "temperature" not in arcee_server.last_request.body
    await _send(model, how, "hi", temperature=openai.omit)
    assert len(arcee_server.chat_requests) == 2
    assert "temperature" not in arcee_server.last_request.body


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
async def test_extra_body_wins_over_json_mode_as_it_wins_over_any_top_level_key(
    arcee_server: ArceeTestServer, how: str
) -> None:
    # SDK: response_format is a top-level key and extra_body is merged over it, so the caller's
    # extra_body["response_format"] is sent; JSON mode's move into extra_body overwrote it.
    own_format = {"type": "json_schema", "json_schema": {"name": "n", "schema": {}}}
    model = ChatArcee(
        api_key=KEY,
        base_url=arcee_server.base_url,
        max_retries=0,
        extra_body={"response_format": own_format},
    )
    json_mode = {"type": "json_object"}
    body = {"model": model.model_name, "messages": _user(), "response_format": json_mode}
    _sdk_post(model, body, extra_body={"response_format": own_format})
    assert arcee_server.last_request.body["response_format"] == own_format
    await _send(model, how, "hi", response_format=json_mode)
    assert arcee_server.last_request.body["response_format"] == own_format


# ------------------------------------------------------------------ guards (pass today)


@pytest.mark.parametrize("how", HOWS)
async def test_guard_extra_body_overrides_and_omits_top_level_keys(
    arcee_server: ArceeTestServer, how: str
) -> None:
    # Guard: extra_body wins over a top-level key and its Omit removes one, as in the SDK.
    model = ChatArcee(
        api_key=KEY,
        base_url=arcee_server.base_url,
        max_retries=0,
        temperature=0.3,
        max_tokens=50,
        extra_body={"temperature": 0.9, "max_tokens": openai.omit},
    )
    await _send(model, how, "hi")
    sent = arcee_server.last_request.body
    assert sent["temperature"] == 0.9
    assert "max_tokens" not in sent


@pytest.mark.parametrize("how", HOWS)
async def test_guard_a_retried_request_sends_the_same_body(
    arcee_server: ArceeTestServer, how: str
) -> None:
    # Guard: the orjson bytes are replayed unchanged on a retry (sync, async, streaming).
    model = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, max_retries=1)
    arcee_server.fail_next(503, "busy", retry_after=0.01)
    await _send(model, how, "hi", seed=2**63 - 1, logit_bias={"5": -0.0})
    first, second = arcee_server.chat_requests
    assert first.body == second.body
    assert first.body["seed"] == 2**63 - 1


class _Float(float):
    def __repr__(self) -> str:
        return "not-a-number-literal"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(_Float(1.5), 1.5), ({True: 1, None: 2}, {"true": 1, "null": 2})],
    ids=["float-subclass-with-own-repr", "bool-and-none-keys"],
)
def test_guard_values_orjson_refuses_are_sent_as_the_sdk_sends_them(
    model: ChatArcee, arcee_server: ArceeTestServer, value: Any, expected: Any
) -> None:
    # Guard: orjson refuses these; the SDK's encoder then writes float.__repr__ / "true"/"null".
    model.invoke("hi", x=value)
    assert arcee_server.last_request.body["x"] == expected
