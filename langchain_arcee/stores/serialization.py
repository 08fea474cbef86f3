"""Lossless message <-> JSON text encoding shared by every persistent store.

Uses LangChain's own ``message_to_dict`` form (``{"type": ..., "data": {...}}``), which keeps
content (string or list), ``additional_kwargs`` (reasoning), ``tool_calls``, ``tool_call_id``,
names, ids, ``response_metadata`` and ``usage_metadata``. Chunks are stored as full messages.
"""

from __future__ import annotations

import copy
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


def detached(message: BaseMessage) -> BaseMessage:
    """A copy of ``message`` that shares no mutable container with it.

    The message and its top-level containers (content list, ``additional_kwargs``,
    ``response_metadata``, tool calls) are copied; nested values inside them are shared, which
    is what LangChain code mutates in practice. ~3x cheaper than ``copy.deepcopy``.
    """
    clone = copy.copy(message)
    fields = clone.__dict__
    for name, value in fields.items():
        if isinstance(value, dict):
            fields[name] = dict(value)
        elif isinstance(value, list):
            fields[name] = [dict(v) if isinstance(v, dict) else v for v in value]
    return clone


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

    Decoding a message (``json.loads`` + ``messages_from_dict``) costs 5-25 us; a turn that
    loads the newest 1,000 messages would spend 5-25 ms on it. Stored rows never change once
    written, so the decoded form of a given text can be reused. Keying by the text itself
    (rather than a row id or a message id) makes the cache correct even if a table is dropped
    and recreated, a row is rewritten by hand, two sessions hold messages with the same id, or
    the backend has no row ids at all (Redis lists); a lookup costs one hash of the text. No
    library offers this: LangChain's histories always decode everything.

    The bound is in bytes of stored text (a proxy for the decoded objects' size), so a few
    huge messages can't grow it past ``max_bytes``; texts over ``max_item_bytes`` are decoded
    every time. Public reads get copies (:func:`detached`) so no caller can change what a later
    read returns; a turn's own read may take the cached objects themselves (``shared=True``),
    which the memory adapter never mutates.

    Args:
        max_bytes: Bound of the cache, in characters of stored text (oldest dropped first).
        max_item_bytes: Texts longer than this are not cached.
    """

    DEFAULT_MAX_BYTES = 32 * 1024 * 1024

    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, max_item_bytes: int = 256 * 1024
    ) -> None:
        self.max_bytes = max_bytes
        self.max_item_bytes = max_item_bytes
        self._cache: dict[str | bytes, BaseMessage] = {}
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cache)

    @property
    def size(self) -> int:
        """Characters (or bytes) of stored text currently cached."""
        return self._size

    def clear(self) -> None:
        """Drop every cached message."""
        with self._lock:
            self._cache.clear()
            self._size = 0

    def decode_many(
        self, raws: Iterable[str | bytes], *, session_id: str, shared: bool = False
    ) -> list[BaseMessage]:
        """Decode stored texts in order, reusing cached messages.

        Args:
            raws: The stored texts, in order.
            session_id: The session they belong to, named in errors.
            shared: Return the cached objects themselves (callers must not mutate them)
                instead of copies.

        Raises:
            CorruptMessageError: If a text is not a valid encoded message.
        """
        get = self._cache.get
        out: list[BaseMessage] = []
        for raw in raws:
            message = get(raw)
            if message is None:
                message = decode_message(raw, session_id=session_id)
                if len(raw) <= min(self.max_item_bytes, self.max_bytes):
                    self._put(raw, message)
            out.append(message)
        return out if shared else [detached(m) for m in out]

    def _put(self, raw: str | bytes, message: BaseMessage) -> None:
        with self._lock:
            if raw in self._cache:
                return
            self._cache[raw] = message
            self._size += len(raw)
            while self._size > self.max_bytes:
                oldest = next(iter(self._cache))
                del self._cache[oldest]
                self._size -= len(oldest)
