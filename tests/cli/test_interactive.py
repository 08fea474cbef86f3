"""``arcee-chat`` through a pseudo-terminal: streaming, slash commands, Ctrl-C, exit."""

from __future__ import annotations

import json
import re

import pexpect
import pytest

from tests.arcee_server import DEFAULT_MODELS
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


def test_terminal_shows_waiting_labelled_reasoning_markdown_and_usage(cli: Cli) -> None:
    child = start(cli, "--session", "tty")
    child.sendline("Hello **Arcee**")
    # A waiting indicator until the first token, then labelled reasoning, then the answer.
    child.expect_exact(PROMPT)
    out = child.before
    shown = plain(out)
    order = [
        shown.index(part)
        for part in (
            "waiting for trinity-large-thinking",
            "Reasoning\n",
            "The user asked: Hello **Arcee**. Thinking about it.",
            "Answer\n",
            "You said: Hello Arcee",
        )
    ]
    assert order == sorted(order), shown
    assert "\x1b[2;3mThe " in out  # reasoning is dim italic, the answer is not
    # The answer's Markdown is rendered (bold), not shown as raw asterisks.
    assert "You said: Hello \x1b[1mArcee\x1b[0m (history: 1 messages)" in out
    assert "You said: Hello **Arcee**" not in plain(out)
    assert re.search(r"\[\d+ in \+ \d+ out tokens \(\d+ reasoning\); /usage for totals\]", out)
    quit_(child)


def test_resume_after_restart_says_so_and_shows_the_last_exchange(cli: Cli) -> None:
    child = start(cli, "--session", "tty", "--plain")
    say(child, "First question")
    say(child, "Second question")
    quit_(child)

    # A new process resumes the session: it says so, shows the last exchange, sends the history.
    child = cli.spawn("--session", "tty", "--plain")
    child.expect_exact(PROMPT)
    banner = plain(child.before)
    assert "Resumed session 'tty' (4 messages). Last exchange:" in banner
    assert "you:\nSecond question" in banner
    assert "You said: Second question (history: 3 messages)" in banner
    assert "First question" not in banner
    say(child, "Third")
    assert [r for r, _ in texts(cli.sent_messages(-1))] == ["user", "assistant"] * 2 + ["user"]
    quit_(child)


def test_plain_flag_and_no_reasoning(cli: Cli) -> None:
    child = start(cli, "--plain")
    out = child_output = say(child, "hi **there**")
    assert "[reasoning] The user asked: hi **there**" in out
    assert "[answer] You said: hi **there** (history: 1 messages)" in out
    assert ANSI.search(child_output.replace(PROMPT, "")) is None
    quit_(child)

    child = start(cli, "--no-reasoning", "--plain")
    out = say(child, "hi")
    assert "You said: hi" in out
    assert "The user asked" not in out
    quit_(child)


def test_no_reasoning_on_a_terminal(cli: Cli) -> None:
    child = start(cli, "--no-reasoning")
    out = say(child, "hi")
    assert "You said: hi" in out
    assert "The user asked" not in out
    assert "Reasoning" not in out
    quit_(child)


def test_history_sessions_new_resume_clear(cli: Cli) -> None:
    child = start(cli, "--session", "alpha", "--plain")
    say(child, "first message")
    out = say(child, "/history")
    assert "you:\nfirst message" in out
    assert "[reasoning] The user asked: first message" in out
    assert "You said: first message (history: 1 messages)" in out

    out = say(child, "/new")
    assert re.search(r"Started new session 'chat-\d{8}-\d{6}(-\d+)?'", out)
    new_id = re.search(r"'(chat-\d{8}-\d{6}(?:-\d+)?)'", out).group(1)
    assert "is empty" in say(child, "/history")
    say(child, "in the new session")
    assert texts(cli.sent_messages(-1)) == [("user", "in the new session")]

    out = say(child, "/sessions")
    assert re.search(rf"\* {new_id}\s+\(2 messages\)", out), out
    assert re.search(r"  alpha\s+\(2 messages\)", out), out

    # /new on an existing name refuses (it used to resume it silently, saying "Started").
    out = say(child, "/new alpha")
    assert "Session 'alpha' already exists (2 messages): /resume alpha continues it" in out
    say(child, "still in the new one")
    assert texts(cli.sent_messages(-1))[0] == ("user", "in the new session")

    out = say(child, "/resume alpha")
    assert "Resumed session 'alpha' (2 messages). Last exchange:" in out
    assert "you:\nfirst message" in out
    assert "No stored session 'nope'" in say(child, "/resume nope")
    assert f"Resumed session {new_id!r}" in say(child, f"/switch {new_id}")
    say(child, "/resume alpha")

    out = say(child, "/clear")
    assert "Cleared session 'alpha' (2 messages removed)" in out
    assert cli.stored("alpha") == []
    assert len(cli.stored(new_id)) == 4
    say(child, "after clear")
    assert texts(cli.sent_messages(-1)) == [("user", "after clear")]

    out = say(child, "/help")
    for name in (
        "/new",
        "/resume",
        "/sessions",
        "/history",
        "/usage",
        "/multi",
        "/export",
        "/clear",
        "/quit",
        "/help",
    ):
        assert name in out
    assert "Unknown command /nope" in say(child, "/nope")
    quit_(child)


def test_bracketed_paste_is_one_message(cli: Cli) -> None:
    child = start(cli, "--session", "paste", "--plain")
    # What a terminal sends for a pasted diff: the block between paste markers, then Enter.
    child.send("\x1b[200~--- a/f.py\n+++ b/f.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n\x1b[201~")
    child.send("\r")
    child.expect_exact(PROMPT)
    assert cli.server.count("chat") == 1
    sent = texts(cli.sent_messages(-1))
    assert sent == [("user", "--- a/f.py\n+++ b/f.py\n@@ -1 +1 @@\n-x = 1\n+x = 2")]
    assert [m.type for m in cli.stored("paste")] == ["human", "ai"]
    quit_(child)


def test_multi_command_and_multiline_flag(cli: Cli) -> None:
    child = start(cli, "--session", "multi", "--plain")
    child.sendline("/multi")
    child.expect_exact("...> ")
    child.sendline("line one")
    child.expect_exact("...> ")
    child.sendline("/not a command here")
    child.expect_exact("...> ")
    child.sendline("/end")
    child.expect_exact(PROMPT)
    assert texts(cli.sent_messages(-1))[-1] == ("user", "line one\n/not a command here")
    quit_(child)

    child = start(cli, "--session", "multi2", "--plain", "--multiline")
    child.sendline("first")
    child.expect_exact("...> ")
    child.sendline("second")
    child.expect_exact("...> ")
    child.sendline("/end")
    child.expect_exact(PROMPT)
    assert texts(cli.sent_messages(-1)) == [("user", "first\nsecond")]
    # Commands still work on the first line in multi-line mode.
    assert "you:\nfirst\nsecond" in say(child, "/history")
    quit_(child)


def test_usage_command_shows_tokens_and_cost_when_models_gives_prices(cli: Cli) -> None:
    rows = tuple(
        {**row, "pricing": {"prompt": "0.00000025", "completion": "0.0000008"}}
        if row["id"] == "trinity-large-thinking"
        else row
        for row in DEFAULT_MODELS
    )
    cli.server.set_option(models=rows)
    child = start(cli, "--session", "cost", "--plain")
    out = say(child, "How much does this cost?")
    line = re.search(r"\[(\d+) in \+ (\d+) out tokens \((\d+) reasoning\), \$([\d.]+);", out)
    assert line, out
    tokens_in, tokens_out = int(line.group(1)), int(line.group(2))
    expected = tokens_in * 0.25e-6 + tokens_out * 0.8e-6
    assert float(line.group(4)) == pytest.approx(expected, abs=1e-6)
    # The server's own counts are what is shown (its last usage chunk).
    usage = cli.stored("cost")[1].usage_metadata
    assert (usage["input_tokens"], usage["output_tokens"]) == (tokens_in, tokens_out)
    say(child, "again")
    out = say(child, "/usage")
    assert "Last reply:" in out
    session = re.search(r"Session 'cost' \(all stored replies\): ([\d,]+) in \+ ([\d,]+) out", out)
    stored = [m.usage_metadata for m in cli.stored("cost") if m.type == "ai"]
    assert int(session.group(1)) == sum(u["input_tokens"] for u in stored)
    assert int(session.group(2)) == sum(u["output_tokens"] for u in stored)
    assert "$" in out
    quit_(child)


def test_usage_without_prices_shows_tokens_only(cli: Cli) -> None:
    child = start(cli, "--session", "free", "--plain")
    say(child, "hi")
    out = say(child, "/usage")
    assert "$" not in out
    assert "no cost shown" in out
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
    child.expect_exact("Reasoning")  # the reply has started streaming
    child.expect_exact("asked")
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


def test_one_shot_on_a_terminal_renders_like_the_chat(cli: Cli) -> None:
    child = cli.spawn("-m", "Hello **Arcee**", "--session", "one")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    out = child.before
    shown = plain(out)
    assert shown.index("Reasoning\n") < shown.index("Answer\n") < shown.index("You said: Hello")
    assert "You said: Hello \x1b[1mArcee\x1b[0m" in out  # Markdown rendered
    assert [m.type for m in cli.stored("one")] == ["human", "ai"]


def test_summary_command_and_exports_show_the_running_summary(cli: Cli, tmp_path) -> None:
    from langchain_arcee.stores.base import SessionSummary
    from langchain_arcee.stores.sqlite import SQLiteChatStore

    child = start(cli, "--session", "sum", "--summary")
    say(child, "My name is Bob.")
    assert "has no summary" in say(child, "/summary")
    with SQLiteChatStore(cli.store_path) as store:  # as a summarizer would store it
        assert store.save_summary(
            "sum", SessionSummary("The user is Bob.", 2), expected_covers=None
        )
    out = say(child, "/summary")
    assert "Summary of the first 2 messages" in out and "The user is Bob." in out
    json_path = tmp_path / "sum.json"
    say(child, f"/export {json_path}")
    quit_(child)
    data = json.loads(json_path.read_text())
    assert data["summary"]["text"] == "The user is Bob." and data["summary"]["covers"] == 2
    shown = cli.sessions("show", "sum", "--store", str(cli.store_path))
    assert "Summary of the first 2 messages:\nThe user is Bob." in shown.stdout
    exported = json.loads(cli.sessions("export", "sum", "--store", str(cli.store_path)).stdout)
    assert exported["summary"]["text"] == "The user is Bob."
