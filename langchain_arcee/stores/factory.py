"""Pick and build a store from a URL or a file path."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from langchain_arcee.redaction import redact_url
from langchain_arcee.stores.base import ChatStore


def _backend(module: str, name: str) -> Any:
    # Each backend raises extras.missing_extra (what to install) when its driver is missing.
    return getattr(importlib.import_module(f"langchain_arcee.stores.{module}"), name)


def store_from_url(url_or_path: str | Path, **kwargs: Any) -> ChatStore:
    """Build the store a URL or path names.

    * ``memory://`` -> :class:`~langchain_arcee.stores.memory.InMemoryChatStore`
    * ``sqlite:///path``, ``sqlite+aiosqlite:///path``, a ``Path``, a plain file path or a
      name ending in ``.db``/``.sqlite``/``.sqlite3`` -> ``SQLiteChatStore``
    * ``postgresql://``, ``postgres://``, ``postgresql+psycopg://`` -> ``PostgresChatStore``
    * ``redis://``, ``rediss://`` -> ``RedisChatStore``

    Args:
        url_or_path: The URL or path.
        **kwargs: Passed to the store's constructor (e.g. ``ttl``, ``table_prefix``).

    Raises:
        ValueError: For an unknown scheme or a malformed URL, such as one whose password holds
            an unencoded ``/``, ``?``, ``#`` or ``@`` that makes its host unclear (credentials
            in the URL are never quoted: they read ``***``).
        ImportError: If the backend's optional driver is missing (names the extra to install).
    """
    if isinstance(url_or_path, Path):
        return _backend("sqlite", "SQLiteChatStore")(url_or_path, **kwargs)  # type: ignore[no-any-return]
    if not isinstance(url_or_path, str) or not url_or_path.strip():
        msg = f"expected a store URL or a file path, got {url_or_path!r}"
        raise ValueError(msg)
    raw = url_or_path.strip()
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    store: ChatStore
    if scheme == "memory":
        from langchain_arcee.stores.memory import InMemoryChatStore

        store = InMemoryChatStore(**kwargs)
    elif scheme in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite") or not scheme:
        store = _backend("sqlite", "SQLiteChatStore")(raw, **kwargs)
    elif scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        store = _backend("postgres", "PostgresChatStore")(raw, **kwargs)
    elif scheme in ("redis", "rediss"):
        store = _backend("redis", "RedisChatStore")(raw, **kwargs)
    else:
        msg = (
            f"unsupported store URL {redact_url(raw)!r}: use memory://, sqlite:///path "
            "(or a file path), postgresql://... or redis://..."
        )
        raise ValueError(msg)
    return store
