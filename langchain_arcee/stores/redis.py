"""Redis conversation store on plain Redis (no modules), sync and native async.

Layout (``<prefix>`` is ``key_prefix``, default ``arcee:``)::

    <prefix>m:<base64url(session id)>   LIST of encoded messages, oldest first
    <prefix>sessions                    ZSET session id -> last write time (epoch seconds)

An append is one ``MULTI``/``EXEC`` transaction (``RPUSH`` of the whole turn, ``PEXPIRE`` or
``PERSIST``, ``ZADD``), so a turn is stored whole and contiguous even with concurrent writers.
Session ids are base64url-encoded in key names: any string (``:``, ``*``, spaces, unicode,
NUL) is safe, and two ids can never map to the same key. TTL uses Redis key expiry; expired
sessions leave a stale index entry that :meth:`RedisChatStore.purge_expired` removes (listing
skips them).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_arcee.extras import missing_extra
from langchain_arcee.stores.base import (
    ChatStore,
    SessionInfo,
    StoreError,
    check_last,
    check_page,
    check_session_id,
    normalize_ttl,
)
from langchain_arcee.stores.serialization import DecodeCache, encode_messages

try:
    import redis
    import redis.asyncio as aredis
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing_extra("RedisChatStore", "redis-py", "redis") from exc

# Remove an index entry only if its message list is really gone (it may have been recreated
# by a concurrent append since it was read). Redis has no conditional ZREM: a script does it.
_ZREM_IF_GONE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return redis.call('ZREM', KEYS[2], ARGV[1])
end
return 0
"""

# How many index entries list_sessions/purge_expired read per round trip.
_SCAN_CHUNK = 500


def _session_bytes(session_id: str) -> bytes:
    try:
        return session_id.encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = f"session_id is not valid unicode (lone surrogate?): {session_id!r}"
        raise ValueError(msg) from exc


def _as_str(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


_PIPELINE_COMMAND = re.compile(r"Command # \d+ \(.*?\) of pipeline caused error: ", re.DOTALL)


class RedisChatStore(ChatStore):
    """Conversation store in Redis.

    Args:
        url: ``redis://`` or ``rediss://`` URL (needed unless both clients are injected).
        client: Sync client to use (not closed by :meth:`close`).
        async_client: Async client to use (not closed by :meth:`aclose`).
        ttl: A session expires this long after its last write (``timedelta`` or seconds).
        key_prefix: Prefix of every key this store writes.
        cache_size: How many decoded messages to cache; 0 disables the cache.

    Example:
        ``store = RedisChatStore("redis://localhost:6379/0", ttl=timedelta(days=30))``
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        async_client: aredis.Redis | None = None,
        ttl: timedelta | float | None = None,
        key_prefix: str = "arcee:",
        cache_size: int = 50_000,
    ) -> None:
        if url is None and (client is None or async_client is None):
            msg = "RedisChatStore needs a url unless both client and async_client are given"
            raise ValueError(msg)
        if not isinstance(key_prefix, str):
            msg = f"key_prefix must be a str, got {key_prefix!r}"
            raise TypeError(msg)
        self.url = url
        self.ttl = normalize_ttl(ttl)
        self.key_prefix = key_prefix
        self.index_key = f"{key_prefix}sessions".encode()
        self._client = client
        self._async_client = async_client
        self._owns_client = client is None
        self._owns_async_client = async_client is None
        self._lock = threading.Lock()
        self._cache = DecodeCache(max_entries=cache_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_prefix={self.key_prefix!r})"

    # ---- clients and keys --------------------------------------------------------------
    @property
    def client(self) -> redis.Redis:
        """The sync client (created on first use unless injected)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = redis.Redis.from_url(str(self.url))
        return self._client

    @property
    def async_client(self) -> aredis.Redis:
        """The async client (created on first use unless injected)."""
        if self._async_client is None:
            with self._lock:
                if self._async_client is None:
                    self._async_client = aredis.Redis.from_url(str(self.url))
        return self._async_client

    def messages_key(self, session_id: str) -> bytes:
        """The key of a session's message list."""
        check_session_id(session_id)
        encoded = base64.urlsafe_b64encode(_session_bytes(session_id)).rstrip(b"=")
        return self.key_prefix.encode() + b"m:" + encoded

    def _error(self, session_id: str, action: str, exc: Exception) -> StoreError:
        # redis-py quotes a failed pipeline command's arguments (the user's messages): drop them.
        reason = _PIPELINE_COMMAND.sub("", str(exc))
        return StoreError(f"session {session_id!r}: {action} failed: {reason}")

    # ---- core ---------------------------------------------------------------------------
    def _queue_append(self, pipe: Any, session_id: str, key: bytes, encoded: list[str]) -> None:
        pipe.rpush(key, *encoded)
        if self.ttl is not None:
            pipe.pexpire(key, int(self.ttl.total_seconds() * 1000))
        else:
            pipe.persist(key)
        pipe.zadd(self.index_key, {_session_bytes(session_id): time.time()})

    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages in one ``MULTI`` transaction (all or nothing).

        Raises:
            TypeError: If an item is not an encodable LangChain message (nothing stored).
            StoreError: If Redis rejected the write.
        """
        key = self.messages_key(session_id)
        encoded = encode_messages(messages)
        if not encoded:
            return
        try:
            with self.client.pipeline(transaction=True) as pipe:
                self._queue_append(pipe, session_id, key, encoded)
                pipe.execute()
        except redis.RedisError as exc:
            raise self._error(session_id, "append", exc) from exc

    async def aappend(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`append` with ``redis.asyncio``."""
        key = self.messages_key(session_id)
        encoded = encode_messages(messages)
        if not encoded:
            return
        try:
            async with self.async_client.pipeline(transaction=True) as pipe:
                self._queue_append(pipe, session_id, key, encoded)
                await pipe.execute()
        except redis.RedisError as exc:
            raise self._error(session_id, "append", exc) from exc

    @staticmethod
    def _range(last: int | None) -> tuple[int, int]:
        return (0, -1) if last is None else (-last, -1)

    def load(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Return the session's messages, oldest first (``LRANGE -last -1``)."""
        key = self.messages_key(session_id)
        if check_last(last) == 0:
            return []
        try:
            raws = self.client.lrange(key, *self._range(last))
        except redis.RedisError as exc:
            raise self._error(session_id, "load", exc) from exc
        return self._cache.decode_many(raws, session_id=session_id)

    async def aload(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Async :meth:`load` with ``redis.asyncio``."""
        key = self.messages_key(session_id)
        if check_last(last) == 0:
            return []
        try:
            raws = await self.async_client.lrange(key, *self._range(last))  # type: ignore[misc]
        except redis.RedisError as exc:
            raise self._error(session_id, "load", exc) from exc
        return self._cache.decode_many(raws, session_id=session_id)

    # ---- admin ---------------------------------------------------------------------------
    def count(self, session_id: str) -> int:
        """Number of messages stored for a session (``LLEN``)."""
        key = self.messages_key(session_id)
        try:
            return int(self.client.llen(key))  # type: ignore[arg-type]
        except redis.RedisError as exc:
            raise self._error(session_id, "count", exc) from exc

    async def acount(self, session_id: str) -> int:
        """Async :meth:`count`."""
        key = self.messages_key(session_id)
        try:
            return int(await self.async_client.llen(key))  # type: ignore[misc]
        except redis.RedisError as exc:
            raise self._error(session_id, "count", exc) from exc

    def read_page(self, session_id: str, *, offset: int = 0, limit: int = 100) -> list[BaseMessage]:
        """Messages ``offset`` .. ``offset + limit - 1`` of a session, oldest first."""
        key = self.messages_key(session_id)
        check_page(offset, limit)
        if limit == 0:
            return []
        try:
            raws = self.client.lrange(key, offset, offset + limit - 1)
        except redis.RedisError as exc:
            raise self._error(session_id, "read", exc) from exc
        return self._cache.decode_many(raws, session_id=session_id)  # type: ignore[arg-type]

    async def aread_page(
        self, session_id: str, *, offset: int = 0, limit: int = 100
    ) -> list[BaseMessage]:
        """Async :meth:`read_page`."""
        key = self.messages_key(session_id)
        check_page(offset, limit)
        if limit == 0:
            return []
        try:
            raws = await self.async_client.lrange(key, offset, offset + limit - 1)  # type: ignore[misc]
        except redis.RedisError as exc:
            raise self._error(session_id, "read", exc) from exc
        return self._cache.decode_many(raws, session_id=session_id)

    def _fetch_chunk(self, start: int) -> list[tuple[Any, float, int]]:
        members: Any = self.client.zrevrange(
            self.index_key, start, start + _SCAN_CHUNK - 1, withscores=True
        )
        if not members:
            return []
        with self.client.pipeline(transaction=False) as pipe:
            for member, _score in members:
                pipe.llen(self.messages_key(_as_str(member)))
            lengths = pipe.execute()
        return [(m, s, int(n)) for (m, s), n in zip(members, lengths, strict=True)]

    async def _afetch_chunk(self, start: int) -> list[tuple[Any, float, int]]:
        client = self.async_client
        members: Any = await client.zrevrange(
            self.index_key, start, start + _SCAN_CHUNK - 1, withscores=True
        )
        if not members:
            return []
        async with client.pipeline(transaction=False) as pipe:
            for member, _score in members:
                pipe.llen(self.messages_key(_as_str(member)))
            lengths = await pipe.execute()
        return [(m, s, int(n)) for (m, s), n in zip(members, lengths, strict=True)]

    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[SessionInfo]:
        """Live sessions, most recently updated first, with their message counts."""
        check_page(offset, limit)
        pager = _Pager(limit, offset)
        try:
            while not pager.full and (chunk := self._fetch_chunk(pager.scanned)):
                pager.feed(chunk)
        except redis.RedisError as exc:
            raise self._error("*", "list_sessions", exc) from exc
        return pager.infos

    async def alist_sessions(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        check_page(offset, limit)
        pager = _Pager(limit, offset)
        try:
            while not pager.full and (chunk := await self._afetch_chunk(pager.scanned)):
                pager.feed(chunk)
        except redis.RedisError as exc:
            raise self._error("*", "list_sessions", exc) from exc
        return pager.infos

    def clear(self, session_id: str) -> None:
        """Remove a session's messages and its index entry (one transaction)."""
        key = self.messages_key(session_id)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.zrem(self.index_key, _session_bytes(session_id))
                pipe.execute()
        except redis.RedisError as exc:
            raise self._error(session_id, "clear", exc) from exc

    async def aclear(self, session_id: str) -> None:
        """Async :meth:`clear`."""
        key = self.messages_key(session_id)
        try:
            async with self.async_client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.zrem(self.index_key, _session_bytes(session_id))
                await pipe.execute()
        except redis.RedisError as exc:
            raise self._error(session_id, "clear", exc) from exc

    async def adelete(self, session_id: str) -> None:
        """Async :meth:`delete`."""
        await self.aclear(session_id)

    def purge_expired(self) -> int:
        """Drop index entries of sessions Redis has expired; returns how many."""
        removed = 0
        start = 0
        try:
            script = self.client.register_script(_ZREM_IF_GONE)
            while True:
                members: Any = self.client.zrange(self.index_key, start, start + _SCAN_CHUNK - 1)
                if not members:
                    break
                with self.client.pipeline(transaction=False) as pipe:
                    for member in members:  # type: ignore[union-attr]
                        key = self.messages_key(_as_str(member))
                        script(keys=[key, self.index_key], args=[member], client=pipe)
                    results = pipe.execute()
                gone = sum(int(r) for r in results)
                removed += gone
                start += len(members) - gone  # type: ignore[arg-type]
        except redis.RedisError as exc:
            raise self._error("*", "purge_expired", exc) from exc
        return removed

    async def apurge_expired(self) -> int:
        """Async :meth:`purge_expired`."""
        removed = 0
        start = 0
        client = self.async_client
        try:
            script = client.register_script(_ZREM_IF_GONE)
            while True:
                members: Any = await client.zrange(self.index_key, start, start + _SCAN_CHUNK - 1)
                if not members:
                    break
                async with client.pipeline(transaction=False) as pipe:
                    for member in members:
                        key = self.messages_key(_as_str(member))
                        await script(keys=[key, self.index_key], args=[member], client=pipe)
                    results = await pipe.execute()
                gone = sum(int(r) for r in results)
                removed += gone
                start += len(members) - gone
        except redis.RedisError as exc:
            raise self._error("*", "purge_expired", exc) from exc
        return removed

    def close(self) -> None:
        """Close the sync client if this store created it (use :meth:`aclose` for async)."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the clients this store created (injected clients are left open)."""
        if self._owns_async_client and self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None
        self.close()


class _Pager:
    """Applies ``offset``/``limit`` to index entries, skipping sessions that have expired."""

    def __init__(self, limit: int | None, offset: int) -> None:
        self.limit = limit
        self.offset = offset
        self.skipped = 0
        self.scanned = 0
        self.infos: list[SessionInfo] = []

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.infos) >= self.limit

    def feed(self, chunk: list[tuple[Any, float, int]]) -> None:
        self.scanned += len(chunk)
        for member, score, length in chunk:
            if self.full:
                return
            if length == 0:  # expired or cleared since it was indexed
                continue
            if self.skipped < self.offset:
                self.skipped += 1
                continue
            updated = datetime.fromtimestamp(score, tz=timezone.utc)
            self.infos.append(SessionInfo(_as_str(member), length, updated))
