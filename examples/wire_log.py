"""Shared by the examples: print the conversation each request sends to the API.

``ChatArcee(http_client=logging_http_client())`` prints, before each ``POST /chat/completions``,
every message of the request body: you can see the stored history (with its reasoning, tool calls
and tool results) being sent again on every turn, as Arcee's stateless API requires.
"""

from __future__ import annotations

import itertools
import json
import textwrap
from typing import Any

import openai


def _short(text: str, width: int = 90) -> str:
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder=" ...")


def describe_message(message: dict[str, Any]) -> list[str]:
    """Readable lines for one wire message (role, content, reasoning, tool calls)."""
    role = message.get("role", "?")
    lines = [f"  {role:>9}: {_short(str(message.get('content') or ''))}"]
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning:
        lines.append(f"  {'':>9}  (reasoning: {_short(reasoning, 70)})")
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        lines.append(f"  {'':>9}  (tool call {function.get('name')}({function.get('arguments')}))")
    return lines


def logging_http_client() -> Any:
    """An openai HTTP client that prints the ``messages`` of every chat request it sends."""
    counter = itertools.count(1)

    def show(request: Any) -> None:
        if not request.url.path.endswith("/chat/completions"):
            return
        messages = json.loads(request.content)["messages"]
        print(f"--- request {next(counter)}: {len(messages)} messages sent ---")
        for message in messages:
            print("\n".join(describe_message(message)))

    return openai.DefaultHttpxClient(event_hooks={"request": [show]})
