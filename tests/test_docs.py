"""Every example of ``ChatArcee``'s docstring and of ``docs/chat_arcee.md`` runs, in order,
against the loopback Arcee server (through the real openai client)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_arcee.chat_models import ChatArcee
from tests.arcee_server import ArceeTestServer
from tests.doc_blocks import collect_leftovers, python_blocks, run_blocks

DOCS = Path(__file__).resolve().parent.parent / "docs" / "chat_arcee.md"

pytestmark = pytest.mark.loopback

DOCSTRING_SECTIONS = (
    "Setup:",
    "Key init args — completion params:",
    "Key init args — client params:",
    "Instantiate:",
    "Invoke:",
    "Stream:",
    "Async:",
    "Tool calling:",
    "Structured output:",
    "Reasoning:",
    "Token usage:",
    "Response metadata:",
)


@pytest.fixture
def arcee_env(
    arcee_server: ArceeTestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[ArceeTestServer]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARCEE_API_KEY", "docs-test-key")
    monkeypatch.setenv("ARCEE_BASE_URL", arcee_server.base_url)
    monkeypatch.delenv("ARCEE_API_BASE", raising=False)
    yield arcee_server
    collect_leftovers()


def test_docstring_follows_langchains_provider_template() -> None:
    doc = inspect.cleandoc(ChatArcee.__doc__ or "")
    positions = [doc.index(f"\n{section}\n") for section in DOCSTRING_SECTIONS]
    assert positions == sorted(positions)
    assert len(python_blocks(doc)) >= 12


def test_docstring_examples_run(arcee_env: ArceeTestServer) -> None:
    blocks = python_blocks(inspect.cleandoc(ChatArcee.__doc__ or ""))
    namespace: dict[str, object] = {"__name__": "docstring"}
    run_blocks(blocks, "ChatArcee docstring", namespace)
    # The examples did what they say: streamed chunks aggregated, a tool call made and
    # answered, structured output parsed, reasoning and usage present.
    full = namespace["full"]
    assert full.additional_kwargs["reasoning_content"].startswith("The user asked")
    assert full.usage_metadata["output_tokens"] > 0
    assert namespace["call"]["name"] == "GetWeather"
    assert namespace["joke"].rating == 1
    assert namespace["ai_msg"].response_metadata["model_provider"] == "arcee"
    follow_up_request = [r for r in arcee_env.chat_requests if "Give an example." in str(r.body)]
    assert follow_up_request[0].body["messages"][1]["reasoning_content"].startswith("The user")
    assert arcee_env.count("chat") >= 12


def test_docs_page_has_langchains_integration_sections() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for heading in (
        "## Overview",
        "### Integration details",
        "### Model features",
        "## Setup",
        "### Credentials",
        "### Installation",
        "## Instantiation",
        "## Invocation",
        "## Chaining",
        "## Memory",
        "## Agents",
        "## API reference",
    ):
        assert f"\n{heading}\n" in text, heading


def test_docs_page_code_runs(arcee_env: ArceeTestServer) -> None:
    blocks = python_blocks(DOCS.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    run_blocks(blocks, "docs/chat_arcee.md")
    # invoke, stream, the chain, two memory turns, the agent's tool call and answer
    assert arcee_env.count("chat") == 7
