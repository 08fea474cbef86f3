"""Lossless message <-> JSON text encoding shared by every persistent store.

Uses LangChain's own ``message_to_dict`` form (``{"type": ..., "data": {...}}``), which keeps
content (string or list), ``additional_kwargs`` (reasoning), ``tool_calls``, ``tool_call_id``,
names, ids, ``response_metadata`` and ``usage_metadata``. Chunks are stored as full messages.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
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


class DecodeCache:
    """Bounded, thread-safe cache of decoded messages keyed by their stored text.

    Decoding a message (``json.loads`` + ``messages_from_dict``) costs ~5 us; a turn that loads
    the newest 1,000 messages would spend ~5 ms on it. Stored rows never change once written,
    so the decoded form of a given text can be reused. Keying by the text itself (rather than
    a row id) makes the cache correct even if a table is dropped and recreated, a row is
    rewritten by hand, or the backend has no row ids at all (Redis lists); a lookup costs one
    hash of the text. No library offers this: LangChain's histories always decode everything.

    The cached message objects are shared between loads; callers must treat loaded messages
    as immutable (the lists returned are always fresh).

    Args:
        max_entries: How many decoded messages to keep (oldest inserted are dropped first).
        max_item_chars: Texts longer than this are decoded every time, not cached.
    """

    def __init__(self, max_entries: int = 50_000, max_item_chars: int = 64_000) -> None:
        self.max_entries = max_entries
        self.max_item_chars = max_item_chars
        self._cache: dict[str | bytes, BaseMessage] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        """Drop every cached message."""
        with self._lock:
            self._cache.clear()

    def decode_many(self, raws: Iterable[str | bytes], *, session_id: str) -> list[BaseMessage]:
        """Decode stored texts in order, reusing cached messages.

        Raises:
            CorruptMessageError: If a text is not a valid encoded message.
        """
        get = self._cache.get
        out: list[BaseMessage] = []
        for raw in raws:
            message = get(raw)
            if message is None:
                message = decode_message(raw, session_id=session_id)
                if self.max_entries > 0 and len(raw) <= self.max_item_chars:
                    self._put(raw, message)
            out.append(message)
        return out

    def _put(self, raw: str | bytes, message: BaseMessage) -> None:
        with self._lock:
            self._cache[raw] = message
            while len(self._cache) > self.max_entries:
                del self._cache[next(iter(self._cache))]
