"""``arcee-chat`` through a pseudo-terminal: streaming, slash commands, Ctrl-C, exit."""

from __future__ import annotations

import json
import re

import pexpect
import pytest

from tests.cli.conftest import Cli, texts

pytestmark = pytest.mark.loopback

PROMPT = "you> "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "")


def start(cli: Cli, *args: str) -> pexpect.spawn:
    child = cli.spawn(*args)
    child.expect_exact(PROMPT)
    return child


def say(child: pexpect.spawn, line: str) -> str:
    """Type a line; return what was printed up to the next prompt (ANSI removed)."""
    child.sendline(line)
    child.expect_exact(PROMPT)
    return plain(child.before)


def quit_(child: pexpect.spawn) -> None:
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_chat_streams_reasoning_dimmed_and_resumes(cli: Cli) -> None:
    child = start(cli, "--session", "tty")
    child.sendline("Hello Arcee")
    # Reasoning is dimmed on a terminal, then the answer follows.
    child.expect_exact("\x1b[2mThe user asked: Hello Arcee")
    child.expect_exact("You said: Hello Arcee (history: 1 messages)")
    child.expect_exact(PROMPT)
    out = say(child, "Second question")
    assert "(history: 3 messages)" in out
    quit_(child)

    # A new process resumes the session: it says so and sends the history.
    child = cli.spawn("--session", "tty")
    child.expect_exact("4 messages stored")
    child.expect_exact(PROMPT)
    say(child, "Third")
    assert [r for r, _ in texts(cli.sent_messages(-1))] == ["user", "assistant"] * 2 + ["user"]
    quit_(child)


def test_no_reasoning_flag_hides_reasoning(cli: Cli) -> None:
    child = start(cli, "--no-reasoning")
    out = say(child, "hi")
    assert "You said: hi" in out
    assert "The user asked" not in out
    quit_(child)


def test_history_sessions_new_clear(cli: Cli) -> None:
    child = start(cli, "--session", "alpha")
    say(child, "first message")
    out = say(child, "/history")
    assert "you:\nfirst message" in out
    assert "arcee:\n[reasoning] The user asked: first message" not in out  # dimmed, not labeled
    assert "The user asked: first message" in out
    assert "You said: first message (history: 1 messages)" in out

    out = say(child, "/new")
    assert re.search(r"Started session 'chat-\d{8}-\d{6}'", out)
    new_id = re.search(r"'(chat-\d{8}-\d{6})'", out).group(1)
    assert "is empty" in say(child, "/history")
    say(child, "in the new session")
    assert texts(cli.sent_messages(-1)) == [("user", "in the new session")]

    out = say(child, "/sessions")
    assert re.search(rf"\* {new_id}\s+\(2 messages\)", out), out
    assert re.search(r"  alpha\s+\(2 messages\)", out), out

    out = say(child, "/new alpha")
    assert "Started session 'alpha'" in out
    out = say(child, "/clear")
    assert "Cleared session 'alpha' (2 messages removed)" in out
    assert cli.stored("alpha") == []
    assert len(cli.stored(new_id)) == 2
    say(child, "after clear")
    assert texts(cli.sent_messages(-1)) == [("user", "after clear")]

    out = say(child, "/help")
    for name in ("/new", "/sessions", "/history", "/export", "/clear", "/quit", "/help"):
        assert name in out
    assert "Unknown command /nope" in say(child, "/nope")
    quit_(child)


def test_export_json_and_markdown(cli: Cli, tmp_path) -> None:
    child = start(cli, "--session", "exp")
    say(child, "What is a small language model?")
    json_path = tmp_path / "chat.json"
    md_path = tmp_path / "chat.md"
    assert f"to {json_path}" in say(child, f"/export {json_path}")
    assert f"to {md_path}" in say(child, f"/export {md_path}")
    assert "use a .json or .md" in say(child, f"/export {tmp_path / 'chat.txt'}")
    quit_(child)

    data = json.loads(json_path.read_text())
    assert data["session_id"] == "exp"
    assert [m["type"] for m in data["messages"]] == ["human", "ai"]
    assert data["messages"][1]["data"]["additional_kwargs"]["reasoning_content"].startswith(
        "The user asked"
    )
    md = md_path.read_text()
    assert md.startswith("# arcee-chat session `exp`")
    assert "## you\n\nWhat is a small language model?" in md
    assert "<details><summary>Reasoning</summary>" in md
    assert "You said: What is a small language model?" in md


def test_ctrl_c_mid_reply_stops_it_and_stores_nothing(cli: Cli) -> None:
    cli.server.set_option(chunk_delay=0.2)
    child = start(cli, "--session", "intr")
    child.sendline("please think slowly about this")
    child.expect_exact("The user asked")  # the reply has started streaming
    child.sendintr()
    child.expect_exact("not saved")
    child.expect_exact(PROMPT)
    assert child.isalive()
    assert cli.stored("intr") == []

    cli.server.set_option(chunk_delay=0.0)
    out = say(child, "next question")
    assert "You said: next question (history: 1 messages)" in out
    # The interrupted turn was not sent as history either.
    assert texts(cli.sent_messages(-1)) == [("user", "next question")]
    assert cli.stored("intr")[0].text == "next question"
    quit_(child)


def test_api_error_keeps_the_chat_running(cli: Cli) -> None:
    child = start(cli, "--session", "err")
    say(child, "one")
    cli.server.fail_next(402, "Insufficient balance")
    out = say(child, "two")
    assert "Arcee API error 402: Insufficient balance" in out
    assert "Traceback" not in out
    assert cli.stored("err")[0].text == "one"
    assert len(cli.stored("err")) == 2
    say(child, "three")
    assert [c for _, c in texts(cli.sent_messages(-1))][-1] == "three"
    assert len(cli.sent_messages(-1)) == 3  # "two" was never stored
    quit_(child)


@pytest.mark.parametrize("key", ["ctrl-d", "ctrl-c"])
def test_ctrl_d_and_ctrl_c_at_prompt_exit_cleanly(cli: Cli, key: str) -> None:
    child = start(cli)
    if key == "ctrl-d":
        child.sendeof()
    else:
        child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in plain(child.before or "")
