r"""Message <-> JSON text encoding shared by every persistent store.

Uses LangChain's own ``message_to_dict`` form (``{"type": ..., "data": {...}}``), which keeps
content (string or list), ``additional_kwargs`` (reasoning), ``tool_calls``, ``tool_call_id``,
names, ids, ``response_metadata``, ``usage_metadata`` and tool ``artifact`` s. Chunks are stored
as full messages.

A turn the runnable produced is never refused for its data. Values JSON cannot hold are stored
in a documented *fallback form*, with a :class:`LossyStorageWarning` naming each field:

===========================================  =================================================
value                                        stored (and loaded back) as
===========================================  =================================================
``datetime`` / ``date`` / ``time``           ISO 8601 string (``value.isoformat()``)
``bytes`` / ``bytearray`` / ``memoryview``   base64 string (standard alphabet, padded)
``UUID`` / ``Decimal`` / ``pathlib`` path    ``str(value)``
pydantic model                               ``value.model_dump()`` (then these rules)
dataclass instance                           ``dataclasses.asdict(value)`` (then these rules)
``set`` / ``frozenset``                      list (sorted when the items are comparable)
``Enum`` member                              its ``value`` (then these rules)
a non-string dict key                        ``str(key)`` (int/float/bool/None keys as JSON
                                             itself converts them, without a warning)
a reference cycle                            the string ``"<circular reference>"``
anything else                                ``repr(value)``
===========================================  =================================================

Text is stored as compact UTF-8 JSON. A record whose text holds a lone surrogate code point
(``"\udc80"``, which UTF-8 cannot encode) is stored as ASCII JSON instead, where the surrogate
is the escape ``\udc80``: it loads back as exactly the same string. (Two surrogates that form
a valid pair, held as two code points, load back as the one character they encode.) NUL and
other control characters are always JSON escapes, so PostgreSQL ``text`` stores them too.

Input is held to a stricter rule (:func:`check_input_messages`): a turn's input is refused,
before anything is sent to the model, if it holds a value JSON cannot carry or a lone surrogate.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import enum
import json
import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from uuid import UUID

from langchain_core.messages import (
    BaseMessage,
    BaseMessageChunk,
    message_chunk_to_message,
    message_to_dict,
    messages_from_dict,
)
from pydantic import BaseModel

from langchain_arcee.stores.base import CorruptMessageError

_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_SCALARS = (str, int, float, bool, type(None))
_MAX_NAMED_FIELDS = 20


class LossyStorageWarning(UserWarning):
    """A produced message held values JSON cannot represent; they were stored in fallback form.

    The message names each field path (``messages[1].artifact['when']``) and the form used
    (see :mod:`langchain_arcee.stores.serialization`). Turn it into an error with
    ``warnings.simplefilter("error", LossyStorageWarning)`` to refuse such turns instead.
    """


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
    """Encode one message as a dict (chunks stored as full messages); values as the message has."""
    return message_to_dict(to_storable(message))


# ---- the fallback form -----------------------------------------------------------------------
def _key_path(path: str, key: object) -> str:
    return f"{path}[{key!r}]"


def _fallback(value: object) -> tuple[object, str] | None:
    """``(replacement, form)`` for a value JSON can't hold, or None for containers/scalars."""
    if isinstance(value, datetime | date | time):
        return value.isoformat(), "an ISO 8601 string"
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii"), "a base64 string"
    if isinstance(value, UUID | Decimal | PurePath):
        return str(value), "a string"
    if isinstance(value, BaseModel):
        return value.model_dump(), "its model_dump()"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value), "dataclasses.asdict()"
    if isinstance(value, set | frozenset):
        try:
            return sorted(value), "a sorted list"
        except TypeError:
            return list(value), "a list"
    if isinstance(value, enum.Enum):
        return value.value, "its value"
    return None


class _Walker:
    """Rebuilds a value as pure JSON types, recording each field it had to convert."""

    def __init__(self) -> None:
        self.converted: list[str] = []
        self._active: set[int] = set()

    def walk(self, value: Any, path: str) -> Any:
        if isinstance(value, _JSON_SCALARS):
            return value
        if id(value) in self._active:
            self.converted.append(f"{path}: a reference cycle stored as '<circular reference>'")
            return "<circular reference>"
        if isinstance(value, dict):
            return self._container(value, path, self._walk_dict)
        if isinstance(value, list | tuple):
            return self._container(value, path, self._walk_list)
        fallback = _fallback(value)
        if fallback is None:
            self.converted.append(f"{path}: {type(value).__name__} stored as its repr()")
            return repr(value)
        replacement, form = fallback
        self.converted.append(f"{path}: {type(value).__name__} stored as {form}")
        return self._container(value, path, lambda v, p: self.walk(replacement, p))

    def _container(self, value: Any, path: str, walk: Any) -> Any:
        self._active.add(id(value))
        try:
            return walk(value, path)
        finally:
            self._active.discard(id(value))

    def _walk_dict(self, value: dict[Any, Any], path: str) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if not isinstance(key, _JSON_SCALARS):
                self.converted.append(f"{_key_path(path, key)}: key stored as str(key)")
                key = str(key)
            out[key] = self.walk(item, _key_path(path, key))
        return out

    def _walk_list(self, value: Sequence[Any], path: str) -> list[Any]:
        return [self.walk(item, f"{path}[{i}]") for i, item in enumerate(value)]


def _dumps(record: dict[str, Any]) -> str:
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if _SURROGATE.search(text):
        # UTF-8 cannot encode a lone surrogate: ASCII JSON keeps it as an exact \udXXX escape.
        text = json.dumps(record, ensure_ascii=True, separators=(",", ":"))
    return text


def _encode_record(record: dict[str, Any], index: int, converted: list[str]) -> str:
    try:
        return _dumps(record)
    except (TypeError, ValueError):  # a value JSON can't hold, or a reference cycle
        pass
    walker = _Walker()
    fields = {k: walker.walk(v, f"messages[{index}].{k}") for k, v in record["data"].items()}
    converted.extend(walker.converted)
    return _dumps({**record, "data": fields})


def encode_message(message: BaseMessage) -> str:
    """Encode one message as compact JSON text (values JSON can't hold in fallback form)."""
    return encode_messages([message])[0]


def encode_messages(messages: Sequence[BaseMessage]) -> list[str]:
    """Encode a turn's messages; never fails on their data (see the module's fallback form).

    Warns:
        LossyStorageWarning: Naming each field stored in fallback form.

    Raises:
        TypeError: If an item is not a LangChain message (before anything is written).
    """
    converted: list[str] = []
    encoded = [_encode_record(message_to_record(m), i, converted) for i, m in enumerate(messages)]
    if converted:
        shown = "; ".join(converted[:_MAX_NAMED_FIELDS])
        more = len(converted) - _MAX_NAMED_FIELDS
        suffix = f"; and {more} more" if more > 0 else ""
        msg = f"stored in fallback form (JSON cannot hold these values): {shown}{suffix}"
        warnings.warn(msg, LossyStorageWarning, stacklevel=2)
    return encoded


# ---- the strict rule for input ---------------------------------------------------------------
def _first_problem(value: Any, path: str, active: set[int]) -> tuple[type[Exception], str] | None:
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        if found is None:
            return None
        detail = f"lone surrogate {found.group()!r} at index {found.start()} is not valid Unicode"
        return ValueError, f"{path}: {detail}"
    if isinstance(value, _JSON_SCALARS):
        return None
    if id(value) in active:
        return ValueError, f"{path}: reference cycle is not JSON-serializable"
    if isinstance(value, dict):
        items: Iterable[tuple[str, Any]] = ((_key_path(path, k), v) for k, v in value.items())
        bad_key = next((k for k in value if not isinstance(k, str)), None)
        if bad_key is not None:
            return TypeError, f"{_key_path(path, bad_key)}: non-string key is not JSON-serializable"
    elif isinstance(value, list | tuple):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return TypeError, f"{path}: {type(value).__name__} is not JSON-serializable"
    active.add(id(value))
    try:
        for item_path, item in items:
            problem = _first_problem(item, item_path, active)
            if problem is not None:
                return problem
    finally:
        active.discard(id(value))
    return None


def check_input_messages(messages: Sequence[BaseMessage]) -> None:
    """Refuse input messages that could not be sent and stored exactly.

    Called on a turn's input before anything is sent to the model: every field of every
    message (content, ``additional_kwargs``, tool calls, ``artifact`` ...) must be JSON (dicts
    with string keys, lists, strings, numbers, booleans, null) and hold no lone surrogate.

    Args:
        messages: The input messages.

    Raises:
        TypeError: Naming the first field whose value is not JSON-serializable, e.g.
            ``messages[0].additional_kwargs['when']: datetime is not JSON-serializable``.
        ValueError: Naming the first string that holds a lone surrogate.
    """
    for index, message in enumerate(messages):
        for key, value in message_to_record(message)["data"].items():
            problem = _first_problem(value, f"messages[{index}].{key}", set())
            if problem is not None:
                error, msg = problem
                raise error(msg)


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
