"""Redis conversation store on plain Redis (no modules), sync and native async.

Layout (``<prefix>`` is ``key_prefix``, default ``arcee:``; ``<id>`` is the base64url of the
session id, so any string is safe in a key and two ids never share one)::

    <prefix>m:<id>      LIST of encoded messages, oldest first
    <prefix>v:<id>      HASH  v -> the session's version, t -> the last committed turn's token,
                              e -> when the hash was created (tells lives of an id apart),
                              s, c, u -> the running summary, what it covers, when made
    <prefix>l:<id>      STRING the lease holder's token, expiring (PX) with the lease
    <prefix>sessions    ZSET  session id -> last write time (Redis' clock, epoch seconds)
    <prefix>schema      STRING the layout's version (see ``MIGRATIONS``)

Every operation on a session is one Lua script (atomic, one round trip): a turn's start takes
the lease and reads the version and the newest messages; its commit checks the version,
appends, bumps the version and releases the lease. Times are Redis' own (key expiry, ``TIME``),
so app hosts with disagreeing clocks agree.

Eviction: Redis with a ``maxmemory-policy`` other than ``noeviction`` deletes whole keys under
memory pressure, i.e. whole conversations, silently. The store reads the policy (``CONFIG GET
maxmemory-policy``) with its first command and warns (:class:`EvictionPolicyWarning`) or refuses
(``eviction_check="refuse"``) when it could evict conversations: ``allkeys-*`` always,
``volatile-*`` when the store sets a TTL (only keys with an expiry are candidates then). Where
``CONFIG`` is disabled or denied by an ACL the policy cannot be read and nothing is said.

Sync and async share everything but the final ``execute``: an operation is a list of commands
plus a function of their replies, run on a pipeline by :meth:`RedisChatStore._run` or
:meth:`RedisChatStore._arun`; multi-step operations (listing, purging) are generators of
operations driven by :meth:`RedisChatStore._drive` / :meth:`RedisChatStore._adrive`.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import re
import threading
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from langchain_core.messages import BaseMessage

from langchain_arcee.event_loops import PerLoop
from langchain_arcee.extras import missing_extra
from langchain_arcee.redaction import redact_url, scrub, unambiguous_url
from langchain_arcee.stores.base import (
    ChatStore,
    Retake,
    SessionInfo,
    SessionSummary,
    StoreError,
    TurnLease,
    TurnStart,
    check_last,
    check_page,
    check_session_id,
    conflict_error,
    normalize_ttl,
)
from langchain_arcee.stores.serialization import DecodeCache, encode_messages
from langchain_arcee.stores.window_cache import DEFAULT_MAX_MESSAGES, State, WindowCache

try:
    import redis
    import redis.asyncio as aredis
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing_extra("RedisChatStore", "redis-py", "redis") from exc

_T = TypeVar("_T")

# KEYS: list, meta, lease. ARGV: token, lease ms, last (-1: all), the cached state's version,
# epoch, length and the SHA-1 of its newest message ('-1', '', '-1', '': none). Returns nil if
# another token holds the lease, else {version, total, head or false, window, epoch, grown}; the
# window is left out (empty) if the session is at the cached state, and holds only the messages
# after the cached ones if the session only grew since (grown = 1): same epoch (renewed whenever
# the list starts from empty), longer, and the cached newest message still where it was.
_BEGIN = """
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[1] then return false end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
local version = tonumber(redis.call('HGET', KEYS[2], 'v') or '0')
local epoch = redis.call('HGET', KEYS[2], 'e') or ''
local total = redis.call('LLEN', KEYS[1])
local last = tonumber(ARGV[3])
local window = {}
local grown = 0
local cached = tostring(version) == ARGV[4] and epoch == ARGV[5] and tostring(total) == ARGV[6]
if not cached then
    local known = tonumber(ARGV[6])
    local from = 0
    if epoch ~= '' and epoch == ARGV[5] and ARGV[7] ~= '' and known > 0 and total > known
        and redis.sha1hex(redis.call('LINDEX', KEYS[1], known - 1) or '') == ARGV[7] then
        grown = 1
        from = known
    end
    if last < 0 then
        window = redis.call('LRANGE', KEYS[1], from, -1)
    elseif last > 0 then
        window = redis.call('LRANGE', KEYS[1], math.max(from, total - last), -1)
    end
end
local head = false
if total > #window then head = redis.call('LINDEX', KEYS[1], 0) end
return {version, total, head, window, epoch, grown}
"""

# KEYS: list, meta, lease, index. ARGV: token, base version ('' = unconditional), ttl ms
# (0 = none), index member, epoch the turn read ('' = any), messages... Returns {epoch, length}
# if stored now, 1 if stored already by this token, 0 if the session moved on. The epoch (field
# e, the time the session's list last started from empty: created, cleared, or lost to eviction
# or expiry) tells two lives of a session id apart: in the window caches' states, and for a
# turn's commit, refused in a later life that reached the version it read.
_APPEND = """
local version = tonumber(redis.call('HGET', KEYS[2], 'v') or '0')
if ARGV[2] ~= '' and version ~= tonumber(ARGV[2]) then
    if version == tonumber(ARGV[2]) + 1 and redis.call('HGET', KEYS[2], 't') == ARGV[1] then
        return 1
    end
    return 0
end
if ARGV[5] ~= '' and (redis.call('HGET', KEYS[2], 'e') or '') ~= ARGV[5] then return 0 end
local fresh = redis.call('LLEN', KEYS[1]) == 0
-- A list that starts from empty starts a new life: no summary of an earlier one carries over.
if fresh then redis.call('HDEL', KEYS[2], 's', 'c', 'u') end
for i = 6, #ARGV, 1000 do
    redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local epoch = redis.call('HGET', KEYS[2], 'e')
if fresh or not epoch then
    local now = redis.call('TIME')
    epoch = now[1] .. '.' .. now[2]
end
redis.call('HSET', KEYS[2], 'v', version + 1, 't', ARGV[1], 'e', epoch)
if tonumber(ARGV[3]) > 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
else
    redis.call('PERSIST', KEYS[1])
    redis.call('PERSIST', KEYS[2])
end
local now = redis.call('TIME')
redis.call('ZADD', KEYS[4], tonumber(now[1]) + tonumber(now[2]) / 1000000, ARGV[4])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return {epoch, redis.call('LLEN', KEYS[1])}
"""

# KEYS: list, meta, index. ARGV: index member, tombstone ms. The version moves on and is kept
# for a while, so a turn in flight on the session is refused at commit; its lease is left to it
# (released when that commit is refused), so no other turn runs beside it meanwhile.
_CLEAR = """
redis.call('DEL', KEYS[1])
redis.call('HINCRBY', KEYS[2], 'v', 1)
redis.call('HDEL', KEYS[2], 't', 's', 'c', 'u')
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""

# KEYS: meta, list. ARGV: expected covers ('' = none yet), text, covers, produced (epoch s),
# version and epoch of the turn it was made in ('' = any). The running summary's
# compare-and-set; the session must exist, at that turn's version and life.
_SAVE_SUMMARY = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if (redis.call('HGET', KEYS[1], 'c') or '') ~= ARGV[1] then return 0 end
if ARGV[5] ~= '' and tonumber(redis.call('HGET', KEYS[1], 'v') or '0') ~= tonumber(ARGV[5]) then
    return 0
end
if ARGV[6] ~= '' and (redis.call('HGET', KEYS[1], 'e') or '') ~= ARGV[6] then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'c', ARGV[3], 'u', ARGV[4])
-- The hash expires with the list (a 0.1.0-layout list has a TTL and, until now, no hash).
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""

# KEYS: lease. ARGV: token, lease ms (renew) or '' (release).
_LEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""

# Remove an index entry only if its message list is really gone (it may have been recreated
# by a concurrent append since it was read). Redis has no conditional ZREM: a script does it.
_ZREM_IF_GONE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return redis.call('ZREM', KEYS[2], ARGV[1])
end
return 0
"""

# KEYS: schema key. ARGV: this code's layout version. Records it unless newer; returns the old.
_RECORD_SCHEMA = """
local found = redis.call('GET', KEYS[1])
if not found or tonumber(found) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return found
"""

# How many index entries list_sessions/purge_expired read per round trip.
_SCAN_CHUNK = 500

# How long a cleared/deleted session's version is remembered (longer than any lease).
_TOMBSTONE_MS = 24 * 3600 * 1000

SCHEMA_VERSION_KEY = "schema"

EvictionCheck = Literal["warn", "refuse", "off"]
"""What a store does when Redis may evict conversations: warn, raise ``StoreError``, or nothing."""


class EvictionPolicyWarning(UserWarning):
    """Redis's ``maxmemory-policy`` may evict (silently delete) whole conversations."""


def evicts_sessions(policy: str, *, has_ttl: bool) -> bool:
    """Whether keys of a store (with or without a TTL) are candidates under ``policy``."""
    return policy.startswith("allkeys-") or (policy.startswith("volatile-") and has_ttl)


_PIPELINE_COMMAND = re.compile(r"Command # \d+ \(.*?\) of pipeline caused error: ", re.DOTALL)


def _session_bytes(session_id: str) -> bytes:
    try:
        return session_id.encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = f"session_id is not valid unicode (lone surrogate?): {session_id!r}"
        raise ValueError(msg) from exc


def _digest(raw: bytes | str) -> str:
    """The SHA-1 of a stored message as Lua's ``redis.sha1hex`` computes it (hex)."""
    data = raw if isinstance(raw, bytes) else raw.encode()
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()  # an identity check, not security


def _as_str(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


@dataclass
class _Op(Generic[_T]):
    """Commands to send in one round trip and what to make of their replies."""

    commands: list[tuple[Any, ...]]
    finish: Callable[[list[Any]], _T]
    transaction: bool = False
    # Hand failed commands' errors to ``finish`` as values instead of raising the first one.
    errors_as_values: bool = False


_Plan = Generator["_Op[Any]", Any, _T]
"""Round trips run in turn; each op's answer is sent back into the plan."""


class RedisChatStore(ChatStore):
    """Conversation store in Redis.

    Args:
        url: ``redis://`` or ``rediss://`` URL (needed unless both clients are injected).
        client: Sync client to use (not closed by :meth:`close`).
        async_client: Async client to use (not closed by :meth:`aclose`; the caller keeps
            it on one event loop). Without one, the store opens one client per event loop.
        ttl: A session expires this long after its last write (``timedelta`` or seconds).
        key_prefix: Prefix of every key this store writes.
        cache_bytes: Bound of the decoded-message cache (bytes of stored text); 0 disables it.
        max_connections: Connections each client this store opens may hold; a turn beyond
            them waits for one (up to ``connect_timeout``) instead of failing, so hundreds of
            concurrent turns share a bounded pool.
        connect_timeout: How long a turn waits for a free connection before ``StoreError``.
        eviction_check: What to do on connecting when Redis's ``maxmemory-policy`` may evict
            this store's keys (conversations need ``noeviction``): ``"warn"`` (default, an
            :class:`EvictionPolicyWarning`), ``"refuse"`` (every call raises ``StoreError``)
            or ``"off"``.

    Attributes:
        url: The URL with its password and credential query values shown as ``***`` (the
            real one is kept private).

    Example:
        ``store = RedisChatStore("redis://localhost:6379/0", ttl=timedelta(days=30))``
    """

    MIGRATIONS: tuple[str, ...] = (
        "0.1.0 layout: message lists and the session index",
        "turn protocol: version hashes and lease keys (absent hash = version 0)",
        "running summary: fields s, c, u of the version hash (absent = no summary)",
        "window-cache states: field e of the version hash (absent until the next append)",
    )
    """The layout's versions; index ``i`` is version ``i``. No step needs a rewrite of
    existing keys, so upgrading only records the version."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        async_client: aredis.Redis | None = None,
        ttl: timedelta | float | None = None,
        key_prefix: str = "arcee:",
        cache_bytes: int = DecodeCache.DEFAULT_MAX_BYTES,
        max_connections: int = 50,
        connect_timeout: float = 30.0,
        eviction_check: EvictionCheck = "warn",
    ) -> None:
        if url is None and (client is None or async_client is None):
            msg = "RedisChatStore needs a url unless both client and async_client are given"
            raise ValueError(msg)
        if not isinstance(key_prefix, str):
            msg = f"key_prefix must be a str, got {key_prefix!r}"
            raise TypeError(msg)
        if eviction_check not in ("warn", "refuse", "off"):
            msg = f"eviction_check must be 'warn', 'refuse' or 'off', got {eviction_check!r}"
            raise ValueError(msg)
        if url is not None:
            # A password's unencoded '@' is encoded; a '/', '?' or '#' in it refused (redis-py
            # would read the rest as the host and port, and quote it in its errors).
            url = unambiguous_url(url)
            try:
                redis.connection.parse_url(url)  # type: ignore[no-untyped-call]
                urlsplit(url).port  # noqa: B018 - a port that is not a number: ValueError
            except ValueError as exc:
                msg = f"invalid Redis URL {redact_url(url)!r}: {scrub(str(exc))}"
                raise ValueError(msg) from None
        self._url = url
        self.url = redact_url(url) if url is not None else None
        self.eviction_check: EvictionCheck = eviction_check
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            msg = f"max_connections must be a positive int, got {max_connections!r}"
            raise TypeError(msg)
        if max_connections < 1:
            msg = f"max_connections must be a positive int, got {max_connections!r}"
            raise ValueError(msg)
        self.max_connections = max_connections
        self.connect_timeout = float(connect_timeout)
        self.ttl = normalize_ttl(ttl)
        self.key_prefix = key_prefix
        self.index_key = f"{key_prefix}sessions".encode()
        self.schema_key = f"{key_prefix}{SCHEMA_VERSION_KEY}".encode()
        self._client = client
        self._injected_async_client = async_client
        self._loop_clients: PerLoop[aredis.Redis] = PerLoop()
        self._owns_client = client is None
        self._lock = threading.Lock()
        self._ready = False
        self._cache = DecodeCache(max_bytes=cache_bytes)
        # Both caches or neither: cache_bytes=0 asks for every read to come from Redis.
        self._windows = WindowCache(DEFAULT_MAX_MESSAGES if cache_bytes else 0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_prefix={self.key_prefix!r})"

    # ---- clients and keys --------------------------------------------------------------
    @property
    def client(self) -> redis.Redis:
        """The sync client (created on first use unless injected)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    # A blocking pool: a turn waits for a connection rather than failing with
                    # "Too many connections" (redis-py's default pool raises at its limit).
                    pool = redis.BlockingConnectionPool.from_url(
                        str(self._url),
                        max_connections=self.max_connections,
                        timeout=self.connect_timeout,
                    )
                    self._client = redis.Redis.from_pool(pool)
        return self._client

    @property
    def async_client(self) -> aredis.Redis:
        """The async client of the running event loop (one per loop unless injected).

        redis-py's async connections belong to the loop that opened them; reusing them from a
        later ``asyncio.run()`` fails with "Event loop is closed".
        """
        if self._injected_async_client is not None:
            return self._injected_async_client
        loop = asyncio.get_running_loop()
        client = self._loop_clients.get(loop)
        if client is None:
            pool = aredis.BlockingConnectionPool.from_url(
                str(self._url), max_connections=self.max_connections, timeout=self.connect_timeout
            )
            client = self._loop_clients.add(loop, aredis.Redis.from_pool(pool))
        return client

    def _key(self, kind: bytes, session_id: str) -> bytes:
        check_session_id(session_id)
        encoded = base64.urlsafe_b64encode(_session_bytes(session_id)).rstrip(b"=")
        return self.key_prefix.encode() + kind + b":" + encoded

    def messages_key(self, session_id: str) -> bytes:
        """The key of a session's message list."""
        return self._key(b"m", session_id)

    def _keys(self, session_id: str) -> tuple[bytes, bytes, bytes]:
        return (
            self.messages_key(session_id),
            self._key(b"v", session_id),
            self._key(b"l", session_id),
        )

    def _error(self, session_id: str, action: str, exc: Exception) -> StoreError:
        # redis-py quotes a failed pipeline command's arguments (the user's messages): drop them.
        reason = scrub(_PIPELINE_COMMAND.sub("", str(exc)))
        return StoreError(f"session {session_id!r}: {action} failed: {reason}")

    # ---- execution: one implementation, two drivers ------------------------------------------
    def _setup_ops(self) -> list[_Op[None]]:
        """Once per store: check the eviction policy (before any write), record the layout."""
        known = len(self.MIGRATIONS) - 1

        def record(replies: list[Any]) -> None:
            found = int(replies[0] or 0)
            if found > known:
                msg = (
                    f"{self!r}: the keyspace has layout version {found}, newer than this "
                    f"version of langchain-arcee knows ({known}); upgrade the package"
                )
                raise StoreError(msg)
            self._ready = True

        ops: list[_Op[None]] = []
        if self.eviction_check != "off":
            judge = _Op(
                [("CONFIG", "GET", "maxmemory-policy")],
                lambda replies: self._judge_policy(replies[0]),
                errors_as_values=True,
            )
            ops.append(judge)
        ops.append(_Op([("EVAL", _RECORD_SCHEMA, 1, self.schema_key, known)], record))
        return ops

    def _judge_policy(self, reply: Any) -> None:
        """Warn or refuse if the ``CONFIG GET maxmemory-policy`` reply may evict keys."""
        if isinstance(reply, Exception):  # CONFIG disabled or denied by an ACL: can't tell
            return
        flat = not isinstance(reply, dict)
        pairs = zip(reply[::2], reply[1::2], strict=True) if flat else reply.items()
        values = [_as_str(v) for _k, v in pairs]
        policy = values[0] if values else None
        if policy is None or not evicts_sessions(policy, has_ttl=self.ttl is not None):
            return
        msg = (
            f"Redis for {self!r} has maxmemory-policy {policy!r}: under memory pressure it "
            "silently deletes whole conversations. Conversations need maxmemory-policy "
            "noeviction (CONFIG SET maxmemory-policy noeviction, or in redis.conf)"
        )
        if self.eviction_check == "refuse":
            raise StoreError(f"{msg}; refusing to use it (eviction_check='refuse').")
        warnings.warn(f"{msg}.", EvictionPolicyWarning, stacklevel=5)

    def _run(self, op: _Op[_T], session_id: str, action: str) -> _T:
        try:
            if not self._ready:
                for setup in self._setup_ops():
                    self._run_once(setup)
            return self._run_once(op)
        except redis.RedisError as exc:
            raise self._error(session_id, action, exc) from exc

    def _run_once(self, op: _Op[_T]) -> _T:
        try:
            return op.finish(self._send(op, _by_sha(op.commands)))
        except redis.exceptions.NoScriptError:  # first use on this server: send the scripts
            return op.finish(self._send(op, op.commands))

    def _send(self, op: _Op[Any], commands: list[tuple[Any, ...]]) -> list[Any]:
        with self.client.pipeline(transaction=op.transaction) as pipe:
            for command in commands:
                pipe.execute_command(*command)  # type: ignore[no-untyped-call]
            return _raise_no_script(pipe.execute(raise_on_error=not op.errors_as_values))

    async def _arun(self, op: _Op[_T], session_id: str, action: str) -> _T:
        try:
            if not self._ready:
                for setup in self._setup_ops():
                    await self._arun_once(setup)
            return await self._arun_once(op)
        except StoreError:
            raise
        except (redis.RedisError, RuntimeError) as exc:
            # RuntimeError: an injected async client used on a loop that has closed.
            raise self._error(session_id, action, exc) from exc

    async def _arun_once(self, op: _Op[_T]) -> _T:
        try:
            return op.finish(await self._asend(op, _by_sha(op.commands)))
        except redis.exceptions.NoScriptError:
            return op.finish(await self._asend(op, op.commands))

    async def _asend(self, op: _Op[Any], commands: list[tuple[Any, ...]]) -> list[Any]:
        async with self.async_client.pipeline(transaction=op.transaction) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return _raise_no_script(await pipe.execute(raise_on_error=not op.errors_as_values))

    def _drive(self, plan: _Plan[_T], session_id: str, action: str) -> _T:
        try:
            op = next(plan)
            while True:
                op = plan.send(self._run(op, session_id, action))
        except StopIteration as done:
            result: _T = done.value
            return result

    async def _adrive(self, plan: _Plan[_T], session_id: str, action: str) -> _T:
        try:
            op = next(plan)
            while True:
                op = plan.send(await self._arun(op, session_id, action))
        except StopIteration as done:
            result: _T = done.value
            return result

    # ---- operations --------------------------------------------------------------------------
    def _begin_plan(
        self, session_id: str, token: str, last: int | None, lease_seconds: float
    ) -> _Plan[TurnStart | None]:
        """A turn start (one script).

        Read again, whole, if this object's cached window moved on meanwhile (the start's token
        holds the lease by then).
        """
        check_last(last)
        start: TurnStart | Retake | None = yield self._begin_op(
            session_id, token, last, lease_seconds
        )
        if start is Retake.RETAKE:
            start = yield self._begin_op(session_id, token, last, lease_seconds, cached=False)
        assert start is not Retake.RETAKE  # a whole read is never retaken
        return start

    def _begin_op(
        self,
        session_id: str,
        token: str,
        last: int | None,
        lease_seconds: float,
        *,
        cached: bool = True,
    ) -> _Op[TurnStart | Retake | None]:
        keys = self._keys(session_id)
        lease_ms = max(1, int(lease_seconds * 1000))
        window = -1 if last is None else last

        known = self._windows.known(session_id, last) if cached else None
        if known is not None and not known[1][0]:
            # No epoch (a list an older version wrote, never committed to by this one): its
            # writers don't stamp a clear and a rewrite, so it is read whole every time.
            known = None
        known_args = (known[0], *known[1]) if known is not None else (-1, "", -1, "")

        def finish(replies: list[Any]) -> TurnStart | Retake | None:
            reply = replies[0]
            if reply is None:
                return None
            version, total, head, raws, epoch, grown = reply
            decode = self._cache.decode_many
            lease = TurnLease(session_id, token, int(version), lease_seconds, _as_str(epoch))
            stamp = (_as_str(epoch), int(total))
            if known is not None and (int(version), stamp) == (known[0], known[1][:2]):
                newest = known[1][2]  # at the cached state: nothing shipped
            else:
                newest = _digest(raws[-1]) if raws else ""
            state: State = (int(version), (*stamp, newest))
            messages = self._windows.resolve(
                session_id,
                state,
                known,
                last,
                int(total),
                lambda: decode(raws, session_id=session_id, shared=True),
                grown=bool(grown),
            )
            if messages is None:
                return Retake.RETAKE  # the cached window moved on meanwhile: read again
            first = None
            if head and len(messages) < int(total):
                first = decode([head], session_id=session_id, shared=True)[0]
            return TurnStart(lease, messages, int(total), first)

        command = ("EVAL", _BEGIN, 3, *keys, token, lease_ms, window, *known_args)
        return _Op([command], finish)

    def _append_op(
        self,
        session_id: str,
        encoded: list[str],
        finish: Callable[[list[Any]], None],
        *,
        token: str = "",
        base: int | None = None,
        life: str = "",
    ) -> _Op[None]:
        messages_key, meta_key, lease_key = self._keys(session_id)
        ttl_ms = int(self.ttl.total_seconds() * 1000) if self.ttl is not None else 0
        keys = (messages_key, meta_key, lease_key, self.index_key)
        base_arg = "" if base is None else base
        member = _session_bytes(session_id)
        command = ("EVAL", _APPEND, 4, *keys, token, base_arg, ttl_ms, member, life, *encoded)
        return _Op([command], finish)

    def _commit_op(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> _Op[None]:
        encoded = encode_messages(messages)
        life = lease.life if isinstance(lease.life, str) else ""

        def finish(replies: list[Any]) -> None:
            reply = replies[0]
            if isinstance(reply, list) and (not life or _as_str(reply[0]) == life):
                # Stored now, onto the list the turn read: the cache moves along.
                epoch, length = reply
                appended = self._cache.decode_many(
                    encoded, session_id=lease.session_id, shared=True
                )
                stamp = (_as_str(epoch), int(length), _digest(encoded[-1]) if encoded else "")
                self._windows.advance(
                    lease.session_id, lease.version, (lease.version + 1, stamp), appended
                )
                return
            self._windows.forget(lease.session_id)
            if isinstance(reply, list):
                return  # stored now, onto a list that had started afresh (evicted, expired)
            if not int(reply):
                raise conflict_error(lease, messages)

        return self._append_op(
            lease.session_id, encoded, finish, token=lease.token, base=lease.version, life=life
        )

    def _lease_op(self, lease: TurnLease, renew: bool) -> _Op[bool]:
        lease_key = self._keys(lease.session_id)[2]
        ms: int | str = max(1, int(lease.lease_seconds * 1000)) if renew else ""
        return _Op([("EVAL", _LEASE, 1, lease_key, lease.token, ms)], lambda r: bool(int(r[0])))

    def _load_op(self, session_id: str, start: int, stop: int) -> _Op[list[BaseMessage]]:
        key = self.messages_key(session_id)

        def finish(replies: list[Any]) -> list[BaseMessage]:
            return self._cache.decode_many(replies[0], session_id=session_id)

        return _Op([("LRANGE", key, start, stop)], finish)

    def _clear_op(self, session_id: str) -> _Op[None]:
        messages_key, meta_key, _ = self._keys(session_id)
        keys = (messages_key, meta_key, self.index_key)
        member = _session_bytes(session_id)
        return _Op([("EVAL", _CLEAR, 3, *keys, member, _TOMBSTONE_MS)], _none)

    def _list_plan(self, limit: int | None, offset: int) -> _Plan[list[SessionInfo]]:
        check_page(offset, limit)
        pager = _Pager(limit, offset)
        while not pager.full:
            start = pager.scanned
            members = yield _Op(
                [("ZREVRANGE", self.index_key, start, start + _SCAN_CHUNK - 1, "WITHSCORES")],
                lambda replies: replies[0],
            )
            if not members:
                break
            pairs = _score_pairs(members)
            lengths = yield _Op(
                [("LLEN", self.messages_key(_as_str(m))) for m, _ in pairs], lambda r: r
            )
            pager.feed([(m, float(s), int(n)) for (m, s), n in zip(pairs, lengths, strict=True)])
        return pager.infos

    def _purge_plan(self) -> _Plan[int]:
        removed = 0
        start = 0
        while True:
            members = yield _Op(
                [("ZRANGE", self.index_key, start, start + _SCAN_CHUNK - 1)], lambda r: r[0]
            )
            if not members:
                return removed
            results = yield _Op(
                [
                    ("EVAL", _ZREM_IF_GONE, 2, self.messages_key(_as_str(m)), self.index_key, m)
                    for m in members
                ],
                lambda r: r,
            )
            gone = sum(int(r) for r in results)
            removed += gone
            start += len(members) - gone

    # ---- the running summary -----------------------------------------------------------------
    def _summary_load_op(self, session_id: str) -> _Op[SessionSummary | None]:
        def finish(replies: list[Any]) -> SessionSummary | None:
            text, covers, produced = replies[0]
            if text is None or covers is None:
                return None
            when = datetime.fromtimestamp(float(produced), tz=timezone.utc) if produced else None
            return SessionSummary(_as_str(text), int(covers), when)

        meta_key = self._keys(session_id)[1]
        return _Op([("HMGET", meta_key, "s", "c", "u")], finish)

    def _summary_save_op(
        self,
        session_id: str,
        summary: SessionSummary,
        expected_covers: int | None,
        at: TurnLease | None,
    ) -> _Op[bool]:
        messages_key, meta_key, _ = self._keys(session_id)
        produced = (summary.updated_at or datetime.now(timezone.utc)).timestamp()
        expected = "" if expected_covers is None else str(expected_covers)
        at_version = "" if at is None else at.version
        at_life = at.life if at is not None and isinstance(at.life, str) else ""
        command = (
            "EVAL", _SAVE_SUMMARY, 2, meta_key, messages_key,
            expected, summary.text, summary.covers, repr(produced), at_version, at_life,
        )  # fmt: skip
        return _Op([command], lambda replies: bool(int(replies[0])))

    def load_summary(self, session_id: str) -> SessionSummary | None:
        """The session's summary, or ``None`` (one ``HMGET``)."""
        return self._run(self._summary_load_op(session_id), session_id, "load summary")

    async def aload_summary(self, session_id: str) -> SessionSummary | None:
        """Async :meth:`load_summary`."""
        return await self._arun(self._summary_load_op(session_id), session_id, "load summary")

    def save_summary(
        self,
        session_id: str,
        summary: SessionSummary,
        *,
        expected_covers: int | None,
        at: TurnLease | None = None,
    ) -> bool:
        """Compare-and-set the session's summary on its ``covers`` (one script)."""
        op = self._summary_save_op(session_id, summary, expected_covers, at)
        return self._run(op, session_id, "save summary")

    async def asave_summary(
        self,
        session_id: str,
        summary: SessionSummary,
        *,
        expected_covers: int | None,
        at: TurnLease | None = None,
    ) -> bool:
        """Async :meth:`save_summary`."""
        op = self._summary_save_op(session_id, summary, expected_covers, at)
        return await self._arun(op, session_id, "save summary")

    # ---- turns -------------------------------------------------------------------------------
    def try_begin_turn(
        self, session_id: str, token: str, *, last: int | None, lease_seconds: float
    ) -> TurnStart | None:
        """Take the lease and read the newest ``last`` messages (one script)."""
        plan = self._begin_plan(session_id, token, last, lease_seconds)
        return self._drive(plan, session_id, "begin turn")

    async def atry_begin_turn(
        self, session_id: str, token: str, *, last: int | None, lease_seconds: float
    ) -> TurnStart | None:
        """Async :meth:`try_begin_turn`."""
        plan = self._begin_plan(session_id, token, last, lease_seconds)
        return await self._adrive(plan, session_id, "begin turn")

    def commit_turn(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
        """Append the turn if the session is still at ``lease.version`` (one script)."""
        self._run(self._commit_op(lease, messages), lease.session_id, "append")

    async def acommit_turn(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`commit_turn`."""
        await self._arun(self._commit_op(lease, messages), lease.session_id, "append")

    def release_turn(self, lease: TurnLease) -> None:
        """Give the lease back (a no-op if another token holds it)."""
        self._run(self._lease_op(lease, renew=False), lease.session_id, "release")

    async def arelease_turn(self, lease: TurnLease) -> None:
        """Async :meth:`release_turn`."""
        await self._arun(self._lease_op(lease, renew=False), lease.session_id, "release")

    def renew_turn(self, lease: TurnLease) -> bool:
        """Extend the lease; False if it is no longer held by ``lease.token``."""
        return self._run(self._lease_op(lease, renew=True), lease.session_id, "renew")

    async def arenew_turn(self, lease: TurnLease) -> bool:
        """Async :meth:`renew_turn`."""
        return await self._arun(self._lease_op(lease, renew=True), lease.session_id, "renew")

    # ---- core ----------------------------------------------------------------------------
    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages atomically (one script), bumping the version.

        Raises:
            TypeError: If an item is not an encodable LangChain message (nothing stored).
            StoreError: If Redis rejected the write.
        """
        encoded = encode_messages(messages)
        if encoded:
            self._run(self._append_op(session_id, encoded, _none), session_id, "append")

    async def aappend(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`append`."""
        encoded = encode_messages(messages)
        if encoded:
            await self._arun(self._append_op(session_id, encoded, _none), session_id, "append")

    @staticmethod
    def _range(last: int | None) -> tuple[int, int]:
        return (0, -1) if last is None else (-last, -1)

    def load(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Return the session's messages, oldest first (``LRANGE -last -1``)."""
        if check_last(last) == 0:
            check_session_id(session_id)
            return []
        return self._run(self._load_op(session_id, *self._range(last)), session_id, "load")

    async def aload(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Async :meth:`load`."""
        if check_last(last) == 0:
            check_session_id(session_id)
            return []
        op = self._load_op(session_id, *self._range(last))
        return await self._arun(op, session_id, "load")

    # ---- admin ---------------------------------------------------------------------------
    def _count_op(self, session_id: str) -> _Op[int]:
        return _Op([("LLEN", self.messages_key(session_id))], lambda r: int(r[0]))

    def count(self, session_id: str) -> int:
        """Number of messages stored for a session (``LLEN``)."""
        return self._run(self._count_op(session_id), session_id, "count")

    async def acount(self, session_id: str) -> int:
        """Async :meth:`count`."""
        return await self._arun(self._count_op(session_id), session_id, "count")

    def _page_op(self, session_id: str, offset: int, limit: int) -> _Op[list[BaseMessage]]:
        check_page(offset, limit)
        if limit == 0:
            return _Op([("LLEN", self.messages_key(session_id))], lambda _r: [])
        return self._load_op(session_id, offset, offset + limit - 1)

    def read_page(self, session_id: str, *, offset: int = 0, limit: int = 100) -> list[BaseMessage]:
        """Messages ``offset`` .. ``offset + limit - 1`` of a session, oldest first."""
        return self._run(self._page_op(session_id, offset, limit), session_id, "read")

    async def aread_page(
        self, session_id: str, *, offset: int = 0, limit: int = 100
    ) -> list[BaseMessage]:
        """Async :meth:`read_page`."""
        return await self._arun(self._page_op(session_id, offset, limit), session_id, "read")

    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[SessionInfo]:
        """Live sessions, most recently updated first, with their message counts."""
        return self._drive(self._list_plan(limit, offset), "*", "list_sessions")

    async def alist_sessions(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        return await self._adrive(self._list_plan(limit, offset), "*", "list_sessions")

    def clear(self, session_id: str) -> None:
        """Remove a session's messages and index entry; its version moves on (one script)."""
        self._run(self._clear_op(session_id), session_id, "clear")

    async def aclear(self, session_id: str) -> None:
        """Async :meth:`clear`."""
        await self._arun(self._clear_op(session_id), session_id, "clear")

    async def adelete(self, session_id: str) -> None:
        """Async :meth:`delete`."""
        await self.aclear(session_id)

    def purge_expired(self) -> int:
        """Drop index entries of sessions Redis has expired; returns how many."""
        return self._drive(self._purge_plan(), "*", "purge_expired")

    async def apurge_expired(self) -> int:
        """Async :meth:`purge_expired`."""
        return await self._adrive(self._purge_plan(), "*", "purge_expired")

    def close(self) -> None:
        """Close the clients this store created (use :meth:`aclose` in async code)."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None
        self._loop_clients.clear()

    async def aclose(self) -> None:
        """Close the clients this store created (injected clients are left open)."""
        client = self._loop_clients.pop(asyncio.get_running_loop())
        if client is not None:
            await client.aclose()
        self.close()


def _none(_replies: list[Any]) -> None:
    return None


@functools.cache
def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


def _by_sha(commands: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``EVAL script ...`` as ``EVALSHA sha1 ...`` (the server keeps scripts by SHA1).

    A turn then sends 40 bytes instead of the script's text, and the server skips hashing it.
    """
    return [
        ("EVALSHA", _sha(command[1]), *command[2:]) if command[0] == "EVAL" else command
        for command in commands
    ]


def _raise_no_script(replies: list[Any]) -> list[Any]:
    """Raise a script-cache miss reported as a value (pipelines run with errors as values)."""
    for reply in replies:
        if isinstance(reply, redis.exceptions.NoScriptError):
            raise reply
    return replies


def _score_pairs(reply: list[Any]) -> list[tuple[Any, Any]]:
    """``(member, score)`` pairs of a ``WITHSCORES`` reply, flat or paired by redis-py."""
    if reply and isinstance(reply[0], (list, tuple)):
        return [(member, score) for member, score in reply]
    return list(zip(reply[::2], reply[1::2], strict=True))


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
