"""Where a LangChain message keeps Arcee's reasoning, and how many tokens a message costs.

Shared by the model (wire format, token counting), the memory adapter (window fitting,
reasoning retention) and the CLI (display), so each asks one place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

REASONING_KEYS = ("reasoning_content", "reasoning")
"""``additional_kwargs`` keys (and response fields) that hold reasoning, preferred first."""

REASONING_BLOCK_TYPES = frozenset({"reasoning", "thinking"})
"""Content block types that hold reasoning."""

CHARS_PER_TOKEN = 4.0
"""The ratio ``count_tokens_approximately`` uses."""


def is_reasoning_block(block: object) -> TypeGuard[Mapping[str, Any]]:
    """Whether a content block holds reasoning."""
    return isinstance(block, Mapping) and block.get("type") in REASONING_BLOCK_TYPES


def reasoning_of(message: BaseMessage) -> str | None:
    """The reasoning a message carries, wherever LangChain keeps it.

    Looks in ``additional_kwargs`` (``reasoning_content`` or ``reasoning``, as this package and
    langchain-deepseek store it), then in reasoning content blocks.
    """
    extras = message.additional_kwargs
    if extras:
        for key in REASONING_KEYS:
            value = extras.get(key)
            if isinstance(value, str):
                return value
    if isinstance(message.content, list):
        pieces = [
            str(block.get("reasoning") or block.get("thinking") or "")
            for block in message.content
            if is_reasoning_block(block)
        ]
        if pieces:
            return "".join(pieces)
    return None


def approximate_token_count(
    messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]] | None = None
) -> int:
    """Estimate tokens offline: ``count_tokens_approximately`` plus reasoning text.

    ``count_tokens_approximately`` counts content, roles, names, tool calls, tool call ids and
    tool schemas, but not reasoning kept in ``additional_kwargs``; that is added here.
    """
    count = count_tokens_approximately(messages, tools=list(tools) if tools else None)
    reasoning_chars = sum(
        len(reasoning_of(m) or "") for m in messages if m.type == "ai" and m.additional_kwargs
    )
    return count + math.ceil(reasoning_chars / CHARS_PER_TOKEN)
