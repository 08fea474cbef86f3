"""The API key never shows: reprs, DEBUG logs, errors and tracebacks, dumpd, exported
conversations, stored rows, and every recorded cassette."""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from langchain_core.load import dumpd

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
