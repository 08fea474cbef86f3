"""Every ``python`` block of the README runs, in order, against the loopback Arcee server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.arcee_server import ArceeTestServer, Reply
from tests.doc_blocks import collect_leftovers, python_blocks, run_blocks

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_blocks() -> list[str]:
    return python_blocks(README.read_text(encoding="utf-8"))


def test_readme_has_python_examples() -> None:
    assert len(readme_blocks()) >= 8


def test_readme_python_blocks_run(
    arcee_server: ArceeTestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARCEE_API_KEY", "readme-test-key")
    monkeypatch.setenv("ARCEE_BASE_URL", arcee_server.base_url)
    monkeypatch.delenv("ARCEE_API_BASE", raising=False)

    def responder(body: dict) -> Reply | None:
        # The structured-output example asks for a Person; answer with one.
        tools = body.get("tools") or []
        if tools and tools[0]["function"]["name"] == "Person":
            return Reply(tool_calls=[{"name": "Person", "arguments": {"name": "Ada", "age": 36}}])
        return None

    arcee_server.set_responder(responder)
    run_blocks(readme_blocks(), "README.md")
    assert arcee_server.count("chat") > 10
    collect_leftovers()
