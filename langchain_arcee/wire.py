"""LangChain messages <-> Arcee's ``/chat/completions`` message format.

Arcee's contract (see the README): assistant ``content`` is always a string (``""`` on
tool-call turns, never null); every earlier assistant message carries its reasoning back
(``reasoning_content`` on the hosted API, ``reasoning`` on self-hosted vLLM); tool results are
``role: "tool"`` messages whose ``tool_call_id`` matches a call of the preceding assistant message.
langchain-openai's converter breaks the first two, so this module builds the dicts itself, in one
cheap pass (it runs over the whole history on every request).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_arcee.body_encoding import SdkEncodedList, plain_json
from langchain_arcee.messages import REASONING_KEYS, reasoning_of

ReasoningField = Literal["reasoning_content", "reasoning", "both"]
"""Which request field carries reasoning back: hosted Arcee reads ``reasoning_content`` (and
accepts ``reasoning``); self-hosted vLLM reads only ``reasoning``."""

_TEXT_BLOCK_TYPES = frozenset({"text", "output_text", "input_text"})
_REASONING_KEY = REASONING_KEYS[0]


def reasoning_request_fields(setting: ReasoningField | None) -> tuple[str, ...]:
    """Request fields to write reasoning into for a ``reasoning_field`` setting.

    ``None`` means none: for OpenAI-compatible servers that reject unknown message fields.
    """
    if setting is None:
        return ()
    return REASONING_KEYS if setting == "both" else (setting,)


def text_of(content: str | list[Any]) -> str:
    """Flatten message content to plain text (text blocks joined; other blocks dropped)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") in _TEXT_BLOCK_TYPES:
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def reasoning_from_response(message: Mapping[str, Any]) -> str | None:
    """Reasoning from a response ``message`` or streaming ``delta`` dict (either field name)."""
    for key in REASONING_KEYS:
        value = message.get(key)
        if isinstance(value, str):
            return value
    return None


def _user_content(content: str | list[Any]) -> str | list[Any]:
    # Text-only list content is flattened: Arcee's text models take a string.
    if isinstance(content, str):
        return content
    if all(
        isinstance(block, str)
        or (isinstance(block, Mapping) and block.get("type") in _TEXT_BLOCK_TYPES)
        for block in content
    ):
        return text_of(content)
    blocks = [
        {"type": "text", "text": block} if isinstance(block, str) else dict(block)
        for block in content
    ]
    # A caller's block may hold what orjson writes differently from the SDK (a NaN, an Enum):
    # marked, the body goes to the SDK's encoder, which writes it or refuses it as it always did.
    return blocks if plain_json(blocks) else SdkEncodedList(blocks)


def _tool_call_to_wire(call: Mapping[str, Any], *, raw_args: bool = False) -> dict[str, Any]:
    arguments = call.get("args")
    if not raw_args:
        arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": call.get("name"), "arguments": arguments or ""},
    }


def _assistant_to_wire(message: AIMessage, reasoning_fields: Sequence[str]) -> dict[str, Any]:
    # Fields read from the instance __dict__ (where pydantic keeps them): one dict probe each
    # instead of an attribute lookup through the class hierarchy, on every message of every call.
    fields = message.__dict__
    content = fields["content"]
    wire: dict[str, Any] = {
        "role": "assistant",
        "content": content if content.__class__ is str else text_of(content),
    }
    if fields["name"]:
        wire["name"] = fields["name"]
    if fields["tool_calls"] or fields["invalid_tool_calls"]:
        wire["tool_calls"] = [_tool_call_to_wire(call) for call in message.tool_calls] + [
            _tool_call_to_wire(call, raw_args=True) for call in message.invalid_tool_calls
        ]
    # Fast path for where this package keeps reasoning; reasoning_of looks everywhere else.
    extras = fields["additional_kwargs"]
    reasoning = extras.get(_REASONING_KEY) if extras else None
    if reasoning.__class__ is not str:
        reasoning = reasoning_of(message)
    if reasoning is not None:
        for field in reasoning_fields:
            wire[field] = reasoning
    return wire


def _user_to_wire(message: BaseMessage, reasoning_fields: Sequence[str]) -> dict[str, Any]:
    fields = message.__dict__  # see _assistant_to_wire
    content = fields["content"]
    wire: dict[str, Any] = {
        "role": "user",
        "content": content if content.__class__ is str else _user_content(content),
    }
    if fields["name"]:
        wire["name"] = fields["name"]
    return wire


def _system_to_wire(message: BaseMessage, reasoning_fields: Sequence[str]) -> dict[str, Any]:
    fields = message.__dict__  # see _assistant_to_wire
    content = fields["content"]
    wire: dict[str, Any] = {
        "role": "system",
        "content": content if content.__class__ is str else text_of(content),
    }
    if fields["name"]:
        wire["name"] = fields["name"]
    return wire


def _tool_to_wire(message: ToolMessage, reasoning_fields: Sequence[str]) -> dict[str, Any]:
    # Tool results must be strings; keep the id that pairs them with their call (no name).
    content = message.content
    text = content if isinstance(content, str) else text_of(content) or json.dumps(content)
    return {"role": "tool", "content": text, "tool_call_id": message.tool_call_id}


def _chat_to_wire(message: ChatMessage, reasoning_fields: Sequence[str]) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": text_of(message.content)}
    if message.name and message.role != "tool":
        wire["name"] = message.name
    return wire


_Converter = Callable[[Any, Sequence[str]], dict[str, Any]]

# Looked up by exact type first (one dict probe per message on the hot path), then by isinstance
# for subclasses (e.g. AIMessageChunk). AIMessage comes first so its subclasses match it.
_CONVERTERS: dict[type, _Converter] = {
    AIMessage: _assistant_to_wire,
    HumanMessage: _user_to_wire,
    SystemMessage: _system_to_wire,
    ToolMessage: _tool_to_wire,
    ChatMessage: _chat_to_wire,
}


def _converter_for(message: object) -> _Converter:
    for cls, converter in _CONVERTERS.items():
        if isinstance(message, cls):
            return converter
    if isinstance(message, FunctionMessage):
        msg = "FunctionMessage (legacy function calling) is not supported; use ToolMessage"
    else:
        msg = f"cannot send a {type(message).__name__} to Arcee"
    raise TypeError(msg)


def to_arcee_message(message: BaseMessage, reasoning_fields: Sequence[str]) -> dict[str, Any]:
    """Convert one LangChain message to an Arcee request message.

    Args:
        message: The message.
        reasoning_fields: Request fields that carry an assistant message's reasoning back.

    Returns:
        A JSON-ready dict.

    Raises:
        TypeError: For message types Arcee has no role for (and anything not a message).
    """
    converter = _CONVERTERS.get(type(message)) or _converter_for(message)
    return converter(message, reasoning_fields)


def to_arcee_messages(
    messages: Sequence[BaseMessage], reasoning_fields: Sequence[str]
) -> list[dict[str, Any]]:
    """Convert a conversation to Arcee request messages (see :func:`to_arcee_message`).

    This runs over the whole history on every request, so it is the one pass over the messages:
    the per-type dispatch also rejects anything that is not a message Arcee has a role for.
    """
    converters = _CONVERTERS
    return [
        (converters.get(type(message)) or _converter_for(message))(message, reasoning_fields)
        for message in messages
    ]
