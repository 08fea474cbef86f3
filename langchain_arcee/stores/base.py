"""The one interface every conversation store implements.

A store keeps, per session id (an arbitrary string), an append-only ordered list of
LangChain messages. Writes happen a whole turn at a time (:meth:`ChatStore.append` is atomic:
all of its messages are stored, or none and the error propagates). Reads fetch only what is
asked for: the newest ``last`` messages of a session, or one page of it, so the cost of a turn
does not grow with how long a conversation has been stored.

Stores know nothing about models: they store and return messages, nothing else.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage


class StoreError(RuntimeError):
    """A store could not read or write a session; the message names the session."""


class CorruptMessageError(StoreError):
    """A stored row could not be decoded into a message."""


class SessionBusyError(StoreError):
    """Another turn holds the session's lease and it was not released within ``lock_timeout``.

    Raised before anything is sent to the model: nothing was billed and nothing was stored.
    """


class ConcurrentTurnError(StoreError):
    """The session changed (another turn, a clear or a delete) since this turn read it.

    The store refused the append atomically: nothing of this turn was stored. The turn's
    messages are kept on the exception (``messages``) so the caller can decide what to do
    with a reply that was already produced.

    Attributes:
        session_id: The session.
        messages: The messages the turn tried to store.
    """

    def __init__(self, message: str, *, session_id: str, messages: Sequence[BaseMessage] = ()):
        super().__init__(message)
        self.session_id = session_id
        self.messages = list(messages)


@dataclass(frozen=True)
class SessionInfo:
    """Summary of one stored session.

    Attributes:
        session_id: The session's id.
        message_count: How many messages the session holds.
        updated_at: When the session was last written (UTC), if the backend records it.
    """

    session_id: str
    message_count: int
    updated_at: datetime | None = None


def check_session_id(session_id: object) -> str:
    """Validate a session id: any non-empty ``str`` is accepted.

    Args:
        session_id: The value to check.

    Returns:
        The session id unchanged.

    Raises:
        TypeError: If it is not a string.
        ValueError: If it is empty.
    """
    if not isinstance(session_id, str):
        msg = f"session_id must be a str, got {type(session_id).__name__}: {session_id!r}"
        raise TypeError(msg)
    if not session_id:
        msg = "session_id must be a non-empty string"
        raise ValueError(msg)
    return session_id


def check_last(last: int | None) -> int | None:
    """Validate the ``last`` argument of :meth:`ChatStore.load`.

    Raises:
        ValueError: If it is negative (or not an int).
    """
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 0):
        msg = f"last must be None or a non-negative int, got {last!r}"
        raise ValueError(msg)
    return last


def check_page(offset: int, limit: int | None) -> None:
    """Validate ``offset``/``limit`` of the paging calls.

    Raises:
        ValueError: If either is negative.
    """
    if offset < 0 or (limit is not None and limit < 0):
        msg = f"offset and limit must be non-negative, got offset={offset!r} limit={limit!r}"
        raise ValueError(msg)


def normalize_ttl(ttl: timedelta | float | None) -> timedelta | None:
    """Accept a TTL as a ``timedelta`` or seconds; ``None`` means never expire.

    Raises:
        ValueError: If it is not positive.
    """
    if ttl is None:
        return None
    value = ttl if isinstance(ttl, timedelta) else timedelta(seconds=float(ttl))
    if value <= timedelta(0):
        msg = f"ttl must be positive, got {ttl!r}"
        raise ValueError(msg)
    return value


class ChatStore(ABC):
    """Session-keyed, append-only message store with sync and async access.

    Subclasses implement the sync primitives; async primitives default to running the sync
    ones in a worker thread and are overridden by backends with a native async driver, so no
    sync I/O ever runs on the event loop.

    Args (common to every backend's constructor):
        ttl: If set, a session expires this long after its last write (``purge_expired``
            removes expired sessions in SQL backends; Redis expires keys natively).
    """

    ttl: timedelta | None = None

    # ---- core: the two calls made on every turn ---------------------------------------
    @abstractmethod
    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages to a session atomically (all or nothing).

        Message chunks are stored as their full message class (``AIMessageChunk`` -> ``AIMessage``).

        Raises:
            StoreError: If the write failed; nothing of ``messages`` is stored.
        """

    @abstractmethod
    def load(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Return a session's messages, oldest first.

        Args:
            session_id: The session.
            last: If given, only the newest ``last`` messages (fetched by the backend, not
                sliced after reading everything).
        """

    async def aappend(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`append`."""
        await asyncio.to_thread(self.append, session_id, messages)

    async def aload(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Async :meth:`load`."""
        return await asyncio.to_thread(self.load, session_id, last=last)

    # ---- admin ----------------------------------------------------------------------
    @abstractmethod
    def count(self, session_id: str) -> int:
        """Number of messages stored for a session (0 if unknown)."""

    @abstractmethod
    def read_page(self, session_id: str, *, offset: int = 0, limit: int = 100) -> list[BaseMessage]:
        """One page of a session, oldest first: messages ``offset`` .. ``offset + limit - 1``."""

    @abstractmethod
    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[SessionInfo]:
        """Stored sessions, most recently updated first."""

    @abstractmethod
    def clear(self, session_id: str) -> None:
        """Remove every message of a session (the session then reads as empty)."""

    def delete(self, session_id: str) -> None:
        """Remove a session and everything stored for it."""
        self.clear(session_id)

    def export(self, session_id: str) -> list[dict[str, Any]]:
        """A session as JSON-ready dicts (``langchain_core.messages.message_to_dict`` form)."""
        from langchain_core.messages import messages_to_dict

        return messages_to_dict(self.load(session_id))

    def purge_expired(self) -> int:
        """Delete sessions whose TTL has passed; returns how many were removed."""
        return 0

    async def aexport(self, session_id: str) -> list[dict[str, Any]]:
        """Async :meth:`export`."""
        from langchain_core.messages import messages_to_dict

        return messages_to_dict(await self.aload(session_id))

    async def apurge_expired(self) -> int:
        """Async :meth:`purge_expired`."""
        return await asyncio.to_thread(self.purge_expired)

    async def acount(self, session_id: str) -> int:
        """Async :meth:`count`."""
        return await asyncio.to_thread(self.count, session_id)

    async def aread_page(
        self, session_id: str, *, offset: int = 0, limit: int = 100
    ) -> list[BaseMessage]:
        """Async :meth:`read_page`."""
        return await asyncio.to_thread(self.read_page, session_id, offset=offset, limit=limit)

    async def alist_sessions(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        return await asyncio.to_thread(self.list_sessions, limit=limit, offset=offset)

    async def aclear(self, session_id: str) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(self.clear, session_id)

    async def adelete(self, session_id: str) -> None:
        """Async :meth:`delete`."""
        await asyncio.to_thread(self.delete, session_id)

    def close(self) -> None:
        """Release connections the store owns (injected engines/clients are left open)."""
        return None

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        self.close()

    # ---- LangChain's history interface --------------------------------------------------
    def history(self, session_id: str) -> StoreChatMessageHistory:
        """A ``BaseChatMessageHistory`` view of one session (for ``RunnableWithMessageHistory``).

        Example:
            ``RunnableWithMessageHistory(chain, store.history)``
        """
        return StoreChatMessageHistory(self, session_id)


class StoreChatMessageHistory(BaseChatMessageHistory):
    """``BaseChatMessageHistory`` over one session of a :class:`ChatStore`.

    Lets the stock ``RunnableWithMessageHistory`` and any LangChain code that expects a chat
    history use this package's stores.
    """

    def __init__(self, store: ChatStore, session_id: str) -> None:
        self.store = store
        self.session_id = check_session_id(session_id)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """All messages of the session, oldest first."""
        return self.store.load(self.session_id)

    async def aget_messages(self) -> list[BaseMessage]:
        """Async read of all messages."""
        return await self.store.aload(self.session_id)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append messages atomically."""
        self.store.append(self.session_id, messages)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async append."""
        await self.store.aappend(self.session_id, messages)

    def clear(self) -> None:
        """Remove all messages of the session."""
        self.store.clear(self.session_id)

    async def aclear(self) -> None:
        """Async clear."""
        await self.store.aclear(self.session_id)
