"""Lossless message <-> JSON text encoding shared by every persistent store.

Uses LangChain's own ``message_to_dict`` form (``{"type": ..., "data": {...}}``), which keeps
content (string or list), ``additional_kwargs`` (reasoning), ``tool_calls``, ``tool_call_id``,
names, ids, ``response_metadata`` and ``usage_metadata``. Chunks are stored as full messages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    BaseMessage,
    BaseMessageChunk,
    message_chunk_to_message,
    message_to_dict,
    messages_from_dict,
)

from langchain_arcee.stores.base import CorruptMessageError


def to_storable(message: BaseMessage) -> BaseMessage:
    """Return the message as stored: chunks become their full message class.

    Raises:
        TypeError: If ``message`` is not a LangChain message.
    """
    if not isinstance(message, BaseMessage):
        msg = f"only LangChain messages can be stored, got {type(message).__name__}"
        raise TypeError(msg)
    if isinstance(message, BaseMessageChunk):
        return message_chunk_to_message(message)
    return message


def message_to_record(message: BaseMessage) -> dict[str, Any]:
    """Encode one message as a JSON-ready dict (chunks stored as full messages)."""
    return message_to_dict(to_storable(message))


def encode_message(message: BaseMessage) -> str:
    """Encode one message as compact JSON text."""
    return json.dumps(message_to_record(message), ensure_ascii=False, separators=(",", ":"))


def encode_messages(messages: Sequence[BaseMessage]) -> list[str]:
    """Encode messages; raises before anything is written if one cannot be encoded."""
    return [encode_message(m) for m in messages]


def decode_message(raw: str | bytes | dict[str, Any], *, session_id: str) -> BaseMessage:
    """Decode one stored record.

    Args:
        raw: JSON text/bytes, or an already-parsed dict (e.g. from a JSONB column).
        session_id: The session it belongs to, named in errors.

    Raises:
        CorruptMessageError: If the record is not a valid encoded message.
    """
    try:
        record = json.loads(raw) if isinstance(raw, str | bytes) else raw
        return messages_from_dict([record])[0]
    except Exception as exc:
        preview = repr(raw)[:120]
        msg = f"session {session_id!r}: a stored message could not be decoded ({exc}): {preview}"
        raise CorruptMessageError(msg) from exc
