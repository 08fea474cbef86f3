"""Every ``python`` block of the README runs, in order, against the loopback Arcee server."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from tests.arcee_server import ArceeTestServer, Reply

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def readme_blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


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
    namespace: dict[str, object] = {"__name__": "readme"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the README's code must not warn (deprecations included)
        for index, block in enumerate(readme_blocks()):
            try:
                exec(compile(block, f"README.md python block {index}", "exec"), namespace)
            except Exception as exc:  # pragma: no cover - the message names the block
                pytest.fail(f"README python block {index} failed: {exc!r}\n{block}")
    assert arcee_server.count("chat") > 10
