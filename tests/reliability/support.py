"""Shared helpers of the reliability suite: stores under test, fault switches, invariants.

Used by the tests in this folder and by ``benchmarks/reliability_report.py``, so the fault
campaign and the tests exercise exactly the same stores, faults and checks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, messages_to_dict
from langchain_core.runnables import RunnableConfig

from langchain_arcee.stores import ChatStore, StoreError
from langchain_arcee.stores.base import TurnLease
from langchain_arcee.stores.memory import InMemoryChatStore
from tests.store_helpers import write_raw_row

KEY = "sk-arcee-reliability-9f8e7d6c5b4a3210"
"""The test API key: secret tests check it never leaks anywhere."""

STORE_KINDS = ("memory", "sqlite", "postgres", "redis")


def cfg(session_id: str) -> RunnableConfig:
    """A config naming a session."""
    return {"configurable": {"session_id": session_id}}


def unique(prefix: str = "r") -> str:
    """A short unique identifier (table prefixes, key prefixes, session ids)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def snapshot(store: ChatStore, session_id: str) -> list[dict[str, Any]]:
    """A session's stored messages as plain dicts (for before/after comparisons)."""
    return messages_to_dict(store.load(session_id))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- the echo invariant ----------------------------------------------------------------------
def echo_text(user_text: str, history: int) -> str:
    """What the loopback server's echo policy answers to ``user_text`` after ``history`` msgs."""
    return f"You said: {user_text} (history: {history} messages)"


def check_echo_conversation(messages: Sequence[BaseMessage]) -> list[str]:
    """Problems in a conversation stored from the loopback server's echo replies.

    The server answers ``"You said: <text> (history: <n> messages)"`` where ``n`` counts the
    messages it received. So the i-th stored pair (0-based) must be a human message followed by
    the echo of exactly that text with ``n == 2 * i + 1``: any lost, duplicated, interleaved
    or reordered message, or a request whose history differed from what was stored before it,
    breaks the equation.

    Returns:
        Human-readable problems (empty when the conversation is whole).
    """
    problems: list[str] = []
    if len(messages) % 2:
        problems.append(f"odd number of messages: {len(messages)}")
    for index in range(0, len(messages) - 1, 2):
        human, ai = messages[index], messages[index + 1]
        if not isinstance(human, HumanMessage) or not isinstance(ai, AIMessage):
            problems.append(f"pair {index // 2}: {human.type}/{ai.type} instead of human/ai")
            continue
        expected = echo_text(str(human.content), index + 1)
        if ai.content != expected:
            problems.append(f"pair {index // 2}: {ai.content!r} != {expected!r}")
    return problems


def user_texts(messages: Sequence[BaseMessage]) -> list[str]:
    """The contents of the human messages, in order."""
    return [str(m.content) for m in messages if isinstance(m, HumanMessage)]


# ---- stores under test -----------------------------------------------------------------------
@dataclass
class StoreUnderTest:
    """A store plus the switches the reliability tests flip on its backend.

    Attributes:
        kind: ``"memory"``, ``"sqlite"``, ``"postgres"`` or ``"redis"``.
        store: The store.
        tag: Unique table/key prefix; also the client name the backend sees (so its connections
            can be found and killed).
        url: The backend's URL (``None`` for memory).
    """

    kind: str
    store: ChatStore
    tag: str
    url: str | None = None
    _admin: Any = field(default=None, repr=False)

    # -- raw access ------------------------------------------------------------------------
    def write_raw(self, session_id: str, raw: str) -> None:
        """Store a raw row/list item for an existing session, bypassing encoding."""
        if not write_raw_row(self.store, session_id, raw):
            raise NotImplementedError(f"{self.kind} stores objects, not encoded rows")

    # -- connection loss -------------------------------------------------------------------
    def drop_connections(self) -> int:
        """Kill the backend's side of every connection this store holds; returns how many."""
        if self.kind == "postgres":
            import psycopg

            with psycopg.connect(_libpq(self.url), autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    (self.tag,),
                ).fetchall()
            return len(rows)
        if self.kind == "redis":
            import redis

            admin = redis.Redis.from_url(str(self.url).split("?", 1)[0])
            try:
                killed = 0
                for client in admin.client_list():
                    if client.get("name") == self.tag:
                        admin.execute_command("CLIENT", "KILL", "ID", client["id"])
                        killed += 1
                return killed
            finally:
                admin.close()
        return 0

    # -- failing writes --------------------------------------------------------------------
    @contextlib.contextmanager
    def failing_writes(self) -> Iterator[None]:
        """Every append fails inside the backend while this is active (reads still work).

        SQL stores get a real ``BEFORE INSERT`` trigger that aborts the statement (after the
        session row was upserted in the same transaction, so atomicity is really exercised);
        the in-memory store gets a ``commit_turn`` that raises ``StoreError``. Redis write failures
        need a server of their own (see :class:`RedisProcess`).
        """
        if self.kind in ("sqlite", "postgres"):
            with _sql_poison(self.store):
                yield
            return
        if self.kind == "memory":
            store = self.store

            def fail(lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
                raise StoreError(f"session {lease.session_id!r}: append failed: injected failure")

            async def afail(lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
                fail(lease, messages)

            store.commit_turn, store.acommit_turn = fail, afail  # type: ignore[method-assign]
            try:
                yield
            finally:
                del store.commit_turn, store.acommit_turn
            return
        raise NotImplementedError(f"failing writes on {self.kind} need their own server")

    # -- lifecycle -------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Remove everything this store wrote and close it."""
        from langchain_arcee.stores.postgres import PostgresChatStore
        from langchain_arcee.stores.redis import RedisChatStore

        store = self.store
        if isinstance(store, PostgresChatStore):
            store.drop_tables()
        if isinstance(store, RedisChatStore):
            keys = list(store.client.scan_iter(match=f"{self.tag}:*"))
            if keys:
                store.client.delete(*keys)
        await store.aclose()


def _libpq(url: str | None) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(str(url)).set(drivername="postgresql", query={})
    return parsed.render_as_string(hide_password=False)


@contextlib.contextmanager
def _sql_poison(store: Any) -> Iterator[None]:
    from langchain_arcee.stores.sqlite import SQLiteChatStore

    if isinstance(store, SQLiteChatStore):
        table = store.messages_table
        trigger = f"{table}_poison"
        create = [
            f"CREATE TRIGGER {trigger} BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END"
        ]
        drop = [f"DROP TRIGGER {trigger}"]

        def run(statements: list[str]) -> None:
            with sqlite3.connect(str(store.path)) as conn:
                for stmt in statements:
                    conn.execute(stmt)
            conn.close()

    else:
        from sqlalchemy import text

        table = store.messages.name
        trigger = f"{table}_poison"
        create = [
            f"CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected write failure'; END $$",
            f"CREATE TRIGGER {trigger} BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {trigger}()",
        ]
        drop = [f"DROP TRIGGER {trigger} ON {table}", f"DROP FUNCTION {trigger}()"]

        def run(statements: list[str]) -> None:
            with store.engine.begin() as conn:
                for stmt in statements:
                    conn.execute(text(stmt))

    store.create_schema()
    run(create)
    try:
        yield
    finally:
        run(drop)


def make_store(
    kind: str, tmp_path: Path, *, postgres_url: str | None = None, redis_url: str | None = None
) -> StoreUnderTest:
    """Build an isolated store of ``kind`` (unique table/key prefix, tagged connections)."""
    tag = unique("rel")
    if kind == "memory":
        return StoreUnderTest(kind, InMemoryChatStore(max_messages_per_session=None), tag)
    if kind == "sqlite":
        from langchain_arcee.stores.sqlite import SQLiteChatStore

        path = tmp_path / f"{tag}.db"
        return StoreUnderTest(kind, SQLiteChatStore(path, table_prefix=tag), tag, str(path))
    if kind == "postgres":
        from langchain_arcee.stores.postgres import PostgresChatStore

        url = f"{postgres_url}?application_name={tag}"
        return StoreUnderTest(kind, PostgresChatStore(url, table_prefix=tag), tag, url)
    if kind == "redis":
        from langchain_arcee.stores.redis import RedisChatStore

        url = f"{redis_url}?client_name={tag}"
        return StoreUnderTest(kind, RedisChatStore(url, key_prefix=f"{tag}:"), tag, url)
    raise ValueError(f"unknown store kind {kind!r}")


# ---- a Redis server of our own -----------------------------------------------------------------
class RedisProcess:
    """A private ``redis-server`` on a free loopback port that tests may stop and restart.

    It keeps an append-only file in ``directory`` (fsync on every write), so data survives a
    graceful restart and a test can check that earlier turns are intact afterwards.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """Whether ``redis-server`` is on PATH."""
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        """Start the server and wait until it answers PING."""
        import redis

        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            for _ in range(200):  # bounded: at most ~10 s
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        return self
                time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM: the AOF is flushed) and wait for the process to exit."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def config_set(self, name: str, value: str) -> None:
        """``CONFIG SET`` on this server."""
        import redis

        client = redis.Redis(port=self.port)
        try:
            client.config_set(name, value)
        finally:
            client.close()


# ---- driving turns ---------------------------------------------------------------------------
MODES = ("invoke", "ainvoke", "stream", "astream")


async def run_turn(chat: Any, value: Any, session_id: str, mode: str) -> Any:
    """One turn through ``invoke``, ``ainvoke``, ``stream`` or ``astream`` (streams consumed)."""
    config = cfg(session_id)
    if mode == "invoke":
        return chat.invoke(value, config)
    if mode == "ainvoke":
        return await chat.ainvoke(value, config)
    if mode == "stream":
        return list(chat.stream(value, config))
    if mode == "astream":
        return [chunk async for chunk in chat.astream(value, config)]
    raise ValueError(f"unknown mode {mode!r}")


# ---- a cuttable network path -------------------------------------------------------------------
class TcpProxy:
    """A loopback TCP proxy to ``127.0.0.1:<target_port>`` that a test can cut and restore.

    ``stop()`` closes the listening socket and every proxied connection (the client sees its
    database vanish mid-conversation); ``start()`` listens again on the same port. The shared
    PostgreSQL server itself is never touched.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        """Listen (again) on :attr:`port`."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
