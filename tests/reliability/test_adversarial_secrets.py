"""Adversarial review of the no-secret-shows promise: paths tests/reliability/test_secrets.py
does not take (failing tests are leaks; ``# Guard:`` tests pin paths found clean)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

from langchain_arcee import ChatArcee
from tests.arcee_server import ArceeTestServer, Fault
from tests.reliability.support import KEY, cfg, free_port, unique

pytestmark = pytest.mark.loopback

PW = "pw-Adv9-s3cret"
"""A password planted in URLs: it must never show anywhere."""

DEBUG_LOGGERS = (
    "openai",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "psycopg",
    "redis",
    "sqlalchemy",
    "urllib3",
    "langchain_arcee",
)


def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)


def _exception_texts(error: BaseException) -> str:
    """Everything an error shows: message, traceback (whole chain) and attributes."""
    texts = ["".join(traceback.format_exception(error))]
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        texts.append(repr(current) + repr(getattr(current, "__dict__", {})))
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


async def _call(model: Any, mode: str) -> Any:
    if mode == "invoke":
        return model.invoke("hi")
    if mode == "stream":
        return list(model.stream("hi"))
    if mode == "ainvoke":
        return await model.ainvoke("hi")
    return [chunk async for chunk in model.astream("hi")]


MODES = ["invoke", "stream", "ainvoke", "astream"]


# ---- leaks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
async def test_malformed_response_error_hides_base_url_credentials(
    arcee_server: ArceeTestServer, mode: str
) -> None:
    # Leak: MalformedResponseError.request.url (vars/repr of the error) holds user:password@.
    arcee_server.set_option(require_auth=False)
    arcee_server.inject(Fault(kind="malformed"), times=None)
    url = arcee_server.base_url.replace("http://", f"http://gw:{PW}@")
    model = ChatArcee(api_key=KEY, base_url=url, max_retries=0, timeout=5)
    with pytest.raises(openai.APIError) as info:
        await _call(model, mode)
    assert "malformed" in str(info.value)
    assert PW not in _exception_texts(info.value)
    assert PW not in str(info.value.request.url)


@pytest.mark.parametrize("mode", MODES)
async def test_api_key_echoed_in_a_401_body_is_hidden(
    arcee_server: ArceeTestServer, make_model: Callable[..., ChatArcee], mode: str
) -> None:
    # Leak: transport._make_status_error copies the server's echo of the key into the message.
    arcee_server.fail_next(401, f"Incorrect API key provided: {KEY}", times=None)
    with pytest.raises(openai.AuthenticationError) as info:
        await _call(make_model(), mode)
    assert KEY not in str(info.value)
    assert KEY not in "".join(traceback.format_exception(info.value))


def test_arcee_chat_stderr_hides_a_key_echoed_in_a_401_body(
    tmp_path: Path,
    arcee_server: ArceeTestServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Leak: arcee-chat prints "Arcee API error 401: Incorrect API key provided: <key>".
    from langchain_arcee.cli import main

    monkeypatch.setenv("ARCEE_API_KEY", KEY)
    arcee_server.fail_next(401, f"Incorrect API key provided: {KEY}", times=None)
    store = str(tmp_path / "c.db")
    code = main(["--store", store, "--base-url", arcee_server.base_url, "-m", "hi"])
    out = capsys.readouterr()
    assert code != 0
    assert "401" in out.err
    assert KEY not in out.out + out.err


def test_base_url_query_credentials_absent_from_logs_and_errors(
    arcee_server: ArceeTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Leak: httpx's INFO "HTTP Request: POST ...?api_key=<pw>..." and error.request keep it.
    # Such a base URL is refused at construction (the SDK appended the path after the query
    # string, so every request 404'd): the refusal shows it redacted, and nothing is sent.
    caplog.set_level(logging.INFO)
    with pytest.raises(ValueError, match="query string") as info:
        ChatArcee(
            api_key=KEY, base_url=f"{arcee_server.base_url}?api_key={PW}", max_retries=0, timeout=5
        )
    assert PW not in _exception_texts(info.value)
    assert PW not in caplog.text
    assert arcee_server.requests == []


# ---- guards ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
async def test_guard_proxy_and_timeout_errors_hide_credentials(
    arcee_server: ArceeTestServer, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    # Guard: a refused proxy with user:password, and a timeout on a base_url with credentials.
    _debug_logs(caplog)
    proxy = f"http://p:{PW}@127.0.0.1:{free_port()}"
    model = ChatArcee(
        api_key=KEY, base_url=arcee_server.base_url, openai_proxy=proxy, max_retries=0, timeout=5
    )
    with pytest.raises(openai.APIConnectionError) as refused:
        await _call(model, mode)
    arcee_server.inject(Fault(kind="hang", seconds=2), times=None)
    url = arcee_server.base_url.replace("http://", f"http://gw:{PW}@")
    model = ChatArcee(api_key=KEY, base_url=url, max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError) as timed_out:
        await _call(model, mode)
    for error in (refused.value, timed_out.value):
        assert PW not in _exception_texts(error)
        assert KEY not in _exception_texts(error)
    assert PW not in caplog.text
    assert KEY not in caplog.text


class _Runs(BaseTracer):
    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        self.runs.append(run)


class _Everything(BaseCallbackHandler):
    """Records every callback's arguments."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            seen = object.__getattribute__(self, "seen")
            return lambda *args, **kwargs: seen.append(name + repr((args, kwargs)))
        return object.__getattribute__(self, name)


@pytest.mark.postgres
@pytest.mark.redis
async def test_guard_tracer_payloads_of_memory_over_password_urls(
    arcee_server: ArceeTestServer, postgres_url: str, redis_url: str
) -> None:
    # Guard: tracer runs/callbacks of with_memory on stores whose URLs carry ?password=.
    from langchain_arcee.stores import store_from_url
    from langchain_arcee.stores.postgres import PostgresChatStore

    arcee_server.set_option(require_auth=False)
    url = arcee_server.base_url.replace("http://", f"http://gw:{PW}@")
    model = ChatArcee(api_key=KEY, base_url=url, max_retries=0, timeout=5)
    tag = unique("advs")
    stores = [
        store_from_url(f"{postgres_url}?password={PW}", table_prefix=tag),
        store_from_url(f"{redis_url}?password={PW}", key_prefix=f"{tag}:"),
    ]
    for store in stores:
        tracer, everything = _Runs(), _Everything()
        chat = model.with_memory(store)
        config: Any = {**cfg("s"), "callbacks": [tracer, everything]}
        chat.invoke("hello", config)
        await chat.ainvoke("again", config)
        list(chat.stream("more", config))
        texts = [
            json.dumps([run.model_dump() for run in tracer.runs], default=repr),
            "\n".join(everything.seen),
        ]
        assert tracer.runs and everything.seen
        for text in texts:
            assert PW not in text
            assert KEY not in text
        if isinstance(store, PostgresChatStore):
            store.drop_tables()
        else:
            client = store.client  # type: ignore[attr-defined]
            client.delete(*client.scan_iter(match=f"{tag}:*"))
        await store.aclose()


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[int]:
    """A private redis-server requiring PW (and an ACL user ``alice`` with PW); its port."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server/redis-cli not on PATH")
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)]
    process = subprocess.Popen(
        ["redis-server", *args, "--requirepass", PW],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        cli = ["redis-cli", "-p", str(port), "-a", PW, "--no-auth-warning"]
        for _ in range(100):
            done = subprocess.run([*cli, "PING"], capture_output=True, text=True, check=False)
            if done.stdout.strip() == "PONG":
                break
            time.sleep(0.05)
        acl = ["ACL", "SETUSER", "alice", "on", f">{PW}", "~*", "+@all"]
        subprocess.run([*cli, *acl], check=True, capture_output=True)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("user", ["", "alice"])
async def test_guard_redis_auth_failures_hide_passwords(
    redis_with_password: int, caplog: pytest.LogCaptureFixture, user: str
) -> None:
    # Guard: a wrong password (default and ACL user, userinfo and ?password=) at DEBUG level.
    from langchain_arcee.stores import StoreError, store_from_url

    _debug_logs(caplog)
    wrong = "wr0ng-Adv9-s3cret"
    port = redis_with_password
    urls = [
        f"redis://{user}:{wrong}@127.0.0.1:{port}/0",
        f"redis://{user}@127.0.0.1:{port}/0?password={wrong}",
    ]
    for url in urls:
        store = store_from_url(url, connect_timeout=2)
        with pytest.raises(StoreError) as sync_error:
            store.append("s", [HumanMessage("hi")])
        with pytest.raises(StoreError) as async_error:
            await store.aappend("s", [HumanMessage("hi")])
        shown = repr(store) + str(store.url) + repr(store.client)  # type: ignore[attr-defined]
        await store.aclose()
        errors = (sync_error.value, async_error.value)
        for text in (shown, *(_exception_texts(error) for error in errors)):
            assert wrong not in text
    good = store_from_url(f"redis://{user}:{PW}@127.0.0.1:{port}/0")
    good.append("s", [HumanMessage("hi")])
    assert PW not in repr(good) + repr(good.client)  # type: ignore[attr-defined]
    good.close()
    assert wrong not in caplog.text
    assert PW not in caplog.text
