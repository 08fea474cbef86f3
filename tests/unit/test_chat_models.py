"""ChatArcee against the loopback Arcee-format server: real openai client, real HTTP."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from typing import Any

import openai
import pytest
from langchain_core.load import dumpd
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from pydantic import BaseModel

from langchain_arcee import ChatArcee, list_models
from langchain_arcee.catalog import DEFAULT_BASE_URL, DEFAULT_CONTEXT_WINDOW
from tests.arcee_server import ArceeTestServer, Reply
from tests.event_loops import live_event_loops

KEY = "sk-arcee-test-0123456789"


@pytest.fixture
def model(arcee_server: ArceeTestServer) -> ChatArcee:
    return ChatArcee(api_key=KEY, base_url=arcee_server.base_url, max_retries=0)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("ARCEE_API_KEY", "ARCEEAI_API_KEY", "ARCEE_API_BASE", "ARCEE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"Sunny in {city}"


# ---------------------------------------------------------------- configuration


def test_only_arcee_api_key_needed(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ARCEE_API_KEY", KEY)
    llm = ChatArcee()
    assert llm.model_name == "trinity-large-thinking"
    assert llm.openai_api_base == DEFAULT_BASE_URL
    assert llm.openai_api_key is not None and llm.openai_api_key.get_secret_value() == KEY


def test_arceeai_alias_and_base_url_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ARCEEAI_API_KEY", "alias-key")
    clean_env.setenv("ARCEE_BASE_URL", "http://127.0.0.1:9/api/v1")
    llm = ChatArcee()
    assert llm.openai_api_key is not None and llm.openai_api_key.get_secret_value() == "alias-key"
    assert llm.openai_api_base == "http://127.0.0.1:9/api/v1"
    clean_env.setenv("ARCEE_API_BASE", "http://127.0.0.1:8/api/v1")
    assert ChatArcee().openai_api_base == "http://127.0.0.1:8/api/v1"


def test_explicit_args_override_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ARCEE_API_KEY", "env-key")
    llm = ChatArcee(api_key="arg-key", base_url="http://127.0.0.1:7/v1", model="deepseek/x")
    assert llm.openai_api_key is not None and llm.openai_api_key.get_secret_value() == "arg-key"
    assert (llm.openai_api_base, llm.model_name) == ("http://127.0.0.1:7/v1", "deepseek/x")


def test_missing_key_names_env_var(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-openai-should-not-be-used")
    with pytest.raises(ValueError, match="ARCEE_API_KEY"):
        ChatArcee()


def test_no_openai_env_leakage(
    clean_env: pytest.MonkeyPatch, arcee_server: ArceeTestServer
) -> None:
    for name, value in {
        "OPENAI_API_KEY": "sk-openai",
        "OPENAI_BASE_URL": "http://127.0.0.1:1/v1",
        "OPENAI_API_BASE": "http://127.0.0.1:2/v1",
        "OPENAI_ORG_ID": "org-leak",
        "OPENAI_PROJECT_ID": "proj-leak",
        "OPENAI_PROXY": "http://127.0.0.1:3",
    }.items():
        clean_env.setenv(name, value)
    clean_env.setenv("ARCEE_API_KEY", KEY)
    assert ChatArcee().openai_api_base == DEFAULT_BASE_URL
    llm = ChatArcee(base_url=arcee_server.base_url)
    assert llm.openai_proxy is None
    llm.invoke("hello")
    headers = arcee_server.last_request.headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert "openai-organization" not in headers and "openai-project" not in headers


@pytest.mark.parametrize(
    "model_id", ["trinity-mini", "arcee-ai/trinity-mini-thinking", "deepseek/deepseek-v3.2"]
)
def test_any_model_id(arcee_server: ArceeTestServer, model_id: str) -> None:
    llm = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, model=model_id)
    llm.invoke("hi")
    assert arcee_server.last_request.body["model"] == model_id


def test_secret_never_shown(model: ChatArcee, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    model.invoke("hi")
    assert KEY not in repr(model) and KEY not in str(model)
    assert KEY not in json.dumps(dumpd(model))
    assert KEY not in caplog.text
    assert model.lc_secrets == {"openai_api_key": "ARCEE_API_KEY"}


def test_identity(model: ChatArcee) -> None:
    assert model._llm_type == "arcee-chat"
    assert model._get_ls_params()["ls_provider"] == "arcee"
    assert ChatArcee.get_lc_namespace() == ["langchain_arcee", "chat_models"]
    assert not model._use_responses_api({"tools": [{"type": "web_search"}]})


def test_never_routed_to_responses_api(arcee_server: ArceeTestServer) -> None:
    llm = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, output_version="responses/v1")
    llm.invoke("hi")
    assert arcee_server.last_request.path.endswith("/chat/completions")


# ---------------------------------------------------------------- the wire contract


def test_request_body_is_exact(model: ChatArcee, arcee_server: ArceeTestServer) -> None:
    model.invoke(
        [
            SystemMessage("Be brief."),
            HumanMessage("Q"),
            AIMessage(
                content="",
                additional_kwargs={"reasoning_content": "call it"},
                tool_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "id": "c9"}],
            ),
            ToolMessage("Snow", tool_call_id="c9", name="get_weather"),
            AIMessage(
                content=[{"type": "text", "text": "It snows."}],
                additional_kwargs={"reasoning_content": "The tool said snow."},
            ),
            HumanMessage("Thanks"),
        ]
    )
    body = arcee_server.last_request.body
    assert body == {
        "model": "trinity-large-thinking",
        "stream": False,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Q"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "c9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
                "reasoning_content": "call it",
            },
            {"role": "tool", "content": "Snow", "tool_call_id": "c9"},
            {
                "role": "assistant",
                "content": "It snows.",
                "reasoning_content": "The tool said snow.",
            },
            {"role": "user", "content": "Thanks"},
        ],
    }


@pytest.mark.parametrize(
    ("setting", "fields"),
    [("reasoning", {"reasoning"}), ("both", {"reasoning", "reasoning_content"})],
)
def test_reasoning_field_setting(
    arcee_server: ArceeTestServer, setting: str, fields: set[str]
) -> None:
    llm = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, reasoning_field=setting)
    llm.invoke(
        [
            HumanMessage("a"),
            AIMessage("b", additional_kwargs={"reasoning_content": "r"}),
            HumanMessage("c"),
        ]
    )
    assistant = arcee_server.last_request.body["messages"][1]
    assert {k for k in assistant if k.startswith("reasoning")} == fields
    assert all(assistant[f] == "r" for f in fields)


def test_content_never_null(model: ChatArcee, arcee_server: ArceeTestServer) -> None:
    # The server answers 422 on a null assistant content, as Arcee does.
    model.invoke(
        [
            HumanMessage("x"),
            AIMessage(content=[], tool_calls=[{"name": "f", "args": {}, "id": "t1"}]),
            ToolMessage("done", tool_call_id="t1"),
        ]
    )
    assert arcee_server.last_request.body["messages"][1]["content"] == ""


def test_reasoning_parsed_from_response(model: ChatArcee) -> None:
    reply = model.invoke("What is a small language model?")
    assert isinstance(reply, AIMessage)
    assert reply.additional_kwargs["reasoning_content"].startswith("The user asked")
    assert reply.content.startswith("You said: What is a small language model?")
    assert reply.content_blocks[0] == {
        "type": "reasoning",
        "reasoning": reply.additional_kwargs["reasoning_content"],
    }
    assert reply.response_metadata["model_provider"] == "arcee"
    assert reply.usage_metadata is not None and reply.usage_metadata["total_tokens"] > 0


def test_vllm_reasoning_field_is_read(arcee_server: ArceeTestServer, model: ChatArcee) -> None:
    arcee_server.set_option(reasoning_field="reasoning")
    reply = model.invoke("hi")
    assert reply.additional_kwargs["reasoning_content"].startswith("The user asked")
    chunks = list(model.stream("hi"))
    assert "".join(c.additional_kwargs.get("reasoning_content", "") for c in chunks)


def test_stream_aggregates_reasoning_content_and_usage(
    model: ChatArcee, arcee_server: ArceeTestServer
) -> None:
    arcee_server.enqueue(Reply(content="Hello there, friend.", reasoning="Greet them warmly."))
    full: AIMessageChunk | None = None
    count = 0
    for chunk in model.stream("hi"):
        count += 1
        full = chunk if full is None else full + chunk
    assert full is not None and count > 3
    assert full.content == "Hello there, friend."
    assert full.additional_kwargs["reasoning_content"] == "Greet them warmly."
    assert full.content_blocks[0] == {"type": "reasoning", "reasoning": "Greet them warmly."}
    assert full.usage_metadata is not None and full.usage_metadata["output_tokens"] > 0
    assert arcee_server.last_request.body["stream_options"] == {"include_usage": True}


def test_stream_without_usage_chunk_is_tolerated(
    model: ChatArcee, arcee_server: ArceeTestServer
) -> None:
    arcee_server.set_option(stream_usage=False)
    chunks = list(model.stream("hi"))
    assert "".join(str(c.content) for c in chunks).startswith("You said: hi")
    assert all(c.usage_metadata is None for c in chunks)


async def test_async_invoke_and_stream(model: ChatArcee) -> None:
    reply = await model.ainvoke("async hi")
    assert reply.additional_kwargs["reasoning_content"]
    parts = [c async for c in model.astream("async stream")]
    assert "".join(str(c.content) for c in parts).startswith("You said: async stream")


def test_batch(model: ChatArcee) -> None:
    replies = model.batch(["one", "two", "three"])
    assert [r.content.split("\n")[0][:13] for r in replies] == [
        "You said: one",
        "You said: two",
        "You said: thr",
    ]


def test_stop_and_params_sent(arcee_server: ArceeTestServer) -> None:
    llm = ChatArcee(
        api_key=KEY, base_url=arcee_server.base_url, temperature=0.2, max_tokens=64, stop=["END"]
    )
    llm.invoke("hi", stop=["STOP"])
    body = arcee_server.last_request.body
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.2, 64, ["STOP"])


# ---------------------------------------------------------------- tools & structured output


def test_tool_calling_round_trip(model: ChatArcee, arcee_server: ArceeTestServer) -> None:
    bound = model.bind_tools([get_weather])
    first = bound.invoke("What's the weather in Paris?")
    assert first.tool_calls and first.tool_calls[0]["name"] == "get_weather"
    assert first.content == ""  # Arcee's "\n" on tool-call turns is normalized
    assert arcee_server.last_request.body["tools"][0]["function"]["name"] == "get_weather"
    result = get_weather.invoke(first.tool_calls[0])
    second = bound.invoke([HumanMessage("What's the weather in Paris?"), first, result])
    assert not second.tool_calls and "Sunny" in str(second.content)
    sent = arcee_server.last_request.body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == first.tool_calls[0]["id"] == sent[2]["tool_call_id"]
    assert sent[1]["reasoning_content"] == first.additional_kwargs["reasoning_content"]


def test_streamed_tool_calls(model: ChatArcee) -> None:
    full = None
    for chunk in model.bind_tools([get_weather]).stream("weather in Rome?"):
        full = chunk if full is None else full + chunk
    assert isinstance(full, AIMessageChunk)
    assert full.tool_calls[0]["name"] == "get_weather" and full.tool_calls[0]["args"]


class Person(BaseModel):
    name: str
    age: int


def test_structured_output_function_calling_default(
    model: ChatArcee, arcee_server: ArceeTestServer
) -> None:
    arcee_server.enqueue(
        Reply(tool_calls=[{"name": "Person", "arguments": {"name": "Ada", "age": 36}}])
    )
    result = model.with_structured_output(Person).invoke("Ada is 36")
    assert result == Person(name="Ada", age=36)
    assert "response_format" not in arcee_server.last_request.body
    assert arcee_server.last_request.body["tools"][0]["function"]["name"] == "Person"


def test_structured_output_json_mode(model: ChatArcee, arcee_server: ArceeTestServer) -> None:
    arcee_server.enqueue(Reply(content='{"name": "Bo", "age": 7}'))
    result = model.with_structured_output(Person, method="json_mode").invoke(
        "Return JSON with name and age for Bo, 7"
    )
    assert result == Person(name="Bo", age=7)
    assert arcee_server.last_request.body["response_format"] == {"type": "json_object"}


# ---------------------------------------------------------------- tokens & context window


def test_token_counting_is_offline_and_counts_reasoning_and_tools(
    model: ChatArcee, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tiktoken

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("tiktoken must not be used")

    monkeypatch.setattr(tiktoken, "get_encoding", no_download)
    monkeypatch.setattr(tiktoken, "encoding_for_model", no_download)
    plain = [HumanMessage("hello"), AIMessage("hi there")]
    thinking = [
        HumanMessage("hello"),
        AIMessage("hi there", additional_kwargs={"reasoning_content": "x" * 400}),
    ]
    calling = [
        HumanMessage("hello"),
        AIMessage(
            "", tool_calls=[{"name": "get_weather", "args": {"city": "Paris" * 20}, "id": "c"}]
        ),
    ]
    base = model.get_num_tokens_from_messages(plain)
    assert model.get_num_tokens_from_messages(thinking) >= base + 100
    assert model.get_num_tokens_from_messages(calling) > base
    assert model.get_num_tokens_from_messages(plain, tools=[get_weather]) > base
    assert model.get_num_tokens("abcd" * 10) == 10


def test_context_window_defaults_and_override(arcee_server: ArceeTestServer) -> None:
    assert ChatArcee(api_key=KEY).context_window == 131_072  # hosted limit, not /models' 262k
    assert ChatArcee(api_key=KEY, model="trinity-mini").profile["max_input_tokens"] == 131_072
    assert (
        ChatArcee(api_key=KEY, model="someone/new-model").context_window == DEFAULT_CONTEXT_WINDOW
    )
    custom = ChatArcee(api_key=KEY, context_window=8192)
    assert custom.context_window == 8192 and custom.profile["max_input_tokens"] == 8192
    with pytest.raises(ValueError, match="context_window"):
        ChatArcee(api_key=KEY, context_window=0)


def test_context_window_from_models_endpoint(arcee_server: ArceeTestServer) -> None:
    rows = {
        m.id: m.context_length for m in list_models(api_key=KEY, base_url=arcee_server.base_url)
    }
    assert rows["trinity-large-thinking"] == 262_144
    native = ChatArcee(api_key=KEY, base_url=arcee_server.base_url)
    assert native.refresh_context_window() == 262_144  # opting in to what /models reports
    llm = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, model="zai-org/GLM-4.6")
    assert llm.context_window == DEFAULT_CONTEXT_WINDOW
    assert llm.refresh_context_window() == 202_752
    assert llm.profile["max_input_tokens"] == 202_752


# ---------------------------------------------------------------- errors & retries


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_client_errors_carry_arcee_message_and_are_not_retried(
    arcee_server: ArceeTestServer, status: int
) -> None:
    llm = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, max_retries=3)
    arcee_server.fail_next(status, f"problem number {status}", times=None)
    with pytest.raises(openai.APIStatusError) as info:
        llm.invoke("hi")
    assert f"Arcee API error {status}: problem number {status}" in str(info.value)
    assert info.value.status_code == status
    assert arcee_server.count("chat") == 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried(arcee_server: ArceeTestServer, status: int) -> None:
    llm = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, max_retries=2)
    arcee_server.fail_next(status, "busy", times=2, retry_after=0.01)
    assert llm.invoke("hi").content
    assert arcee_server.count("chat") == 3


def test_openai_style_error_body(arcee_server: ArceeTestServer, model: ChatArcee) -> None:
    arcee_server.fail_next(400, "bad things", style="openai")
    with pytest.raises(openai.BadRequestError, match="Arcee API error 400: bad things"):
        model.invoke("hi")


def test_default_timeout_is_finite(model: ChatArcee) -> None:
    assert isinstance(ChatArcee(api_key=KEY).request_timeout, float)
    assert model.root_client.timeout == model.request_timeout


def test_typed_transform_is_bypassed(model: ChatArcee, monkeypatch: pytest.MonkeyPatch) -> None:
    import openai.resources.chat.completions.completions as completions_module

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the typed transform must not run")

    monkeypatch.setattr(completions_module, "maybe_transform", forbidden)
    assert model.invoke("fast").content
    assert list(model.stream("fast"))


# ---------------------------------------------------------------- Arcee's own multi-turn example


def test_arcee_multi_turn_example(model: ChatArcee, arcee_server: ArceeTestServer) -> None:
    arcee_server.set_option(strict_reasoning=True)
    first_question = HumanMessage("What is a small language model?")
    first = model.invoke([first_question])
    assert arcee_server.last_request.body["messages"] == [
        {"role": "user", "content": "What is a small language model?"}
    ]
    second_question = HumanMessage("How do they differ from LLMs?")
    model.invoke([first_question, first, second_question])
    assert arcee_server.last_request.body["messages"] == [
        {"role": "user", "content": "What is a small language model?"},
        {
            "role": "assistant",
            "content": first.content,
            "reasoning_content": first.additional_kwargs["reasoning_content"],
        },
        {"role": "user", "content": "How do they differ from LLMs?"},
    ]
    # Dropping the reasoning is what Arcee warns against; the strict server rejects it.
    stripped = AIMessage(content=first.content)
    with pytest.raises(openai.BadRequestError):
        model.invoke([first_question, stripped, second_question])


def test_one_model_across_event_loops(model: ChatArcee) -> None:
    import asyncio

    # Each asyncio.run() has its own loop; httpx pools can't cross loops, so the model keeps
    # one async client per loop.
    first = asyncio.run(model.ainvoke("first loop"))
    second = asyncio.run(model.ainvoke("second loop"))

    async def stream() -> str:
        return "".join([str(chunk.content) async for chunk in model.astream("third loop")])

    third = asyncio.run(stream())
    assert "first loop" in str(first.content) and "second loop" in str(second.content)
    assert "third loop" in third


def test_models_built_per_request_share_warm_connections_and_keep_their_own_keys(
    arcee_server: ArceeTestServer,
) -> None:
    """A server that builds a model per request reuses one HTTP pool, sync and per event loop.

    Each model used to open a pool of its own (a new connection, and sockets left for the
    garbage collector). Sharing the pool must not share credentials: each request carries its
    own model's key.
    """
    import asyncio

    def per_request(key: str) -> ChatArcee:
        return ChatArcee(api_key=key, base_url=arcee_server.base_url, max_retries=0)

    per_request("sk-first-key").invoke("one")
    per_request("sk-second-key").invoke("two")

    async def two_models() -> None:
        await per_request("sk-third-key").ainvoke("three")
        await per_request("sk-fourth-key").ainvoke("four")

    asyncio.run(two_models())
    asyncio.run(two_models())  # a new loop: a new pool, shared again within it
    sent = arcee_server.chat_requests
    assert [r.headers["authorization"] for r in sent] == [
        f"Bearer sk-{name}-key"
        for name in ("first", "second", "third", "fourth", "third", "fourth")
    ]
    ports = [r.peer_port for r in sent]
    assert ports[0] == ports[1]  # the second model's request went over the first's connection
    assert ports[2] == ports[3] and ports[4] == ports[5]  # likewise within each event loop
    assert ports[3] != ports[4]  # a loop's pool is its own


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_opens_its_own_connections(arcee_server: ArceeTestServer) -> None:
    """A pre-forking server's worker must not write to a connection its parent opened.

    The shared HTTP pool is per process: a child forked after the parent's first request
    builds its own instead of inheriting the parent's kept-alive socket.
    """
    import multiprocessing

    def model() -> ChatArcee:
        return ChatArcee(api_key=KEY, base_url=arcee_server.base_url, max_retries=0)

    model().invoke("parent, before the fork")

    def child(done: Any) -> None:
        done.send(str(model().invoke("child").content))

    receiving, sending = multiprocessing.get_context("fork").Pipe(duplex=False)
    worker = multiprocessing.get_context("fork").Process(target=child, args=(sending,))
    worker.start()
    assert "child" in receiving.recv()
    worker.join(timeout=30)
    assert worker.exitcode == 0
    model().invoke("parent, after the fork")
    ports = {r.body["messages"][-1]["content"]: r.peer_port for r in arcee_server.chat_requests}
    assert ports["child"] != ports["parent, before the fork"]  # the child's own connection
    assert ports["parent, after the fork"] == ports["parent, before the fork"]  # intact


def test_a_process_closes_its_shared_connections_when_it_exits(
    arcee_server: ArceeTestServer,
) -> None:
    # The process-wide pool opened them: left to the interpreter's teardown, each kept-alive
    # socket was reported unclosed (ResourceWarning) as the process exited.
    code = (
        "from langchain_arcee import ChatArcee\n"
        f"model = ChatArcee(api_key='{KEY}', base_url='{arcee_server.base_url}', max_retries=0)\n"
        "model.invoke('hi')\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert arcee_server.count("chat") == 1
    assert "ResourceWarning" not in done.stderr, done.stderr


def test_successive_event_loops_leave_no_loop_or_pool_behind(
    arcee_server: ArceeTestServer,
) -> None:
    """Each ``asyncio.run()`` gets its own pool; once that loop has closed, nothing keeps it.

    A pooled connection references its loop through its transport, so pools kept in a
    ``WeakKeyDictionary`` keyed by the loop kept every loop (and its sockets) alive.
    """
    import asyncio
    import warnings

    before = live_event_loops()
    kept = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, max_retries=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # sockets of closed loops, collected
        for index in range(12):
            fresh = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, max_retries=0)
            asyncio.run(fresh.ainvoke(f"fresh {index}"))
            asyncio.run(kept.ainvoke(f"kept {index}"))  # one model across the loops
        del fresh
        assert live_event_loops() - before <= 1  # at most the last loop, until a new one arrives


def test_structured_output_json_schema_is_opt_in(
    model: ChatArcee, arcee_server: ArceeTestServer
) -> None:
    arcee_server.enqueue(Reply(content='{"name": "Cy", "age": 5}'))
    result = model.with_structured_output(Person, method="json_schema").invoke("Cy is 5")
    assert result == Person(name="Cy", age=5)
    response_format = arcee_server.last_request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Person"


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_field_none_sends_no_reasoning(
    arcee_server: ArceeTestServer, stream: bool
) -> None:
    """For OpenAI-compatible servers that reject unknown message fields."""
    llm = ChatArcee(api_key=KEY, base_url=arcee_server.base_url, reasoning_field=None)
    history = [
        HumanMessage("a"),
        AIMessage("b", additional_kwargs={"reasoning_content": "r"}),
        AIMessage([{"type": "reasoning", "reasoning": "r2"}, {"type": "text", "text": "c"}]),
        HumanMessage("d"),
    ]
    reply = llm.invoke(history) if not stream else sum(llm.stream(history), AIMessageChunk(""))
    sent = arcee_server.last_request.body["messages"]
    assert sent[1] == {"role": "assistant", "content": "b"}
    assert sent[2] == {"role": "assistant", "content": "c"}
    assert not any(key.startswith("reasoning") for message in sent for key in message)
    assert reply.additional_kwargs["reasoning_content"]  # reasoning is still read from replies
