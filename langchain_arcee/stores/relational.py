"""The turn protocol over SQL statements, whatever library runs them.

:class:`RelationalChatStore` composes a store's units of work (statements to run in one
transaction, with their parameters) and turns their results into answers; a subclass supplies
the statements (built once) and the executor that runs a unit of work, sync and async. The
SQLite store runs hand-written SQL on the standard library's ``sqlite3``; the PostgreSQL
store builds its statements with SQLAlchemy Core (:mod:`langchain_arcee.stores.sql`).

Schema (``<prefix>_sessions``, ``<prefix>_messages``, ``<prefix>_migrations``)::

    sessions(session_id TEXT PK, created_at, updated_at, expires_at NULL, message_count,
             version, lease_token NULL, lease_expires_at NULL, last_turn_token NULL,
             summary NULL, summary_covers NULL, summary_updated_at NULL)
    messages(id autoincrement PK, session_id -> sessions ON DELETE CASCADE, data TEXT,
             created_at), INDEX (session_id, id)
    migrations(v INTEGER PK)   -- the migrations applied, by index in ``MIGRATIONS``

Rows of ``messages`` are append-only; a session's order is its ids' order. ``version`` counts
every change of a session (append, clear, delete, expiry): a turn's commit is refused unless
the version is still the one the turn read. A cleared or deleted session keeps its
``sessions`` row (with no messages) so that a turn in flight on it sees the change;
``purge_expired`` removes such rows when no turn holds them.

Migrations follow ``langgraph-checkpoint-postgres``: ``MIGRATIONS[i]`` is schema version
``i``; ``setup`` applies the missing ones in order, under a lock, and records each. A
database written by 0.1.0 (tables, no migrations table) upgrades in place: the first step's
``CREATE ... IF NOT EXISTS`` finds its tables, the next ones add columns.
"""

from __future__ import annotations

import asyncio
import re
import threading
from abc import abstractmethod
from collections.abc import Callable, Generator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage

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

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
_T = TypeVar("_T")

Work = list[tuple[Any, Any]]
"""A unit of work: statements to run in one transaction, each with its bound parameters
(a mapping, a list of mappings to run it once per row, or ``None``)."""

Results = list[Any]
"""What a unit of work returned: per statement its rows (a list) or its rowcount (an int)."""

_Plan = Generator[tuple[Work, Callable[[Results], Any]], Any, _T]
"""Units of work run in turn, each with what turns its results into an answer (sent back)."""


def check_identifier(value: str, what: str) -> str:
    """Validate a table prefix or schema name (it becomes part of table names).

    Raises:
        ValueError: If it is not a plain identifier.
    """
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        msg = f"{what} must match {_IDENTIFIER.pattern}, got {value!r}"
        raise ValueError(msg)
    return value


def utcnow() -> datetime:
    """The app host's clock, in UTC."""
    return datetime.now(timezone.utc)


def aware(value: datetime | str | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (SQLite keeps naive UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def store_error(session_id: str, write: bool, detail: str) -> StoreError:
    """The error a failed unit of work raises: the session, the action, the driver's words."""
    action = "write" if write else "read"
    return StoreError(f"session {session_id!r}: {action} failed: {detail}")


class RelationalChatStore(ChatStore):
    """The turn protocol over SQL statements: units of work and what their results mean.

    Subclasses set the statements (attributes named below, built once) and implement
    :meth:`_run`/:meth:`_arun` (run a unit of work in one transaction), :meth:`setup` and
    :meth:`close`.

    Args:
        ttl: Sessions expire this long after their last write (``timedelta`` or seconds).
        table_prefix: Prefix of the table names.
        cache_bytes: Bound of the decoded-message cache, in bytes of stored text (see
            :class:`DecodeCache`); 0 disables it.
    """

    # The statements, each taking named parameters (``sid``, ``now``, ...).
    _take_lease: Any
    _window: Any
    _head: Any
    _newest: Any
    _newest_and_grown: Any
    _state: Any
    _purge_if_expired: Any
    _insert_if_at_base: Any
    _bump_if_at_base: Any
    _release: Any
    _renew: Any
    _upsert_session: Any
    _purge_expired_session: Any
    _insert_message: Any
    _delete_messages: Any
    _empty_session: Any
    _summary_load: Any
    _summary_save: Any
    _load_newest: Any
    _page: Any
    _count: Any
    _list: Any
    _count_expired: Any
    _purge_messages: Any
    _purge_sessions: Any

    def __init__(
        self,
        *,
        ttl: timedelta | float | None,
        table_prefix: str,
        cache_bytes: int,
    ) -> None:
        check_identifier(table_prefix, "table_prefix")
        self.ttl = normalize_ttl(ttl)
        self.table_prefix = table_prefix
        self._ready = False
        self._schema_lock = threading.Lock()
        self._cache = DecodeCache(max_bytes=cache_bytes)
        # Both caches or neither: cache_bytes=0 asks for every read to come from the database.
        self._windows = WindowCache(DEFAULT_MAX_MESSAGES if cache_bytes else 0)

    # ---- what a subclass provides -------------------------------------------------------
    @abstractmethod
    def _run(
        self, work: Work, session_id: str, finish: Callable[[Results], _T], *, write: bool
    ) -> _T:
        """Run a unit of work in one transaction; ``finish`` turns its results into the answer.

        ``finish`` runs inside the transaction: if it raises, nothing is committed. Database
        errors are raised as :class:`StoreError` naming the session and the action.
        """

    @abstractmethod
    async def _arun(
        self, work: Work, session_id: str, finish: Callable[[Results], _T], *, write: bool
    ) -> _T:
        """Async :meth:`_run`."""

    @abstractmethod
    def _apply_migrations(self) -> None:
        """Apply the missing migrations in one transaction, recording each.

        Raises:
            StoreError: If the database refused (the message names the store).
        """

    def setup(self) -> None:
        """Create or upgrade the tables (done automatically on first use).

        Raises:
            StoreError: If the database refused (the message names the store).
        """
        with self._schema_lock:
            if not self._ready:
                self._apply_migrations()
                self._ready = True

    async def asetup(self) -> None:
        """Async :meth:`setup` (on a worker thread: it runs once per store)."""
        if not self._ready:
            await asyncio.to_thread(self.setup)

    create_schema = setup
    acreate_schema = asetup

    def _check_session_id(self, session_id: str) -> str:
        """Validate a session id for this backend (override to reject what it can't store).

        Raises:
            TypeError: If it is not a string.
            ValueError: If it is empty or not encodable as UTF-8 (a lone surrogate).
        """
        check_session_id(session_id)
        try:
            session_id.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = f"session_id is not valid unicode (lone surrogate?): {session_id!r}"
            raise ValueError(msg) from exc
        return session_id

    # ---- parameters ----------------------------------------------------------------------
    _NO_LIMIT: int | None = None
    """What a ``LIMIT`` parameter takes for "no limit" (SQLite: -1)."""

    def _params(self, session_id: str, **values: Any) -> dict[str, Any]:
        """Bound parameters of a statement: the session id, ``now`` and ``values``.

        ``last``/``limit`` of ``None`` become the dialect's "no limit".
        """
        for name in ("last", "limit"):
            if name in values and values[name] is None:
                values[name] = self._NO_LIMIT
        return {"sid": session_id, "now": utcnow(), **values}

    def _ttl_seconds(self) -> float | None:
        return self.ttl.total_seconds() if self.ttl is not None else None

    # ---- units of work ---------------------------------------------------------------------
    def _begin_params(
        self, session_id: str, token: str, last: int | None, lease: float, known: State | None
    ) -> dict[str, Any]:
        """Parameters of a turn's start (``known``: the state whose window is cached)."""
        return self._params(
            session_id,
            token=token,
            lease=lease,
            last=last,
            known_version=known[0] if known is not None else -1,
            known_newest=known[1] if known is not None else None,
        )

    def _begin_work(
        self, session_id: str, token: str, last: int | None, lease: float, known: State | None
    ) -> Work:
        params = self._begin_params(session_id, token, last, lease, known)
        return [
            (self._take_lease, params),
            (self._window, params),
            (self._head, params),
            (self._newest_and_grown, params),
        ]

    def _begin_finish(
        self, session_id: str, token: str, lease: float, last: int | None, known: State | None
    ) -> Callable[[Results], TurnStart | Retake | None]:
        def finish(results: Results) -> TurnStart | Retake | None:
            taken, window, head, newest_and_grown = results[-4:]
            if not taken:
                return None
            version, total, expired = taken[0]
            newest, grown = newest_and_grown[0]
            return self._turn_start(
                TurnLease(session_id, token, int(version), lease, life=int(newest or 0)),
                window,
                head,
                int(total),
                bool(expired),
                newest=newest,
                known=known,
                last=last,
                grown=bool(grown),
            )

        return finish

    def _turn_start(
        self,
        lease: TurnLease,
        window: Sequence[Any],
        head: Sequence[Any],
        total: int,
        expired: bool,
        *,
        newest: int | None,
        known: State | None,
        last: int | None,
        grown: bool = False,
    ) -> TurnStart | Retake:
        """A turn's start from the rows read (newest first) and the session's state.

        The window's rows were not shipped if the session is still at the ``known`` state:
        its messages come from the window cache then. If it only grew since (``grown``: the
        newest message cached is still there, and messages are only ever deleted a whole
        session at a time), only the rows after that one were shipped. :attr:`Retake.RETAKE`
        if another thread moved the cached window on meanwhile.
        """
        session_id = lease.session_id
        if expired:
            self._windows.forget(session_id)
            return TurnStart(lease, [], 0, None)
        decode = self._cache.decode_many

        def read() -> list[BaseMessage]:
            rows = sorted(window, key=lambda row: row[0])
            return decode([row[1] for row in rows], session_id=session_id, shared=True)

        messages = self._windows.resolve(
            session_id, (lease.version, newest), known, last, total, read, grown=grown
        )
        if messages is None:
            return Retake.RETAKE
        first = None
        if head and len(messages) < total:
            first = decode([head[0][1]], session_id=session_id, shared=True)[0]
        return TurnStart(lease, messages, total, first)

    def _committed(
        self, lease: TurnLease, encoded: list[str], newest: int | None, purged: bool
    ) -> None:
        """Move the window cache along with this object's own commit.

        A commit that purged the session's messages first (it had expired since the turn
        read it) starts the session afresh: what was cached is dropped, not extended.
        """
        if purged:
            self._windows.forget(lease.session_id)
            return
        appended = self._cache.decode_many(encoded, session_id=lease.session_id, shared=True)
        state: State = (lease.version + 1, newest)
        self._windows.advance(lease.session_id, lease.version, state, appended)

    def _commit_params(self, lease: TurnLease, encoded: list[str]) -> dict[str, Any]:
        """Parameters of a turn's commit (the rows to append are the caller's to add)."""
        return self._params(
            lease.session_id,
            token=lease.token,
            base=lease.version,
            life=lease.life,
            n=len(encoded),
            ttl=self._ttl_seconds(),
        )

    def _commit_work(self, lease: TurnLease, encoded: list[str]) -> Work:
        params = self._commit_params(lease, encoded)
        rows = [{**params, "data": data} for data in encoded]
        return [
            (self._newest, params),  # the session's life, checked in finish
            (self._purge_if_expired, params),
            (self._insert_if_at_base, rows),
            (self._bump_if_at_base, params),
            (self._state, params),
            (self._newest, params),
        ]

    def _commit_finish(
        self, lease: TurnLease, messages: Sequence[BaseMessage], encoded: list[str]
    ) -> Callable[[Results], None]:
        def finish(results: Results) -> None:
            before, purged, _, bumped, state, newest = results[-6:]
            if bumped and lease.life is not None and (before[0][0] or 0) != lease.life:
                # Stored at the version the turn read, but into a later life of the session
                # (deleted or expired, then recreated): raising rolls the unit back.
                self._windows.forget(lease.session_id)
                raise conflict_error(lease, messages)
            if bumped:
                self._committed(lease, encoded, newest[0][0] if newest else None, bool(purged))
                return
            self._windows.forget(lease.session_id)
            # Not applied now; applied already if an earlier attempt of this very turn
            # committed and only its reply was lost (the row names the last turn's token).
            if state and state[0][3] == lease.token and int(state[0][0]) == lease.version + 1:
                return
            raise conflict_error(lease, messages)

        return finish

    def _append_work(self, session_id: str, encoded: list[str]) -> Work:
        params = self._params(session_id, n=len(encoded), ttl=self._ttl_seconds())
        return [
            (self._purge_expired_session, params),
            (self._upsert_session, params),
            (self._insert_message, [{**params, "data": data} for data in encoded]),
        ]

    def _clear_work(self, session_id: str) -> Work:
        params = self._params(session_id)
        # The version moves first: that locks the session's row, so a turn's commit racing the
        # clear waits for it and is then refused. Deleting the messages first left the row free
        # until the end, and a commit in between kept its messages past the clear.
        return [
            (self._empty_session, params),
            (self._delete_messages, params),
        ]

    def _purge_work(self) -> Work:
        params = {"now": utcnow()}
        return [
            (self._count_expired, params),
            (self._purge_messages, params),
            (self._purge_sessions, params),
        ]

    # ---- result handling ---------------------------------------------------------------
    def _newest_decoder(self, session_id: str) -> Callable[[Results], list[BaseMessage]]:
        def finish(results: Results) -> list[BaseMessage]:
            rows = sorted(results[-1], key=lambda row: row[0])
            return self._cache.decode_many([row[1] for row in rows], session_id=session_id)

        return finish

    def _page_decoder(self, session_id: str) -> Callable[[Results], list[BaseMessage]]:
        def finish(results: Results) -> list[BaseMessage]:
            return self._cache.decode_many([row[0] for row in results[-1]], session_id=session_id)

        return finish

    @staticmethod
    def _count_of(results: Results) -> int:
        rows = results[-1]
        return int(rows[0][0]) if rows else 0

    @staticmethod
    def _session_infos(results: Results) -> list[SessionInfo]:
        return [SessionInfo(sid, int(n), aware(updated)) for sid, n, updated in results[-1]]

    @staticmethod
    def _expired_count(results: Results) -> int:
        return len(results[-3])

    # ---- the running summary -------------------------------------------------------------
    @staticmethod
    def _summary_of(results: Results) -> SessionSummary | None:
        rows = results[-1]
        if not rows or rows[0][0] is None:
            return None
        text_, covers, produced = rows[0]
        return SessionSummary(text_, int(covers), aware(produced))

    def _summary_save_work(
        self,
        session_id: str,
        summary: SessionSummary,
        expected_covers: int | None,
        at: TurnLease | None,
    ) -> Work:
        self._check_session_id(session_id)
        params = self._params(
            session_id,
            at_version=at.version if at is not None else None,
            at_life=at.life if at is not None else None,
            expected=expected_covers,
            text=summary.text,
            covers=summary.covers,
            produced=summary.updated_at or utcnow(),
        )
        return [(self._summary_save, params)]

    def load_summary(self, session_id: str) -> SessionSummary | None:
        """The session's summary, or ``None``."""
        self._check_session_id(session_id)
        work: Work = [(self._summary_load, self._params(session_id))]
        return self._run(work, session_id, self._summary_of, write=False)

    async def aload_summary(self, session_id: str) -> SessionSummary | None:
        """Async :meth:`load_summary`."""
        self._check_session_id(session_id)
        work: Work = [(self._summary_load, self._params(session_id))]
        return await self._arun(work, session_id, self._summary_of, write=False)

    def save_summary(
        self,
        session_id: str,
        summary: SessionSummary,
        *,
        expected_covers: int | None,
        at: TurnLease | None = None,
    ) -> bool:
        """Compare-and-set the session's summary on its ``covers`` (one statement)."""
        work = self._summary_save_work(session_id, summary, expected_covers, at)
        return self._run(work, session_id, _renewed, write=True)

    async def asave_summary(
        self,
        session_id: str,
        summary: SessionSummary,
        *,
        expected_covers: int | None,
        at: TurnLease | None = None,
    ) -> bool:
        """Async :meth:`save_summary`."""
        work = self._summary_save_work(session_id, summary, expected_covers, at)
        return await self._arun(work, session_id, _renewed, write=True)

    # ---- the ChatStore API -------------------------------------------------------------
    def _begin_plan(
        self, session_id: str, token: str, last: int | None, lease_seconds: float
    ) -> _Plan[TurnStart | None]:
        """A turn start: take the lease and read the newest ``last`` messages (one unit).

        A read that must be taken again (another thread moved this object's cached window on
        meanwhile; on PostgreSQL, a read whose snapshot predates a commit it waited for) is
        taken again at once, whole: the start's token holds the lease by then. Should that one
        also need retaking, the lease is given back and the session reported busy.
        """
        self._check_session_id(session_id)
        check_last(last)
        known = self._windows.known(session_id, last)
        for cached in (known, None):
            work = self._begin_work(session_id, token, last, lease_seconds, cached)
            finish = self._begin_finish(session_id, token, lease_seconds, last, cached)
            start: TurnStart | Retake | None = yield work, finish
            if start is not Retake.RETAKE:
                return start
        yield self._lease_work(self._release, TurnLease(session_id, token, 0, lease_seconds)), _none
        return None

    def try_begin_turn(
        self, session_id: str, token: str, *, last: int | None, lease_seconds: float
    ) -> TurnStart | None:
        """Take the lease and read the newest ``last`` messages in one transaction."""
        return self._drive(self._begin_plan(session_id, token, last, lease_seconds), session_id)

    async def atry_begin_turn(
        self, session_id: str, token: str, *, last: int | None, lease_seconds: float
    ) -> TurnStart | None:
        """Async :meth:`try_begin_turn`."""
        plan = self._begin_plan(session_id, token, last, lease_seconds)
        return await self._adrive(plan, session_id)

    def _drive(self, plan: _Plan[_T], session_id: str) -> _T:
        """Run a plan's units of work in turn (each a write), sending back their answers."""
        try:
            work, finish = next(plan)
            while True:
                work, finish = plan.send(self._run(work, session_id, finish, write=True))
        except StopIteration as done:
            result: _T = done.value
            return result

    async def _adrive(self, plan: _Plan[_T], session_id: str) -> _T:
        """Async :meth:`_drive`."""
        try:
            work, finish = next(plan)
            while True:
                work, finish = plan.send(await self._arun(work, session_id, finish, write=True))
        except StopIteration as done:
            result: _T = done.value
            return result

    def commit_turn(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
        """Append the turn if the session is still at ``lease.version``; release the lease."""
        encoded = encode_messages(messages)
        finish = self._commit_finish(lease, messages, encoded)
        self._run(self._commit_work(lease, encoded), lease.session_id, finish, write=True)

    async def acommit_turn(self, lease: TurnLease, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`commit_turn`."""
        encoded = encode_messages(messages)
        finish = self._commit_finish(lease, messages, encoded)
        await self._arun(self._commit_work(lease, encoded), lease.session_id, finish, write=True)

    def _lease_work(self, stmt: Any, lease: TurnLease) -> Work:
        params = self._params(lease.session_id, token=lease.token, lease=lease.lease_seconds)
        return [(stmt, params)]

    def release_turn(self, lease: TurnLease) -> None:
        """Give the lease back (a no-op if another token holds it)."""
        self._run(self._lease_work(self._release, lease), lease.session_id, _none, write=True)

    async def arelease_turn(self, lease: TurnLease) -> None:
        """Async :meth:`release_turn`."""
        work = self._lease_work(self._release, lease)
        await self._arun(work, lease.session_id, _none, write=True)

    def renew_turn(self, lease: TurnLease) -> bool:
        """Extend the lease; False if it is no longer held by ``lease.token``."""
        work = self._lease_work(self._renew, lease)
        return self._run(work, lease.session_id, _renewed, write=True)

    async def arenew_turn(self, lease: TurnLease) -> bool:
        """Async :meth:`renew_turn`."""
        work = self._lease_work(self._renew, lease)
        return await self._arun(work, lease.session_id, _renewed, write=True)

    def _prepare_append(self, session_id: str, messages: Sequence[BaseMessage]) -> list[str]:
        self._check_session_id(session_id)
        return encode_messages(messages)  # raises before any transaction is opened

    def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Append messages in one transaction (all or nothing), bumping the version.

        Raises:
            TypeError: If an item is not an encodable LangChain message (nothing stored).
            StoreError: If the database write failed (nothing stored).
        """
        encoded = self._prepare_append(session_id, messages)
        if encoded:
            self._run(self._append_work(session_id, encoded), session_id, _none, write=True)

    async def aappend(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`append`."""
        encoded = self._prepare_append(session_id, messages)
        if encoded:
            work = self._append_work(session_id, encoded)
            await self._arun(work, session_id, _none, write=True)

    def _load_work(self, session_id: str, last: int | None) -> Work:
        return [(self._load_newest, self._params(session_id, last=last))]

    def load(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Return the session's messages, oldest first (only the newest ``last`` are read)."""
        self._check_session_id(session_id)
        if check_last(last) == 0:
            return []
        work = self._load_work(session_id, last)
        return self._run(work, session_id, self._newest_decoder(session_id), write=False)

    async def aload(self, session_id: str, *, last: int | None = None) -> list[BaseMessage]:
        """Async :meth:`load`."""
        self._check_session_id(session_id)
        if check_last(last) == 0:
            return []
        work = self._load_work(session_id, last)
        return await self._arun(work, session_id, self._newest_decoder(session_id), write=False)

    def count(self, session_id: str) -> int:
        """Number of messages stored for a session."""
        self._check_session_id(session_id)
        work: Work = [(self._count, self._params(session_id))]
        return self._run(work, session_id, self._count_of, write=False)

    async def acount(self, session_id: str) -> int:
        """Async :meth:`count`."""
        self._check_session_id(session_id)
        work: Work = [(self._count, self._params(session_id))]
        return await self._arun(work, session_id, self._count_of, write=False)

    def _page_work(self, session_id: str, offset: int, limit: int) -> Work:
        check_page(offset, limit)
        return [(self._page, self._params(session_id, offset=offset, limit=limit))]

    def read_page(self, session_id: str, *, offset: int = 0, limit: int = 100) -> list[BaseMessage]:
        """Messages ``offset`` .. ``offset + limit - 1`` of a session, oldest first."""
        self._check_session_id(session_id)
        work = self._page_work(session_id, offset, limit)
        return self._run(work, session_id, self._page_decoder(session_id), write=False)

    async def aread_page(
        self, session_id: str, *, offset: int = 0, limit: int = 100
    ) -> list[BaseMessage]:
        """Async :meth:`read_page`."""
        self._check_session_id(session_id)
        work = self._page_work(session_id, offset, limit)
        return await self._arun(work, session_id, self._page_decoder(session_id), write=False)

    def _list_work(self, limit: int | None, offset: int) -> Work:
        check_page(offset, limit)
        return [(self._list, self._params("*", offset=offset, limit=limit))]

    def list_sessions(self, *, limit: int | None = None, offset: int = 0) -> list[SessionInfo]:
        """Live sessions, most recently updated first, with their message counts."""
        return self._run(self._list_work(limit, offset), "*", self._session_infos, write=False)

    async def alist_sessions(
        self, *, limit: int | None = None, offset: int = 0
    ) -> list[SessionInfo]:
        """Async :meth:`list_sessions`."""
        work = self._list_work(limit, offset)
        return await self._arun(work, "*", self._session_infos, write=False)

    def clear(self, session_id: str) -> None:
        """Remove all of a session's messages (its version moves on)."""
        self._check_session_id(session_id)
        self._run(self._clear_work(session_id), session_id, _none, write=True)

    async def aclear(self, session_id: str) -> None:
        """Async :meth:`clear`."""
        self._check_session_id(session_id)
        await self._arun(self._clear_work(session_id), session_id, _none, write=True)

    async def adelete(self, session_id: str) -> None:
        """Async :meth:`delete`."""
        await self.aclear(session_id)

    def purge_expired(self) -> int:
        """Delete expired sessions (and emptied ones no turn holds); returns how many expired."""
        return self._run(self._purge_work(), "*", self._expired_count, write=True)

    async def apurge_expired(self) -> int:
        """Async :meth:`purge_expired`."""
        return await self._arun(self._purge_work(), "*", self._expired_count, write=True)


def _none(_results: Results) -> None:
    return None


def _renewed(results: Results) -> bool:
    return bool(results[-1])
