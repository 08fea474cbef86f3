"""Request bodies encoded by orjson, as the openai SDK's own encoder would write them.

The SDK encodes a body with the standard library's ``json`` (~1 ms of client CPU for a
1,000-message conversation); orjson writes the same JSON in ~0.04 ms (compact, UTF-8, no ASCII
escaping; the same bytes but for a float's exponent, ``1e-7`` for ``1e-07``). Where orjson would
write something else or refuse, the body is left to the SDK, which encodes it (or refuses it)
exactly as it always did: a NaN or an infinity (the SDK raises; orjson writes ``null``), an
``Enum``, a ``UUID`` or an ``orjson.Fragment`` (the SDK raises; orjson writes a value), a
subclass of ``dict``/``list``/``str``/``int`` (the SDK reads it through its own methods, e.g. an
``OrderedDict`` in its own order), a datetime or dataclass, an integer beyond 64 bits, a
non-string key, nesting deeper than orjson's 254 levels, a lone surrogate.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

# Subclasses, datetimes and dataclasses raise instead of being written orjson's way: the body
# then goes to the SDK's encoder.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_MAX_DEPTH = 254
"""orjson's nesting limit (deeper values, circular ones included, go to the SDK)."""


class SdkEncodedList(list[Any]):
    """A list holding values only the SDK's encoder may write (see :func:`plain_json`).

    The wire wraps a message's content blocks in it when a caller's block holds such a value:
    orjson refuses list subclasses (``OPT_PASSTHROUGH_SUBCLASS``), so the whole body goes to the
    SDK, which writes it as a list, or raises as it always did.
    """


def plain_json(value: Any) -> bool:
    """Whether orjson writes ``value`` exactly as the SDK's encoder does.

    True for strings, integers, booleans, ``None`` and finite floats, in dicts, lists and tuples
    of exactly those types, at most 254 levels deep. Walked with a stack, not recursion: a deep
    or circular value is answered, not a ``RecursionError``.
    """
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        cls = item.__class__
        if cls is str or cls is int or cls is bool or item is None:
            continue
        if cls is float:
            if not math.isfinite(item):
                return False
        elif depth >= _MAX_DEPTH:
            return False
        elif cls is dict:
            pending.extend((child, depth + 1) for child in item.values())
        elif cls is list or cls is tuple:
            pending.extend((child, depth + 1) for child in item)
        else:
            return False
    return True


def encoded_body(body: dict[str, Any]) -> bytes | dict[str, Any]:
    """``body`` as the JSON bytes the openai SDK would send, or ``body`` itself for the SDK.

    The body is returned unencoded when orjson would write it differently (see the module's
    docstring). The messages are not walked (there are thousands): the wire builds them from
    strings and marks a caller's content blocks that hold anything else (:class:`SdkEncodedList`).
    """
    if not all(plain_json(value) for key, value in body.items() if key != "messages"):
        return body
    try:
        return orjson.dumps(body, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return body
