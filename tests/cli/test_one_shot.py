"""``arcee-chat -m`` / piped stdin: answers on stdout, turns stored, errors in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.conftest import REPO_ROOT, Cli, cli_env, texts

pytestmark = pytest.mark.loopback


def test_one_shot_prints_answer_on_stdout_and_reasoning_on_stderr(cli: Cli) -> None:
    result = cli.run("-m", "What is a small language model?", "--session", "s1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: What is a small language model? (history: 1 messages)\n"
    assert "[reasoning] The user asked: What is a small language model?" in result.stderr
    assert "Traceback" not in result.stderr
    stored = cli.stored("s1")
    assert [m.type for m in stored] == ["human", "ai"]
    assert stored[1].additional_kwargs["reasoning_content"].startswith("The user asked")
    # The reply was streamed.
    assert cli.server.last_request.body["stream"] is True


def test_no_reasoning_hides_it(cli: Cli) -> None:
    result = cli.run("-m", "hi", "--no-reasoning")
    assert result.returncode == 0
    assert result.stdout.startswith("You said: hi")
    assert result.stderr == ""


def test_question_from_piped_stdin(cli: Cli) -> None:
    result = cli.run("--session", "pipe", stdin="Summarize this please\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("You said: Summarize this please")
    assert cli.stored("pipe")[0].text == "Summarize this please"


def test_resume_after_restart_sends_history(cli: Cli) -> None:
    first = cli.run("-m", "My name is Ada.", "--session", "work")
    assert first.returncode == 0
    second = cli.run("-m", "What is my name?", "--session", "work")
    assert second.returncode == 0
    sent = cli.sent_messages(-1)
    assert texts(sent) == [
        ("user", "My name is Ada."),
        ("assistant", "You said: My name is Ada. (history: 1 messages)"),
        ("user", "What is my name?"),
    ]
    # The earlier reasoning goes back too (Arcee requires it).
    assert sent[1]["reasoning_content"].startswith("The user asked: My name is Ada.")
    assert "(history: 3 messages)" in second.stdout
    assert len(cli.stored("work")) == 4
    # Another session does not see it.
    cli.run("-m", "other", "--session", "elsewhere")
    assert texts(cli.sent_messages(-1)) == [("user", "other")]


def test_system_prompt_is_sent_but_not_stored(cli: Cli) -> None:
    for question in ("one", "two"):
        result = cli.run("-m", question, "--session", "sys", "--system", "Be {brief}.")
        assert result.returncode == 0, result.stderr
    sent = cli.sent_messages(-1)
    assert sent[0] == {"role": "system", "content": "Be {brief}."}
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert [m.type for m in cli.stored("sys")] == ["human", "ai", "human", "ai"]


def test_reasoning_field_flag_sends_reasoning_back_as_vllm_expects(cli: Cli) -> None:
    cli.run("-m", "a", "--session", "v", "--reasoning-field", "reasoning")
    cli.run("-m", "b", "--session", "v", "--reasoning-field", "reasoning")
    assistant = cli.sent_messages(-1)[1]
    assert "reasoning" in assistant
    assert "reasoning_content" not in assistant


def test_model_flag(cli: Cli) -> None:
    result = cli.run("-m", "hi", "--model", "trinity-mini")
    assert result.returncode == 0
    assert cli.server.last_request.body["model"] == "trinity-mini"


def test_no_key_exits_2_with_one_line(cli: Cli) -> None:
    result = cli.run("-m", "hi", api_key=None)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ARCEE_API_KEY" in lines[0]
    assert "Traceback" not in result.stderr
    assert cli.server.count("chat") == 0
    assert not cli.store_path.exists()


def test_no_key_interactive_also_exits_2(cli: Cli) -> None:
    result = cli.run(api_key=None, stdin="")
    assert result.returncode == 2
    assert "ARCEE_API_KEY" in result.stderr


def test_api_error_prints_arcee_message_and_stores_nothing(cli: Cli) -> None:
    assert cli.run("-m", "first", "--session", "pay").returncode == 0
    cli.server.fail_next(402, "Insufficient balance")
    result = cli.run("-m", "second", "--session", "pay")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Arcee API error 402: Insufficient balance" in lines[0]
    assert "not saved" in lines[0]
    assert [m.text for m in cli.stored("pay")] == [
        "first",
        "You said: first (history: 1 messages)",
    ]


def test_stream_cut_midway_says_the_connection_dropped_and_stores_nothing(cli: Cli) -> None:
    cli.server.cut_stream_next(after_chunks=4)
    result = cli.run("-m", "hello", "--session", "cut", "--no-reasoning")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"the connection to {cli.server.base_url} dropped mid-reply" in lines[0]
    assert "cannot reach" not in lines[0]
    assert "not saved" in lines[0]
    assert cli.stored("cut") == []


def test_401_says_to_check_the_api_key(cli: Cli) -> None:
    cli.server.fail_next(401, "Invalid API key")
    result = cli.run("-m", "hi", "--session", "auth")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Arcee API error 401: Invalid API key" in lines[0]
    assert "check ARCEE_API_KEY" in lines[0]
    assert "test" not in lines[0].replace("test server", "")  # the key itself is never shown
    assert cli.server.count("chat") == 1  # a 401 is not retried


@pytest.mark.parametrize("env", [False, True])
def test_a_base_url_that_is_not_a_url_is_refused_before_anything_is_sent(
    cli: Cli, env: bool
) -> None:
    if env:
        result = subprocess.run(
            [sys.executable, "-m", "langchain_arcee", "-m", "hi", "--store", str(cli.store_path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO_ROOT,
            env={**cli_env(cli.home), "ARCEE_BASE_URL": "notaurl"},
        )
    else:
        result = cli.run("-m", "hi", "--base-url", "notaurl")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "'notaurl'" in lines[0]
    assert "is not an http(s) URL" in lines[0]
    assert not cli.store_path.exists()  # refused before the store (or anything) was opened


def test_a_wrong_base_path_names_the_url_tried(cli: Cli) -> None:
    wrong = cli.server.base_url.replace("/api/v1", "/v1")
    result = cli.run("-m", "hi", "--base-url", wrong, "--session", "path")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "404" in lines[0]
    assert f"URL tried: POST {wrong}/chat/completions" in lines[0]
    assert cli.stored("path") == []


def test_unreachable_server_is_one_line(cli: Cli, tmp_path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = cli.run(
        "-m", "hi", "--base-url", f"http://127.0.0.1:{port}/api/v1", "--session", "down"
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot reach http://127.0.0.1:{port}/api/v1" in lines[0]
    assert cli.stored("down") == []


def test_bad_store_is_one_line(cli: Cli) -> None:
    result = cli.run("-m", "hi", "--store", "mongodb://nowhere", store=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "cannot open the store" in lines[0]


def test_store_error_is_one_line(cli: Cli, tmp_path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file, not a folder")
    result = cli.run("-m", "hi", "--store", str(blocked / "chats.db"), store=False)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_default_store_lives_in_arcee_chat_home(cli: Cli) -> None:
    result = cli.run("-m", "remember me", "--session", "h", store=False)
    assert result.returncode == 0, result.stderr
    assert (cli.home / "chats.db").exists()
    again = cli.run("-m", "again", "--session", "h", store=False)
    assert again.returncode == 0
    assert texts(cli.sent_messages(-1))[0] == ("user", "remember me")


@pytest.mark.postgres
def test_store_flag_takes_a_postgres_url(cli: Cli, postgres_url: str) -> None:
    _resume_through_store_url(cli, postgres_url)


@pytest.mark.redis
def test_store_flag_takes_a_redis_url(cli: Cli, redis_url: str) -> None:
    _resume_through_store_url(cli, redis_url)


def _resume_through_store_url(cli: Cli, url: str) -> None:
    from uuid import uuid4

    from langchain_arcee.stores import store_from_url

    session = f"cli-{uuid4().hex}"
    try:
        for question in ("first", "second"):
            result = cli.run("-m", question, "--session", session, "--store", url, store=False)
            assert result.returncode == 0, result.stderr
        assert texts(cli.sent_messages(-1))[0] == ("user", "first")
    finally:
        store = store_from_url(url)
        assert store.count(session) == 4
        store.delete(session)
        store.close()
