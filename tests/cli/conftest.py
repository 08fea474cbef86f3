"""Helpers to run ``arcee-chat`` as a user would: a real process against the loopback server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from langchain_arcee.stores.sqlite import SQLiteChatStore
from tests.arcee_server import ArceeTestServer

REPO_ROOT = Path(__file__).resolve().parents[2]


def cli_env(home: Path, *, api_key: str | None = "test") -> dict[str, str]:
    """The environment of a user with only the variables that matter to arcee-chat."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ARCEE", "OPENAI")) and k != "PYTHONSTARTUP"
    }
    env["ARCEE_CHAT_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env["TERM"] = "xterm"
    if api_key is not None:
        env["ARCEE_API_KEY"] = api_key
    return env


@dataclass
class Cli:
    """``arcee-chat`` wired to one loopback server and one SQLite store in ``tmp_path``."""

    server: ArceeTestServer
    store_path: Path
    home: Path

    def args(self, *extra: str) -> list[str]:
        return ["--base-url", self.server.base_url, "--store", str(self.store_path), *extra]

    def run(
        self,
        *extra: str,
        stdin: str | None = None,
        api_key: str | None = "test",
        store: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        args = self.args(*extra) if store else ["--base-url", self.server.base_url, *extra]
        return subprocess.run(
            [sys.executable, "-m", "langchain_arcee", *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO_ROOT,
            env=cli_env(self.home, api_key=api_key),
        )

    def sessions(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``arcee-chat sessions ...`` with no API key (managing conversations needs none)."""
        return subprocess.run(
            [sys.executable, "-m", "langchain_arcee", "sessions", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO_ROOT,
            env=cli_env(self.home, api_key=None),
        )

    def spawn(self, *extra: str, raw: bool = False):  # -> pexpect.spawn
        """``arcee-chat`` in a pseudo-terminal; ``raw``: no --base-url/--store arguments added."""
        import pexpect

        child = pexpect.spawn(
            sys.executable,
            ["-m", "langchain_arcee", *(extra if raw else self.args(*extra))],
            cwd=str(REPO_ROOT),
            env=cli_env(self.home),
            encoding="utf-8",
            timeout=30,
            dimensions=(50, 200),
        )
        return child

    def stored(self, session: str) -> list:
        store = SQLiteChatStore(self.store_path)
        try:
            return store.load(session)
        finally:
            store.close()

    def sent_messages(self, request_index: int = -1) -> list[dict]:
        return self.server.chat_requests[request_index].body["messages"]


@pytest.fixture
def cli(arcee_server: ArceeTestServer, tmp_path: Path) -> Iterator[Cli]:
    yield Cli(arcee_server, tmp_path / "chats.db", tmp_path / "home")


def texts(messages: Sequence[dict]) -> list[tuple[str, str]]:
    return [(m["role"], m.get("content") or "") for m in messages]
