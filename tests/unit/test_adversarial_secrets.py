"""Adversarial review of the no-secret-shows promise, paths that need no server: odd URLs,
``model_dump``, the PostgreSQL store's engine, and ``arcee-chat``'s argument errors.

Every test here failed on the code it was written against (each names where the secret showed).
"""

from __future__ import annotations

import contextlib
import json
import socket
import traceback
from pathlib import Path

import pytest
from langchain_core.load import dumpd
from langchain_core.messages import HumanMessage

from langchain_arcee import ChatArcee

KEY = "sk-arcee-adversarial-0a1b2c3d4e5f6789"
PW = "pw-Adv9-s3cret"
B64_PW = "Kq9vX2mLp/7wZr+Tn=="
"""A generated (base64) password: '/' and '+' unencoded, as people paste them into URLs."""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pieces(secret: str) -> list[str]:
    """The secret and each run of 5+ characters of it between URL delimiters."""
    runs = secret.replace("/", " ").replace("#", " ").replace("?", " ").replace("@", " ")
    return [secret, *(run for run in runs.split() if len(run) >= 5)]


def _shown(secret: str, text: str) -> list[str]:
    return [piece for piece in _pieces(secret) if piece in text]


def _everything(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from langchain_arcee.cli import main

    with contextlib.suppress(SystemExit):
        main(argv)
    out = capsys.readouterr()
    return out.out + out.err


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ARCEE_API_KEY", KEY)
    return KEY


# ---- ChatArcee ---------------------------------------------------------------------------------
def test_model_dump_hides_base_url_and_proxy_credentials() -> None:
    # Leak: model_dump()/model_dump_json() return openai_api_base/openai_proxy verbatim.
    model = ChatArcee(
        api_key=KEY, base_url=f"https://gw:{PW}@gw.example/v1", openai_proxy=f"http://p:{PW}@px:1"
    )
    assert PW not in repr(model)  # repr is redacted already
    assert PW not in repr(model.model_dump())
    assert PW not in model.model_dump_json()


@pytest.mark.parametrize("sep", ["/", "#", "?"])
def test_base_url_password_with_a_delimiter_is_not_quoted(sep: str) -> None:
    # Leak: httpx2.InvalidURL "Invalid port: '<first part of the password>'" from ChatArcee().
    secret = f"Kq9vX2mLp{sep}7wZr"
    url = f"https://gw:{secret}@gw.example/v1"
    try:
        model = ChatArcee(api_key=KEY, base_url=url)
    except Exception as error:  # refusing the URL is fine, quoting the password is not
        assert _shown(secret, _everything(error)) == []
    else:
        assert _shown(secret, repr(model) + json.dumps(dumpd(model))) == []


def test_token_only_userinfo_in_base_url_is_treated_as_a_credential() -> None:
    # Leak: https://<token>@host is sent as Basic auth, yet repr/dumpd (tracers) show the token.
    token = "tok-Adv9-0123456789abcdef"
    model = ChatArcee(api_key=KEY, base_url=f"https://{token}@gw.example/v1")
    assert token not in repr(model)
    assert token not in json.dumps(dumpd(model))


# ---- stores ----------------------------------------------------------------------------------
def test_redis_url_password_with_a_slash_is_not_quoted(
    api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Leak: "invalid Redis URL: Port could not be cast ... 'Kq9vX2mLp'"; arcee-chat echoes all.
    from langchain_arcee.stores import store_from_url

    url = f"redis://:{B64_PW}@127.0.0.1:{_closed_port()}/0"
    try:
        store = store_from_url(url)
    except ValueError as error:
        assert _shown(B64_PW, _everything(error)) == []
    else:
        assert _shown(B64_PW, repr(store) + str(store.url)) == []  # type: ignore[attr-defined]
        store.close()
    assert _shown(B64_PW, _cli(["--store", url, "-m", "hi"], capsys)) == []


def test_postgres_engine_hides_a_query_string_password() -> None:
    # Leak: repr(store.engine) and str(store.engine.url) keep ?password=/?sslpassword= values.
    from langchain_arcee.stores.postgres import PostgresChatStore

    port = _closed_port()
    store = PostgresChatStore(
        f"postgresql://postgres@127.0.0.1:{port}/test?password={PW}&sslpassword={PW}x"
    )
    try:
        assert PW not in repr(store)  # the store's own repr is redacted already
        assert PW not in repr(store.engine)
        assert PW not in str(store.engine.url)
    finally:
        store.close()


def test_postgres_password_with_an_unencoded_at_is_not_quoted(
    api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Leak: SQLAlchemy splits at the first '@': StoreError says "failed to resolve host
    # 's3cretpart@127.0.0.1'" (redaction splits at the last '@', so it is not scrubbed).
    from langchain_arcee.stores import StoreError, store_from_url

    secret = "Zq7@s3cretpart"
    url = f"postgresql://u:{secret}@127.0.0.1:{_closed_port()}/db"
    store = store_from_url(url)
    with pytest.raises(StoreError) as info:
        store.append("s", [HumanMessage("hi")])
    store.close()
    assert "s3cretpart" not in _everything(info.value)
    assert "s3cretpart" not in _cli(["--store", url, "-m", "hi"], capsys)


@pytest.mark.parametrize(
    ("scheme", "word"),
    [
        ("postgresql://u:{}@127.0.0.1:{}/db", "connection"),
        ("redis://:{}@127.0.0.1:{}/0", "refused"),
    ],
    ids=["postgres", "redis"],
)
def test_error_text_does_not_depend_on_the_password(scheme: str, word: str) -> None:
    # Leak: scrub() masks every occurrence of a password that is a common word: "*** failed:
    # *** to server" (or "Connection ***.") tells the reader the password is that word.
    from langchain_arcee.stores import StoreError, store_from_url

    port = _closed_port()
    messages = []
    for password in (word, "unrelated-Adv9-pw"):
        store = store_from_url(scheme.format(password, port))
        with pytest.raises(StoreError) as info:
            store.append("s", [HumanMessage("hi")])
        store.close()
        messages.append(str(info.value))
    assert messages[0] == messages[1]


# ---- arcee-chat --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["--stores", f"postgresql://u:{PW}@127.0.0.1:1/db", "-m", "hi"],
        ["-m", "hi", "--store-url", f"redis://:{PW}@127.0.0.1:1/0"],
        ["sessions", "list", "--stores", f"postgresql://u:{PW}@127.0.0.1:1/db"],
    ],
    ids=["typo-store", "unknown-flag", "sessions"],
)
def test_arcee_chat_argument_errors_hide_url_passwords(
    api_key: str, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    # Leak: argparse's "unrecognized arguments: --stores postgresql://u:<pw>@..." on stderr.
    shown = _cli(argv, capsys)
    assert "unrecognized arguments" in shown
    assert PW not in shown


def test_arcee_chat_schemeless_base_url_hides_its_password(
    api_key: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Leak: "the API base URL 'gw:<pw>@gw.example/v1' ... is not an http(s) URL" (no scheme,
    # so redact_url leaves it as is).
    shown = _cli(["--base-url", f"gw:{PW}@gw.example/v1", "-m", "hi"], capsys)
    assert "not an http(s) URL" in shown
    assert PW not in shown
