"""Every example in ``examples/`` runs as a subprocess: replayed from its cassette, or against
the loopback Arcee-format server (``ARCEE_BASE_URL``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.arcee_server import ArceeTestServer

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"


def run_example(
    name: str, server: ArceeTestServer | None = None, **env_vars: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARCEE", "OPENAI"))}
    if server is not None:
        env["ARCEE_API_KEY"] = "test"
        env["ARCEE_BASE_URL"] = server.base_url
    env.update(env_vars)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_every_example_is_tested() -> None:
    tested = {
        "multi_turn.py",
        "chain_with_memory.py",
        "agent_with_memory.py",
        "sqlite_persistence.py",
        "postgres_and_redis.py",
        "wire_log.py",  # helper shared by the examples
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_multi_turn_replays_the_cassette_without_a_key() -> None:
    out = run_example("multi_turn.py").stdout
    first_line = out.splitlines()[0]
    assert first_line.startswith("No ARCEE_API_KEY: replaying the recorded cassette")
    assert "cassettes/examples/multi_turn.yaml" in first_line
    assert "not live Arcee" in first_line
    # Round 2's request carries round 1 (with its reasoning): the cassette matches on the body.
    assert "--- request 2: 3 messages sent ---" in out
    assert "(reasoning: The user asked: What is a small language model?" in out


@pytest.mark.loopback
def test_multi_turn_live_against_the_loopback_server(arcee_server: ArceeTestServer) -> None:
    out = run_example("multi_turn.py", arcee_server).stdout
    assert out.splitlines()[0] == f"Calling {arcee_server.base_url} with ARCEE_API_KEY"
    second = arcee_server.chat_requests[1].body["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[0]["content"] == "What is a small language model?"
    assert second[1]["reasoning_content"]
    assert second[2]["content"] == "How do they differ from LLMs?"


@pytest.mark.loopback
def test_chain_with_memory(arcee_server: ArceeTestServer) -> None:
    out = run_example("chain_with_memory.py", arcee_server).stdout
    assert "no system message" in out
    second = arcee_server.chat_requests[1].body["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[0]["content"] == "You are a concise assistant. Answer in English."
    assert second[1]["content"] == "My favourite fruit is the mango."


@pytest.mark.loopback
def test_agent_with_memory(arcee_server: ArceeTestServer) -> None:
    out = run_example("agent_with_memory.py", arcee_server).stdout
    assert "tool_calls=[get_weather({'city': 'Paris'})]" in out
    requests = arcee_server.chat_requests
    assert len(requests) == 4  # two tool loops
    turn_2_first = requests[2].body["messages"]
    assert [m["role"] for m in turn_2_first] == ["user", "assistant", "tool", "assistant", "user"]
    assert turn_2_first[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert turn_2_first[1]["reasoning_content"]
    assert turn_2_first[2]["content"] == "Sunny, 22 C in Paris"
    assert "8 messages stored in total" in out


@pytest.mark.loopback
def test_sqlite_persistence_survives_a_restart(
    arcee_server: ArceeTestServer, tmp_path: Path
) -> None:
    db = str(tmp_path / "chats.db")
    first = run_example("sqlite_persistence.py", arcee_server, ARCEE_EXAMPLE_SQLITE_PATH=db)
    assert "0 messages stored" in first.stdout
    second = run_example("sqlite_persistence.py", arcee_server, ARCEE_EXAMPLE_SQLITE_PATH=db)
    assert "2 messages stored" in second.stdout
    sent = arcee_server.chat_requests[-1].body["messages"]
    assert sent[0]["content"] == "Hi, my name is Ada. Please remember it."
    assert sent[-1]["content"] == "What is my name?"


@pytest.mark.loopback
@pytest.mark.postgres
@pytest.mark.redis
def test_postgres_and_redis(
    arcee_server: ArceeTestServer, postgres_url: str, redis_url: str
) -> None:
    out = run_example(
        "postgres_and_redis.py",
        arcee_server,
        ARCEE_EXAMPLE_POSTGRES_URL=postgres_url,
        ARCEE_EXAMPLE_REDIS_URL=redis_url,
    ).stdout
    assert "[PostgreSQL] 4 messages stored" in out
    assert "[Redis] 4 messages stored" in out
    # Each backend's second turn re-sent its first.
    for index in (1, 3):
        messages = arcee_server.chat_requests[index].body["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
