"""``arcee-chat sessions``: list, show, export, delete and search, for people and scripts."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Cli

pytestmark = pytest.mark.loopback


@pytest.fixture
def two_sessions(cli: Cli) -> Cli:
    for session, question in (("work", "Review my patch"), ("home", "Plan a PICNIC")):
        assert cli.run("-m", question, "--session", session).returncode == 0
    assert cli.run("-m", "And the weekend?", "--session", "home").returncode == 0
    return cli


def sessions(cli: Cli, *args: str):
    return cli.sessions(*args)


def test_list_for_people_and_scripts(two_sessions: Cli) -> None:
    cli = two_sessions
    store = ("--store", str(cli.store_path))
    people = sessions(cli, "list", *store)
    assert people.returncode == 0, people.stderr
    lines = people.stdout.splitlines()
    assert len(lines) == 2
    assert any(line.startswith("home ") and " 4 messages  updated 20" in line for line in lines)
    assert any(line.startswith("work ") and " 2 messages" in line for line in lines)

    # Without a command it lists; --store is accepted before or after the command.
    assert sessions(cli, *store).stdout == people.stdout
    scripts = sessions(cli, *store, "list", "--json")
    rows = {row["session_id"]: row for row in json.loads(scripts.stdout)}
    assert rows["home"]["message_count"] == 4
    assert rows["work"]["message_count"] == 2
    assert rows["work"]["updated_at"].startswith("20")


def test_show_and_export(two_sessions: Cli, tmp_path) -> None:
    cli = two_sessions
    store = ("--store", str(cli.store_path))
    shown = sessions(cli, "show", "home", *store)
    assert shown.returncode == 0
    assert "you:\nPlan a PICNIC" in shown.stdout
    assert "You said: And the weekend? (history: 3 messages)" in shown.stdout

    as_json = json.loads(sessions(cli, "show", "home", "--json", *store).stdout)
    assert [m["type"] for m in as_json["messages"]] == ["human", "ai", "human", "ai"]

    exported = json.loads(sessions(cli, "export", "work", *store).stdout)
    assert exported["session_id"] == "work"
    assert exported["messages"][0]["data"]["content"] == "Review my patch"
    target = tmp_path / "work.json"
    result = sessions(cli, "export", "work", "-o", str(target), *store)
    assert result.returncode == 0
    assert json.loads(target.read_text()) == exported


def test_search_across_sessions(two_sessions: Cli) -> None:
    cli = two_sessions
    store = ("--store", str(cli.store_path))
    result = sessions(cli, "search", "picnic", *store)
    assert result.returncode == 0
    assert "home#0 you: Plan a PICNIC" in result.stdout
    assert "work" not in result.stdout
    hits = json.loads(sessions(cli, "search", "picnic", "--json", *store).stdout)
    assert {(h["session_id"], h["index"], h["field"]) for h in hits} == {
        ("home", 0, "text"),
        ("home", 1, "text"),  # the echo repeats it in the answer
    }
    reasoning_hits = json.loads(sessions(cli, "search", "thinking about", "--json", *store).stdout)
    assert {h["field"] for h in reasoning_hits} == {"reasoning"}
    assert len(reasoning_hits) == 3
    scoped = sessions(cli, "search", "you said", "--session", "work", "--json", *store)
    scoped = json.loads(scoped.stdout)
    assert {h["session_id"] for h in scoped} == {"work"}
    assert "No message contains 'zebra'" in sessions(cli, "search", "zebra", *store).stdout


def test_delete_and_missing_sessions(two_sessions: Cli) -> None:
    cli = two_sessions
    store = ("--store", str(cli.store_path))
    missing = sessions(cli, "delete", "work", "nope", *store)
    assert missing.returncode == 1
    assert "no stored session 'nope'" in missing.stderr
    assert len(cli.stored("work")) == 2  # nothing deleted when one name is wrong

    result = sessions(cli, "delete", "work", *store)
    assert result.returncode == 0
    assert "Deleted session 'work' (2 messages)." in result.stdout
    assert cli.stored("work") == []
    assert len(cli.stored("home")) == 4
    assert sessions(cli, "show", "work", *store).returncode == 1


def test_default_store_and_bad_usage(cli: Cli) -> None:
    assert cli.run("-m", "hello", "--session", "dflt", store=False).returncode == 0
    listed = sessions(cli, "list")  # the default store in ARCEE_CHAT_HOME
    assert listed.stdout.startswith("dflt ")
    bad = sessions(cli, "frobnicate")
    assert bad.returncode == 2
    assert "invalid choice" in bad.stderr


def test_sessions_in_a_terminal(two_sessions: Cli) -> None:
    import pexpect

    cli = two_sessions
    child = cli.spawn("sessions", "show", "home", "--store", str(cli.store_path), raw=True)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    out = child.before
    assert "\x1b[1myou:\x1b[0m" in out  # speakers in bold on a terminal
    assert "Plan a PICNIC" in out
    child = cli.spawn("sessions", "--store", str(cli.store_path), raw=True)
    child.expect(pexpect.EOF)
    assert "home" in child.before
    assert "work" in child.before
