"""PostgreSQL conversation store (psycopg 3, sync and async; SQLAlchemy for the schema).

A turn costs two round trips to the database: its start (take the session's lease, read the
version and the newest messages) and its commit (check the version, append, bump the version,
release the lease) are one statement each, run in autocommit mode. Each is a data-modifying
CTE, atomic on its own; the commit's ``UPDATE ... WHERE version = :base`` takes the session
row's lock before the message ids are drawn, so a session's ids increase in commit order and
two turns computed from the same version can never both be stored. Only the commit waits for
the write-ahead log to reach the disk: a lease is not worth an fsync. Times (leases, TTLs) are
the database's clock (``now()``), so app hosts whose clocks disagree agree on them.

Session ids are limited to :data:`MAX_SESSION_ID_BYTES` UTF-8 bytes (PostgreSQL's btree index
rows hold at most ~2.7 KB); a longer id is refused before a turn starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage

from langchain_arcee.extras import missing_extra
from langchain_arcee.redaction import redact_url, scrub, unambiguous_url
from langchain_arcee.stores.base import Retake, TurnLease, TurnStart, conflict_error
from langchain_arcee.stores.relational import Results, Work, store_error
from langchain_arcee.stores.serialization import DecodeCache
from langchain_arcee.stores.window_cache import State

try:  # the postgres extra brings SQLAlchemy and psycopg
    from sqlalchemy import (
        BigInteger,
        Column,
        Engine,
        Float,
        Identity,
        bindparam,
        create_engine,
        func,
        select,
        text,
    )
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
    from sqlalchemy.engine import URL, Compiled, make_url
    from sqlalchemy.exc import ArgumentError
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.schema import CreateSchema
    from sqlalchemy.sql import Executable

    from langchain_arcee.stores.sql import SQLChatStore
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing_extra("PostgresChatStore", "SQLAlchemy", "postgres") from exc
try:  # ... and psycopg 3
    import psycopg

    from langchain_arcee.stores.pg_connections import (
        DEFAULT_MAX_CONNECTIONS,
        BorrowedAsyncEngine,
        BorrowedEngine,
        OwnLoopPools,
        OwnPool,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing_extra("PostgresChatStore", "psycopg 3", "postgres") from exc

_T = TypeVar("_T")

MAX_SESSION_ID_BYTES = 2048
"""Longest session id PostgreSQL can index, in UTF-8 bytes (with a margin)."""


def psycopg_url(url: str | URL) -> URL:
    """Normalize ``postgres://``/``postgresql://`` URLs to the psycopg 3 driver.

    A ``?password=`` moves into the URL's password, which SQLAlchemy hides (it shows query
    values as they are: in the engine's repr, ``str(engine.url)`` and its logs).

    Raises:
        ValueError: If it is not a PostgreSQL URL, names another driver, is malformed (bad
            port, ...) or its credentials can't be told from its host
            (:func:`~langchain_arcee.redaction.unambiguous_url`). The message shows the URL
            redacted, never SQLAlchemy's text (which quotes the URL or a piece of it).
    """
    if isinstance(url, URL):
        parsed = url
    else:
        raw = "postgresql://" + url[len("postgres://") :] if url.startswith("postgres://") else url
        raw = unambiguous_url(raw)
        try:
            parsed = make_url(raw)
        except (ArgumentError, ValueError):
            raise ValueError(_malformed(raw)) from None
    if parsed.drivername not in ("postgresql", "postgresql+psycopg"):
        msg = f"PostgresChatStore needs a postgresql:// URL (psycopg 3), got {parsed.drivername!r}"
        raise ValueError(msg)
    parsed = parsed.set(drivername="postgresql+psycopg")
    password = parsed.query.get("password")
    if password is not None:  # libpq takes the last of repeated parameters
        last = password if isinstance(password, str) else password[-1]
        parsed = parsed.difference_update_query(["password"]).set(password=last)
    try:
        _DIALECT.create_connect_args(parsed)  # type: ignore[no-untyped-call]
    except (ArgumentError, ValueError):  # e.g. ?port=abc
        raise ValueError(_malformed(parsed)) from None
    return parsed


def _malformed(url: str | URL) -> str:
    return f"malformed PostgreSQL URL {redact_url(url)!r} (check its host, port and query)"


def _without_sslpassword(url: URL) -> tuple[URL, dict[str, str]]:
    """The URL without ``?sslpassword=``, and the connection argument that carries it instead.

    SQLAlchemy would show it (query values are shown as they are); psycopg takes it as a
    connection argument just as well.
    """
    value = url.query.get("sslpassword")
    if value is None:
        return url, {}
    last = value if isinstance(value, str) else value[-1]
    return url.difference_update_query(["sslpassword"]), {"sslpassword": last}


class PostgresChatStore(SQLChatStore):
    """Conversation store in PostgreSQL.

    Statements run on psycopg 3 connections the store opens from ``url`` when needed and keeps
    idle for reuse: one set for sync methods and one per event loop for async ones (an async
    connection belongs to the loop that opened it, so successive ``asyncio.run()`` calls each
    get their own), closed by :meth:`close`/:meth:`aclose` (or on leaving a ``with``/``async
    with`` block).
    Injected SQLAlchemy engines lend their pools' connections instead and are left open. The
    schema is created and migrated through a SQLAlchemy engine (:attr:`engine`).

    Args:
        url: ``postgresql://``, ``postgres://`` or ``postgresql+psycopg://`` URL. Needed
            unless both engines are injected. The store's ``url`` attribute, its repr and its
            errors show it redacted (password and ``?password=``-style values as ``***``).
        engine: Sync SQLAlchemy engine (psycopg 3) to use instead of a pool and an engine of
            the store's own.
        async_engine: Async SQLAlchemy engine (psycopg 3) to use instead of the store's async
            pools (used on whatever loop calls: the caller keeps it on one loop).
        ttl: Sessions expire this long after their last write (``timedelta`` or seconds);
            :meth:`purge_expired` deletes them.
        schema: Schema of the tables (created if absent); ``None`` for the search path.
        table_prefix: Prefix of the table names.
        cache_bytes: Bound of the decoded-message cache (bytes of stored text); 0 disables it.
        engine_kwargs: Extra keyword arguments for the SQLAlchemy engine this store creates
            for migrations and :attr:`engine`.
        max_connections: Bound of the connections this store opens for sync calls, and
            for each event loop's async calls (statements wait for a free one).

    Example:
        ``store = PostgresChatStore("postgresql://user@localhost/app")``
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        engine: Engine | None = None,
        async_engine: AsyncEngine | None = None,
        ttl: timedelta | float | None = None,
        schema: str | None = None,
        table_prefix: str = "arcee",
        cache_bytes: int = DecodeCache.DEFAULT_MAX_BYTES,
        engine_kwargs: dict[str, Any] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if url is None and (engine is None or async_engine is None):
            msg = "PostgresChatStore needs a url unless both engine and async_engine are given"
            raise ValueError(msg)
        parsed = psycopg_url(url) if url is not None else None
        self._url: URL | None = None
        self._hidden_args: dict[str, str] = {}
        if parsed is not None:
            self._url, self._hidden_args = _without_sslpassword(parsed)
        # The public URL is redacted: the password and credential query values read "***".
        self.url = make_url(redact_url(parsed)) if parsed is not None else None
        self.engine_kwargs = dict(engine_kwargs or {})
        self._connections: OwnPool | BorrowedEngine = (
            BorrowedEngine(engine)
            if engine is not None
            else OwnPool(self._connect_args(), max_connections)
        )
        self._async_connections: OwnLoopPools | BorrowedAsyncEngine = (
            BorrowedAsyncEngine(async_engine)
            if async_engine is not None
            else OwnLoopPools(self._connect_args(), max_connections)
        )
        self._compiled: dict[int, tuple[Executable, Compiled]] = {}
        super().__init__(
            engine=engine,
            ttl=ttl,
            table_prefix=table_prefix,
            schema=schema,
            cache_bytes=cache_bytes,
        )

    def __repr__(self) -> str:
        where = redact_url(self._url) if self._url is not None else "<injected>"
        return f"{type(self).__name__}({where!r}, table_prefix={self.table_prefix!r})"

    # ---- dialect hooks -----------------------------------------------------------------
    def _id_column(self) -> Column[int]:
        # Identity values come from a sequence: never reused (short of a manual reset).
        return Column("id", BigInteger, Identity(), primary_key=True)

    def _check_session_id(self, session_id: str) -> str:
        super()._check_session_id(session_id)
        if "\x00" in session_id:
            msg = f"PostgreSQL text cannot contain NUL characters: session_id {session_id!r}"
            raise ValueError(msg)
        size = len(session_id.encode("utf-8"))
        if size > MAX_SESSION_ID_BYTES:
            msg = (
                f"session_id is {size} bytes; PostgresChatStore takes at most "
                f"{MAX_SESSION_ID_BYTES} (PostgreSQL indexes can't hold longer keys): "
                "use a shorter id or a digest of it"
            )
            raise ValueError(msg)
        return session_id

    def _ddl_prelude(self) -> list[Executable]:
        # Concurrent migrations could collide in the catalogs: serialize them.
        lock = select(func.pg_advisory_xact_lock(func.hashtextextended("langchain-arcee-ddl", 0)))
        stmts: list[Executable] = [lock]
        if self.schema is not None:
            stmts.append(CreateSchema(self.schema, if_not_exists=True))
        return stmts

    def _now(self) -> Any:
        return func.now()

    def _after(self, seconds_param: str) -> Any:
        seconds = bindparam(seconds_param, type_=Float)
        return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, seconds)

    # ---- one statement per turn phase -------------------------------------------------
    def _build_statements(self) -> None:
        super()._build_statements()
        preparer = _DIALECT.identifier_preparer
        sessions = preparer.format_table(self.sessions)
        messages = preparer.format_table(self.messages)
        expired = "coalesce(s.expires_at <= now(), false)"
        self._begin_stmt = text(f"""
            WITH lease AS (
                INSERT INTO {sessions} AS s (session_id, created_at, updated_at, expires_at,
                    message_count, version, lease_token, lease_expires_at)
                VALUES (:sid, now(), now(), NULL, 0, 0, :token,
                    now() + make_interval(secs => CAST(:lease AS double precision)))
                ON CONFLICT (session_id) DO UPDATE
                    SET lease_token = excluded.lease_token,
                        lease_expires_at = excluded.lease_expires_at
                    WHERE s.lease_token IS NULL OR s.lease_token = excluded.lease_token
                        OR s.lease_expires_at <= now()
                RETURNING s.version, s.message_count, {expired} AS expired
            ),
            snap AS (
                SELECT (SELECT version FROM {sessions} WHERE session_id = :sid) AS seen,
                    (SELECT max(id) FROM {messages} WHERE session_id = :sid) AS newest,
                    -- the session only grew since the cached state if the newest message
                    -- cached is still there (messages are deleted a whole session at a time,
                    -- ids never reused): then only the rows after it ship
                    EXISTS (SELECT 1 FROM {messages} WHERE session_id = :sid
                        AND id = CAST(:known_newest AS bigint)) AS grown
            ),
            -- Taking the lease of an existing session writes only the lease: it need not wait
            -- for the WAL flush (a crash may forget it; the commit's version check still
            -- refuses a second turn from the same version). A new session's row does wait.
            durability AS (
                SELECT set_config('synchronous_commit',
                    CASE WHEN snap.seen IS NULL THEN 'on' ELSE 'off' END, true)
                FROM snap
            )
            SELECT 0 AS part, snap.newest AS id, NULL::text AS data, l.version,
                l.message_count, l.expired, snap.seen, snap.grown
            FROM lease AS l, snap, durability
            UNION ALL
            (SELECT 1, m.id, m.data, NULL, NULL, NULL, NULL, NULL FROM {messages} AS m
             WHERE m.session_id = :sid
             -- only the rows after the cached ones if the session only grew (an index bound)
             AND m.id > (SELECT CASE WHEN snap.grown THEN CAST(:known_newest AS bigint)
                ELSE 0 END FROM snap)
             -- shipped only if the session is not at the state this object has cached; an
             -- uncorrelated subquery, so the plan tests it once, not once per message row
             -- (a join with snap made generic plans walk the whole session to ship nothing)
             AND (SELECT NOT (
                snap.seen IS NOT DISTINCT FROM CAST(:known_version AS bigint)
                AND snap.newest IS NOT DISTINCT FROM CAST(:known_newest AS bigint)) FROM snap)
             ORDER BY m.id DESC LIMIT CAST(:last AS bigint))
            UNION ALL
            (SELECT 2, m.id, m.data, NULL, NULL, NULL, NULL, NULL FROM {messages} AS m
             WHERE m.session_id = :sid ORDER BY m.id LIMIT 1)
        """)
        added = f"""
            added AS (
                INSERT INTO {messages} (session_id, data, created_at)
                SELECT cur.session_id, d.data, now()
                FROM cur, json_array_elements_text(CAST(:datas AS json))
                    WITH ORDINALITY AS d(data, ord)
                ORDER BY d.ord
                RETURNING id
            )"""
        self._commit_stmt = text(f"""
            WITH old AS (
                SELECT coalesce(expires_at <= now(), false) AS expired FROM {sessions}
                WHERE session_id = :sid AND version = :base
            ),
            cur AS (
                UPDATE {sessions} AS s SET
                    version = s.version + 1,
                    message_count = CASE WHEN {expired} THEN 0 ELSE s.message_count END + :n,
                    updated_at = now(),
                    expires_at = now() + make_interval(secs => CAST(:ttl AS double precision)),
                    lease_token = CASE WHEN s.lease_token = :token THEN NULL
                        ELSE s.lease_token END,
                    lease_expires_at = CASE WHEN s.lease_token = :token THEN NULL
                        ELSE s.lease_expires_at END,
                    last_turn_token = :token,
                    summary = CASE WHEN {expired} THEN NULL ELSE s.summary END,
                    summary_covers = CASE WHEN {expired} THEN NULL ELSE s.summary_covers END
                WHERE s.session_id = :sid AND s.version = :base
                    -- the same life of the session (not one deleted or expired, then recreated
                    -- up to this version): its newest message is still the one the turn saw
                    AND (CAST(:life AS bigint) IS NULL OR CAST(:life AS bigint) = coalesce(
                        (SELECT max(id) FROM {messages} WHERE session_id = :sid), 0))
                RETURNING s.session_id
            ),
            purged AS (
                DELETE FROM {messages} WHERE session_id = :sid
                    AND EXISTS (SELECT 1 FROM cur)
                    AND coalesce((SELECT expired FROM old), false)
            ),{added}
            SELECT (SELECT count(*) FROM cur) AS applied, s.version, s.last_turn_token,
                (SELECT max(id) FROM added) AS newest,
                coalesce((SELECT expired FROM old), false) AS purged
            FROM (SELECT 1) AS one LEFT JOIN {sessions} AS s ON s.session_id = :sid
        """)
        self._append_stmt = text(f"""
            WITH old AS (
                SELECT coalesce(expires_at <= now(), false) AS expired FROM {sessions}
                WHERE session_id = :sid
            ),
            cur AS (
                INSERT INTO {sessions} AS s (session_id, created_at, updated_at, expires_at,
                    message_count, version)
                VALUES (:sid, now(), now(),
                    now() + make_interval(secs => CAST(:ttl AS double precision)), :n, 1)
                ON CONFLICT (session_id) DO UPDATE SET
                    version = s.version + 1,
                    message_count = CASE WHEN {expired} THEN 0 ELSE s.message_count END
                        + excluded.message_count,
                    updated_at = excluded.updated_at,
                    expires_at = excluded.expires_at,
                    summary = CASE WHEN {expired} THEN NULL ELSE s.summary END,
                    summary_covers = CASE WHEN {expired} THEN NULL ELSE s.summary_covers END
                RETURNING s.session_id
            ),
            purged AS (
                DELETE FROM {messages} WHERE session_id = :sid
                    AND coalesce((SELECT expired FROM old), false)
            ),{added}
            SELECT count(*) FROM cur
        """)

    def _begin_work(
        self, session_id: str, token: str, last: int | None, lease: float, known: State | None
    ) -> Work:
        return [(self._begin_stmt, self._begin_params(session_id, token, last, lease, known))]

    def _begin_finish(
        self, session_id: str, token: str, lease: float, last: int | None, known: State | None
    ) -> Callable[[Results], TurnStart | Retake | None]:
        def finish(results: Results) -> TurnStart | Retake | None:
            rows = results[-1]
            state = [row for row in rows if row[0] == 0]
            if not state:
                return None  # another turn holds the lease
            _, newest, _, version, total, expired, seen, grown = state[0]
            if seen != version and not (seen is None and version == 0):
                # The messages were read from a snapshot taken before a turn committed (this
                # statement waited for its row lock): read again (this token holds the lease).
                return Retake.RETAKE
            window = [(row[1], row[2]) for row in rows if row[0] == 1]
            head = [(row[1], row[2]) for row in rows if row[0] == 2]
            return self._turn_start(
                TurnLease(session_id, token, int(version), lease, life=int(newest or 0)),
                window,
                head,
                int(total),
                bool(expired),
                newest=newest,
                # A new session's row did not exist in the snapshot: nothing was skipped.
                known=known if seen is not None else None,
                last=last,
                grown=bool(grown),
            )

        return finish

    def _commit_work(self, lease: TurnLease, encoded: list[str]) -> Work:
        params = {**self._commit_params(lease, encoded), "datas": _json_array(encoded)}
        return [(self._commit_stmt, params)]

    def _commit_finish(
        self, lease: TurnLease, messages: Sequence[BaseMessage], encoded: list[str]
    ) -> Callable[[Results], None]:
        def finish(results: Results) -> None:
            applied, version, last_token, newest, purged = results[-1][0]
            if applied:
                self._committed(lease, encoded, newest, bool(purged))
                return
            self._windows.forget(lease.session_id)
            # Applied already by an earlier attempt of this very turn whose reply was lost?
            if last_token == lease.token and version is not None and version == lease.version + 1:
                return
            raise conflict_error(lease, messages)

        return finish

    def _append_work(self, session_id: str, encoded: list[str]) -> Work:
        datas = _json_array(encoded)
        params = self._params(session_id, n=len(encoded), ttl=self._ttl_seconds(), datas=datas)
        return [(self._append_stmt, params)]

    # ---- connections --------------------------------------------------------------------
    def _require_url(self) -> URL:
        if self._url is None:  # pragma: no cover - guarded in __init__
            msg = "no url to connect with"
            raise ValueError(msg)
        return self._url

    def _connect_args(self) -> dict[str, Any]:
        # psycopg's connection parameters, read from the URL as SQLAlchemy's psycopg dialect
        # reads them (query parameters such as application_name or options included, decoded).
        # They hold the password: they stay inside the pools and are never shown.
        _, kwargs = _DIALECT.create_connect_args(self._require_url())  # type: ignore[no-untyped-call]
        return {**kwargs, **self._hidden_args}

    def _create_engine(self) -> Engine:
        # hide_parameters: errors and logs never quote the conversation being written. The
        # caller's connect_args win over the URL's, as in create_engine.
        kwargs = dict(self.engine_kwargs)
        connect_args = {**self._hidden_args, **kwargs.pop("connect_args", {})}
        return create_engine(
            self._require_url(), hide_parameters=True, connect_args=connect_args, **kwargs
        )

    # ---- execution: statements compiled once, run on psycopg ----------------------------
    def _statements(self, work: Work) -> list[tuple[str, Any]]:
        """Each statement's SQL (compiled once per store) with its parameters."""
        ready = []
        for stmt, params in work:
            entry = self._compiled.get(id(stmt))
            if entry is None:  # keyed by the statement object, held so its id stays its own
                entry = self._compiled[id(stmt)] = (stmt, stmt.compile(dialect=_DIALECT))
            compiled = entry[1]
            ready.append((compiled.string, compiled.construct_params(params or {})))
        return ready

    def _failed(
        self, session_id: str, write: bool, exc: psycopg.Error, conn: Any, attempt: int
    ) -> Exception | None:
        """The error to raise, or ``None`` to retry once on a new connection."""
        if attempt == 1 and conn is not None and conn.broken:
            return None  # a dead pooled connection (server restarted, backend killed)
        return store_error(session_id, write, scrub(str(exc)))

    def _run(
        self, work: Work, session_id: str, finish: Callable[[Results], _T], *, write: bool
    ) -> _T:
        """Run statements in one transaction; ``finish`` turns their results into the answer.

        One statement is atomic on its own and runs in autocommit mode (no BEGIN/COMMIT);
        several run in a transaction that ``finish`` ends inside (if it raises, nothing is
        committed). A dead pooled connection is retried once on a new one. Statements are
        prepared on a connection's first run of them (the store runs the same few over and
        over; psycopg's default waits for the fifth, parsing and planning each time until then).
        """
        if not self._ready:
            self.setup()
        statements = self._statements(work)
        for attempt in (1, 2):
            conn = None
            try:
                with self._connections.connection() as conn:
                    if len(statements) == 1:
                        return finish([_results(conn.execute(*statements[0], prepare=True))])
                    with conn.transaction():
                        return finish(
                            [_results(conn.execute(*st, prepare=True)) for st in statements]
                        )
            except psycopg.Error as exc:
                error = self._failed(session_id, write, exc, conn, attempt)
                if error is not None:
                    raise error from exc
                self._connections.drop_dead()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _arun(
        self, work: Work, session_id: str, finish: Callable[[Results], _T], *, write: bool
    ) -> _T:
        """Async :meth:`_run` on the running loop's connections (same statements)."""
        if not self._ready:
            await self.asetup()
        statements = self._statements(work)
        for attempt in (1, 2):
            conn = None
            try:
                async with self._async_connections.connection() as conn:
                    if len(statements) == 1:
                        return finish(
                            [await _aresults(await conn.execute(*statements[0], prepare=True))]
                        )
                    async with conn.transaction():
                        results = [
                            await _aresults(await conn.execute(*st, prepare=True))
                            for st in statements
                        ]
                        return finish(results)
            except psycopg.Error as exc:
                error = self._failed(session_id, write, exc, conn, attempt)
                if error is not None:
                    raise error from exc
                await self._async_connections.drop_dead()
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the pools and the engine this store opened (injected engines are left open).

        Async pools of other (possibly closed) loops are only dereferenced: their connections
        belong to those loops. In async code prefer :meth:`aclose`.
        """
        self._connections.close()
        self._async_connections.close()
        super().close()

    async def aclose(self) -> None:
        """Close the running loop's pool, then as :meth:`close`."""
        await self._async_connections.aclose()
        self.close()


_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]
"""The dialect the statements are compiled for (psycopg's ``%(name)s`` parameters)."""


def _json_array(encoded: list[str]) -> str:
    # The rows to insert travel as one JSON array of strings: psycopg's text[] dumper scans
    # and escapes each element in Python (~0.1 ms a commit); json.dumps does it in C.
    return json.dumps(encoded, ensure_ascii=False)


def _has_rows(cursor: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> bool:
    # The result's status, not ``cursor.description`` (which builds a Column per field).
    result = cursor.pgresult
    return result is not None and result.status == psycopg.pq.ExecStatus.TUPLES_OK


def _results(cursor: psycopg.Cursor[Any]) -> Any:
    return cursor.fetchall() if _has_rows(cursor) else cursor.rowcount


async def _aresults(cursor: psycopg.AsyncCursor[Any]) -> Any:
    return await cursor.fetchall() if _has_rows(cursor) else cursor.rowcount
