"""Where a LangChain message keeps Arcee's reasoning, and how many tokens a message costs.

Shared by the model (wire format, token counting), the memory adapter (window fitting,
reasoning retention) and the CLI (display), so each asks one place.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

REASONING_KEYS = ("reasoning_content", "reasoning")
"""``additional_kwargs`` keys (and response fields) that hold reasoning, preferred first."""

REASONING_BLOCK_TYPES = frozenset({"reasoning", "thinking"})
"""Content block types that hold reasoning."""

CHARS_PER_TOKEN = 4.0
"""Characters per token of ordinary (Latin-script) prose."""

TOKENS_PER_SYMBOL = 0.7
"""Tokens per ASCII punctuation character: code and JSON split into many short tokens."""

TOKENS_PER_MESSAGE = 3
"""A chat template's per-message overhead (role markers), as ``count_tokens_approximately``."""

TOKENS_PER_IMAGE = 85
"""A fixed cost per image block (OpenAI's low-resolution cost, as langchain-core uses)."""

_SYMBOLS = string.punctuation.encode()
_IMAGE_BLOCK_TYPES = frozenset({"image", "image_url"})
_TEXT_BLOCK_TYPES = frozenset({"text", "output_text", "input_text"})


_MESSAGE_CLASSES: set[type] = set()
"""Classes seen to be ``BaseMessage`` subclasses (a set probe per item on long histories)."""


def all_messages(items: Sequence[object]) -> TypeGuard[Sequence[BaseMessage]]:
    """Whether every item is a LangChain message (cheaper than ``isinstance`` per item)."""
    known = _MESSAGE_CLASSES
    # The common case, every class already seen, is one C-level pass (no Python loop per item).
    if known.issuperset(map(type, items)):
        return True
    for item in items:
        cls = item.__class__
        if cls not in known:
            if not isinstance(item, BaseMessage):
                return False
            known.add(cls)
    return True


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


def text_tokens(text: str) -> float:
    """Estimate the tokens of a text, aware of its script.

    Real tokenizers spend about one token per Chinese, Japanese or Korean character, about two
    characters per token on code and JSON (every bracket, quote and colon is short), and about
    four on English prose. Two C-speed passes measure that without a tokenizer: the UTF-8 length
    (each CJK character takes 3 bytes, so ``(bytes - chars) / 2`` counts them; other non-ASCII
    letters count half, which errs high) and the number of ASCII punctuation bytes (UTF-8 never
    puts ASCII bytes inside a multi-byte character).

    Args:
        text: Any text (lone surrogates are tolerated).

    Returns:
        The estimated number of tokens (fractional; round the sum, not each part).
    """
    if not text:
        return 0.0
    data = text.encode("utf-8", "surrogatepass")
    wide = (len(data) - len(text)) / 2
    symbols = len(data) - len(data.translate(None, _SYMBOLS))
    plain = max(0.0, len(text) - wide - symbols)
    return wide + symbols * TOKENS_PER_SYMBOL + plain / CHARS_PER_TOKEN


def _content_tokens(content: str | list[Any]) -> float:
    if isinstance(content, str):
        return text_tokens(content)
    tokens = 0.0
    for block in content:
        if isinstance(block, str):
            tokens += text_tokens(block)
        elif isinstance(block, Mapping):
            kind = block.get("type")
            if kind in _TEXT_BLOCK_TYPES:
                tokens += text_tokens(str(block.get("text", "")))
            elif kind in _IMAGE_BLOCK_TYPES:
                tokens += TOKENS_PER_IMAGE
            elif kind not in REASONING_BLOCK_TYPES:  # reasoning is counted once, below
                tokens += text_tokens(repr(block))
        else:
            tokens += text_tokens(repr(block))
    return tokens


def message_tokens(message: BaseMessage) -> int:
    """Estimate one message's tokens offline (see :func:`approximate_token_count`)."""
    content = message.content
    tokens = text_tokens(content) if isinstance(content, str) else _content_tokens(content)
    extra = [message.type, message.name or ""]  # short texts: one estimate for all of them
    if isinstance(message, AIMessage):
        if message.tool_calls or message.invalid_tool_calls:
            extra.append(_calls_text(message))
        if message.additional_kwargs or isinstance(content, list):
            extra.append(reasoning_of(message) or "")
    elif isinstance(message, ToolMessage):
        extra.append(message.tool_call_id)
    return math.ceil(tokens + text_tokens(" ".join(extra))) + TOKENS_PER_MESSAGE


def _calls_text(message: AIMessage) -> str:
    parts: list[str] = []
    for call in message.tool_calls:
        arguments = json.dumps(call["args"], ensure_ascii=False)
        parts.extend((call["name"], call.get("id") or "", arguments))
    for invalid in message.invalid_tool_calls:
        parts.extend(
            (invalid.get("name") or "", invalid.get("id") or "", invalid.get("args") or "")
        )
    return " ".join(parts)


def approximate_token_count(
    messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]] | None = None
) -> int:
    """Estimate a conversation's input tokens offline, aware of script and reasoning.

    Counts every message's content (script-aware, see :func:`text_tokens`; images a fixed
    :data:`TOKENS_PER_IMAGE`), role, name, tool calls, tool call id and reasoning (which
    Arcee requires to be sent back, and ``count_tokens_approximately`` does not see), plus
    :data:`TOKENS_PER_MESSAGE` each, and the tool schemas. An estimate: the memory adapter
    calibrates it per model against the server's ``usage.prompt_tokens``.

    Args:
        messages: The conversation.
        tools: OpenAI-format tool schemas sent with it.

    Returns:
        The estimated number of input tokens.
    """
    count = sum(message_tokens(message) for message in messages)
    if tools:
        count += math.ceil(text_tokens(json.dumps(list(tools), ensure_ascii=False)))
    return count
