"""The API key never shows: reprs, DEBUG logs, errors and tracebacks, dumpd, exported
conversations, stored rows, and every recorded cassette."""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import openai
import pytest
from langchain_core.load import dumpd
from langchain_core.messages import HumanMessage

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores.postgres import PostgresChatStore
from langchain_arcee.stores.redis import RedisChatStore
from tests.arcee_server import ArceeTestServer
from tests.cassette_config import CASSETTE_DIR
from tests.reliability.support import KEY, StoreUnderTest, cfg, unique

pytestmark = pytest.mark.loopback

LEAK_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"(?im)^\s*['\"]?authorization['\"]?\s*[:=]"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"),
    re.compile(re.escape(KEY)),
)


def leaks(text: str) -> list[str]:
    """Secret-looking substrings of ``text``."""
    return [m.group(0) for pattern in LEAK_PATTERNS for m in pattern.finditer(text)]


def test_key_absent_from_reprs_dumpd_logs_exports_and_rows(
    sut: StoreUnderTest,
    make_model: Callable[..., ChatArcee],
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = make_model()
    chat = RunnableWithMemory(model, sut.store)
    session = unique("s")
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpcore", "langchain_arcee"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    chat.invoke("hello", cfg(session))
    list(chat.stream("again", cfg(session)))
    texts = {
        "repr(model)": repr(model),
        "str(model)": str(model),
        "repr(chat)": repr(chat),
        "repr(store)": repr(sut.store),
        "dumpd(model)": json.dumps(dumpd(model)),
        "dumpd(chat)": json.dumps(dumpd(chat), default=repr),
        "export": json.dumps(sut.store.export(session)),
        "logs": caplog.text,
    }
    assert caplog.text  # DEBUG logging really was captured
    for where, text in texts.items():
        assert KEY not in text, where
        assert leaks(text) == [], where


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_key_absent_from_auth_error_and_its_traceback(
    arcee_server: ArceeTestServer,
    make_model: Callable[..., ChatArcee],
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    arcee_server.fail_next(401, "Invalid API key provided", times=None)
    model = make_model()
    with pytest.raises(openai.AuthenticationError) as info:
        model.invoke("hi") if mode == "invoke" else list(model.stream("hi"))
    rendered = "".join(traceback.format_exception(info.value))
    for text in (str(info.value), repr(info.value), rendered, caplog.text):
        assert KEY not in text
        assert leaks(text) == []
    assert "Arcee API error 401: Invalid API key provided" in str(info.value)


def test_store_reprs_hide_passwords() -> None:
    pg = PostgresChatStore("postgresql://arcee:pg-s3cret-pw@127.0.0.1:1/db")
    rd = RedisChatStore("redis://:rd-s3cret-pw@127.0.0.1:1/0")
    assert "pg-s3cret-pw" not in repr(pg)
    assert "rd-s3cret-pw" not in repr(rd)


def scan_cassettes(root: Path) -> dict[str, list[str]]:
    """Secret-looking strings per file under ``root``."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            hits = leaks(path.read_text(encoding="utf-8", errors="replace"))
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


def test_no_cassette_holds_a_secret() -> None:
    assert CASSETTE_DIR.is_dir()
    assert scan_cassettes(CASSETTE_DIR) == {}


def test_cassette_scanner_finds_planted_secrets(tmp_path: Path) -> None:
    planted = {
        "a.yaml": "    authorization:\n    - Bearer abcdef123456\n",
        "b.yaml": f"body: {KEY}\n",
        "c.json": '{"Authorization": "Bearer sk-live-0123456789abcdef"}',
        "clean.yaml": "headers:\n  content-type: [application/json]\n",
    }
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    assert sorted(scan_cassettes(tmp_path)) == ["a.yaml", "b.yaml", "c.json"]


# ---- credentials in URLs (issue 9) ---------------------------------------------------------
PW = "pw-Zq7-s3cret"
"""A database/gateway password planted in URLs: it must never show anywhere."""


def _closed_port() -> int:
    from tests.reliability.support import free_port

    return free_port()


def store_urls(postgres_ok: bool) -> dict[str, str]:
    """URLs with a password (user-info and query string) whose connections must fail."""
    port = _closed_port()
    urls = {
        "pg-userinfo-closed-port": f"postgresql://postgres:{PW}@127.0.0.1:{port}/test",
        "pg-query-closed-port": f"postgresql://postgres@127.0.0.1:{port}/test?password={PW}",
        "redis-userinfo-closed-port": f"redis://:{PW}@127.0.0.1:{port}/0",
        "redis-query-closed-port": f"redis://127.0.0.1:{port}/0?password={PW}",
    }
    if postgres_ok:  # a real server answering: the database does not exist
        urls["pg-missing-db"] = f"postgresql://postgres:{PW}@127.0.0.1:5432/no_such_db_9"
    return urls


def _postgres_reachable() -> bool:
    from tests.conftest import DEFAULT_POSTGRES_URL, _probe_postgres

    return _probe_postgres(DEFAULT_POSTGRES_URL) is None


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_store_passwords_absent_from_repr_url_and_errors(mode: str) -> None:
    from langchain_arcee.stores import StoreError, store_from_url

    for name, url in store_urls(_postgres_reachable()).items():
        store = store_from_url(url)
        with pytest.raises(StoreError) as info:
            if mode == "sync":
                store.append("s", [HumanMessage("hi")])
            else:
                await store.aappend("s", [HumanMessage("hi")])
        await store.aclose()
        texts = {
            "repr": repr(store),
            "url": str(getattr(store, "url", "")),
            "error": str(info.value),
        }
        for where, text in texts.items():
            assert PW not in text, f"{name}: {where}: {text}"
        assert "***" in unquote(texts["url"]), name  # the redacted URL is still shown


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://u:{PW}@127.0.0.1/db",
        f"oracle://h/db?password={PW}",
        f"redis://u:{PW}@127.0.0.1:notaport/0",
        f"postgresql://u:{PW}@127.0.0.1:notaport/db",
        f"sqlite+pysqlite://u:{PW}@h/:memory:",
    ],
    ids=["unknown-scheme", "unknown-scheme-query", "redis-bad-port", "pg-bad-port", "sqlite-mem"],
)
def test_store_from_url_errors_hide_passwords(url: str) -> None:
    from langchain_arcee.stores import store_from_url

    with pytest.raises(ValueError) as info:
        store_from_url(url)
    rendered = "".join(traceback.format_exception(info.value))
    assert PW not in rendered


def test_arcee_chat_stderr_hides_store_and_base_url_passwords(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_arcee.cli import main

    monkeypatch.setenv("ARCEE_API_KEY", KEY)
    port = _closed_port()
    runs = [
        ["--store", f"mysql://u:{PW}@127.0.0.1/db", "-m", "hi"],
        ["--store", f"redis://:{PW}@127.0.0.1:{port}/0", "-m", "hi"],
        ["--store", f"postgresql://postgres@127.0.0.1:{port}/test?password={PW}", "-m", "hi"],
        [
            "--store",
            str(tmp_path / "c.db"),
            "--base-url",
            f"http://gw:{PW}@127.0.0.1:{port}/api/v1",
            "-m",
            "hi",
        ],
    ]
    for argv in runs:
        code = main(argv)
        out = capsys.readouterr()
        assert code != 0, argv
        assert out.err.strip(), argv
        assert PW not in out.err + out.out, out.err


def test_base_url_credentials_absent_from_dumpd_repr_traces_logs_and_errors(
    arcee_server: ArceeTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.load import load

    seen: list[str] = []

    class Recorder(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            seen.append(json.dumps([serialized, kwargs], default=repr))

        def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
            seen.append("".join(traceback.format_exception(error)) + repr(vars(error)))

    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpx2", "httpcore", "langchain_arcee"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    closed = f"http://gw:{PW}@127.0.0.1:{_closed_port()}/api/v1"
    live = arcee_server.base_url.replace("http://", f"http://gw:{PW}@")
    proxy = f"http://p:{PW}@127.0.0.1:{_closed_port()}"
    for url in (closed, live):
        model = ChatArcee(api_key=KEY, base_url=url, max_retries=0, timeout=5)
        with pytest.raises(openai.APIError) as info:
            model.invoke("hi", config={"callbacks": [Recorder()]})
        with pytest.raises(openai.APIError):
            list(model.stream("hi", config={"callbacks": [Recorder()]}))
        seen.append("".join(traceback.format_exception(info.value)) + repr(vars(info.value)))
        seen.extend([repr(model), str(model), json.dumps(dumpd(model))])
        seen.append(json.dumps(model._get_ls_params()) + json.dumps(model._identifying_params))
        secrets = {"ARCEE_API_KEY": KEY, "ARCEE_API_BASE": url}
        restored = load(
            dumpd(model),
            secrets_map=secrets,
            valid_namespaces=["langchain_arcee"],
            allowed_objects=[ChatArcee],
        )
        assert restored.openai_api_base == url  # the secret reference restores it
    seen.append(repr(ChatArcee(api_key=KEY, openai_proxy=proxy)))
    seen.append(json.dumps(dumpd(ChatArcee(api_key=KEY, openai_proxy=proxy))))
    assert caplog.text
    assert len(seen) > 10
    for text in [*seen, caplog.text]:
        assert PW not in text


def test_base_url_credentials_still_reach_the_server_as_basic_auth(
    arcee_server: ArceeTestServer,
) -> None:
    import base64

    model = ChatArcee(
        api_key=KEY, base_url=arcee_server.base_url.replace("http://", f"http://gw:{PW}@")
    )
    with pytest.raises(openai.AuthenticationError):  # the test server wants the bearer key
        model.invoke("hi")
    expected = "Basic " + base64.b64encode(f"gw:{PW}".encode()).decode()
    assert arcee_server.requests[-1].headers["authorization"] == expected


def test_arcee_chat_creates_its_database_private(
    tmp_path: Path,
    arcee_server: ArceeTestServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import os
    import stat

    from langchain_arcee.cli import main

    home = tmp_path / "new" / "arcee-home"
    monkeypatch.setenv("ARCEE_CHAT_HOME", str(home))
    monkeypatch.setenv("ARCEE_API_KEY", KEY)
    previous = os.umask(0o022)  # the usual umask, under which files default to 0644
    try:
        assert main(["--base-url", arcee_server.base_url, "-m", "hello"]) == 0
    finally:
        os.umask(previous)
    capsys.readouterr()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    db_files = sorted(home.iterdir())
    assert db_files, "no database was created"
    for path in db_files:  # chats.db and SQLite's -wal/-shm companions
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
