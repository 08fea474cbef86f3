"""PostgreSQL-specific behaviour: schemas, injected engines, rollback of a failed write."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

from langchain_arcee.stores import StoreError
from langchain_arcee.stores.postgres import PostgresChatStore, psycopg_url
from tests.event_loops import live_event_loops

pytestmark = pytest.mark.postgres


def _prefix() -> str:
    return "t" + uuid.uuid4().hex[:10]


def test_failed_write_rolls_back_and_raises_store_error(postgres_url: str) -> None:
    prefix = _prefix()
    store = PostgresChatStore(postgres_url, table_prefix=prefix)
    try:
        store.append("s", [HumanMessage("kept")])
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    f"CREATE FUNCTION {prefix}_boom() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN IF NEW.data LIKE '%boom%' THEN RAISE EXCEPTION 'boom rejected'; "
                    "END IF; RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER {prefix}_t BEFORE INSERT ON {prefix}_messages "
                    f"FOR EACH ROW EXECUTE FUNCTION {prefix}_boom()"
                )
            )
        with pytest.raises(StoreError, match="'s'") as info:
            store.append("s", [HumanMessage("fine"), HumanMessage("boom")])
        assert info.value.__cause__ is not None
        assert [m.content for m in store.load("s")] == ["kept"]
        assert store.count("s") == 1  # the session upsert was rolled back too
    finally:
        store.drop_tables()
        with store.engine.begin() as conn:
            conn.execute(text(f"DROP FUNCTION IF EXISTS {prefix}_boom()"))
        store.close()


async def test_schema_and_injected_engines(postgres_url: str) -> None:
    schema = _prefix()
    url = psycopg_url(postgres_url)
    engine = create_engine(url)
    async_engine = create_async_engine(url)
    store = PostgresChatStore(engine=engine, async_engine=async_engine, schema=schema)
    try:
        store.append("s", [HumanMessage("sync")])
        await store.aappend("s", [HumanMessage("async")])
        assert [m.content for m in await store.aload("s")] == ["sync", "async"]
        with engine.connect() as conn:
            n = conn.execute(text(f'SELECT count(*) FROM "{schema}".arcee_messages')).scalar()
        assert n == 2
        await store.aclose()
        # Injected engines are still usable after the store is closed.
        async with async_engine.connect() as aconn:
            assert (await aconn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
        await async_engine.dispose()


def test_rejects_unsafe_identifiers_and_urls() -> None:
    with pytest.raises(ValueError, match="table_prefix"):
        PostgresChatStore("postgresql://u@h/db", table_prefix='x"; DROP TABLE y; --')
    with pytest.raises(ValueError, match="schema"):
        PostgresChatStore("postgresql://u@h/db", schema="a.b")
    with pytest.raises(ValueError):
        PostgresChatStore("mysql://u@h/db")
    with pytest.raises(ValueError):
        PostgresChatStore()


def _backends(postgres_url: str, application_name: str) -> int:
    import psycopg

    libpq = psycopg_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_concurrent_async_turns_stay_within_max_connections(postgres_url: str) -> None:
    tag = _prefix()
    store = PostgresChatStore(
        f"{postgres_url}?application_name={tag}", table_prefix=tag, max_connections=2
    )
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, await asyncio.to_thread(_backends, postgres_url, tag))
            await asyncio.sleep(0.005)

    async def session(i: int) -> None:
        for turn in range(5):
            start = await store.abegin_turn(f"s{i}", lock_timeout=30)
            await store.acommit_turn(start.lease, [HumanMessage(f"{i}-{turn}")])

    try:
        watcher = asyncio.create_task(watch())
        await asyncio.gather(*(session(i) for i in range(20)))
        watcher.cancel()
        assert 1 <= peak <= 2
        assert [m.content for m in await store.aload("s7")] == [f"7-{t}" for t in range(5)]
    finally:
        store.drop_tables()
        await store.aclose()
    assert _backends(postgres_url, tag) == 0  # aclose/close closed every connection it opened


async def test_borrowed_connections_go_back_to_injected_engines_as_lent(postgres_url: str) -> None:
    """The store switches an injected engine's connection to autocommit only while it uses it."""
    prefix = _prefix()
    url = psycopg_url(postgres_url)
    engine = create_engine(url, pool_size=1, max_overflow=0)
    async_engine = create_async_engine(url, pool_size=1, max_overflow=0)
    store = PostgresChatStore(engine=engine, async_engine=async_engine, table_prefix=prefix)
    try:
        store.append("s", [HumanMessage("sync")])
        await store.aappend("s", [HumanMessage("async")])
        with pytest.raises(RuntimeError), engine.begin() as conn:  # the engine's one connection
            conn.execute(text(f"DELETE FROM {prefix}_messages"))
            raise RuntimeError("roll back")
        async with async_engine.connect() as aconn:
            await aconn.execute(text(f"DELETE FROM {prefix}_messages"))
            await aconn.rollback()
        assert [m.content for m in store.load("s")] == ["sync", "async"]  # both rolled back
    finally:
        store.drop_tables()
        store.close()
        engine.dispose()
        await async_engine.dispose()


def test_a_store_error_names_the_session_and_hides_the_password(postgres_url: str) -> None:
    url = psycopg_url(postgres_url).set(password="hunter2-secret", port=1)  # nothing listens
    store = PostgresChatStore(url, table_prefix=_prefix())
    store._ready = True  # past setup: the first statement meets the dead server
    with pytest.raises(StoreError, match="'who'") as info:
        store.count("who")
    assert "hunter2-secret" not in str(info.value)
    assert "hunter2-secret" not in repr(store)
    store.close()


def test_only_a_turn_start_on_an_existing_session_skips_the_wal_flush(postgres_url: str) -> None:
    """The lease write of a known session commits asynchronously; nothing else does.

    A new session's row, the commit, and whatever the connection runs next keep
    ``synchronous_commit = on``: a stored turn is on disk when ``commit_turn`` returns.
    """
    prefix = _prefix()
    store = PostgresChatStore(postgres_url, table_prefix=prefix)
    try:
        store.append("old", [HumanMessage("hi")])
        with store._connections.connection() as conn:

            def setting_during_start(session_id: str) -> str:
                params = store._begin_params(session_id, "t", 2, 30.0, None)
                ((sql, values),) = store._statements([(store._begin_stmt, params)])
                conn.execute("BEGIN")  # see the setting inside the statement's transaction
                conn.execute(sql, values)
                row = conn.execute("SHOW synchronous_commit").fetchone()
                conn.execute("ROLLBACK")
                assert row is not None
                return str(row[0])

            assert setting_during_start("old") == "off"
            assert setting_during_start("new") == "on"
            row = conn.execute("SHOW synchronous_commit").fetchone()
            assert row is not None and row[0] == "on"  # local to the start's transaction
        start = store.begin_turn("old", lock_timeout=5)
        store.commit_turn(start.lease, [HumanMessage("again")])
        assert [m.content for m in store.load("old")] == ["hi", "again"]
    finally:
        store.drop_tables()
        store.close()


async def test_a_statement_waits_for_a_free_connection_then_fails_clearly(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_arcee.stores import pg_connections

    monkeypatch.setattr(pg_connections, "ACQUIRE_TIMEOUT", 0.3)
    store = PostgresChatStore(postgres_url, table_prefix=_prefix(), max_connections=1)
    try:
        store.append("s", [HumanMessage("one")])
        await store.aappend("s", [HumanMessage("two")])
        busy = r"'s'.*no connection free"
        # The only sync connection is taken:
        with store._connections.connection(), pytest.raises(StoreError, match=busy):
            store.count("s")
        async with store._async_connections.connection():  # and this loop's only one
            with pytest.raises(StoreError, match=busy):
                await store.acount("s")
        assert store.count("s") == await store.acount("s") == 2  # free again
    finally:
        store.drop_tables()
        await store.aclose()


def test_url_query_parameters_reach_the_connections_decoded(postgres_url: str) -> None:
    """``?options=-c%20...`` (spaces and all) and other libpq parameters reach psycopg as given."""
    tag = _prefix()
    url = f"{postgres_url}?application_name={tag}&options=-c%20statement_timeout%3D12345"
    store = PostgresChatStore(url, table_prefix=tag)
    try:
        store.append("s", [HumanMessage("hi")])
        with store._connections.connection() as conn:
            row = conn.execute("SHOW statement_timeout").fetchone()
            assert row is not None and row[0] == "12345ms"
            row = conn.execute("SHOW application_name").fetchone()
            assert row is not None and row[0] == tag
    finally:
        store.drop_tables()
        store.close()


async def test_statements_cancelled_at_random_points_leave_no_broken_connection(
    postgres_url: str,
) -> None:
    """Cancel async turns mid-flight, many times: every later statement still works.

    A connection whose query was in flight when its task was cancelled must not go back to the
    pool (the next statement on it would fail with "another command is already in progress"),
    and its slot must be freed.
    """
    import random

    tag = _prefix()
    store = PostgresChatStore(
        f"{postgres_url}?application_name={tag}", table_prefix=tag, max_connections=3
    )
    rng = random.Random(1234)
    try:
        await store.aappend("s", [HumanMessage("start")])

        async def turn(i: int) -> None:
            start = await store.abegin_turn("s", lock_timeout=30, lease_seconds=0.5)
            await store.acommit_turn(start.lease, [HumanMessage(f"q{i}")])

        cancelled = 0
        for i in range(60):
            task = asyncio.create_task(turn(i))
            await asyncio.sleep(rng.uniform(0, 0.004))
            if task.cancel():
                cancelled += 1
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert cancelled > 10  # the test did cancel turns in flight
        for i in range(5):  # a lease left by a cancelled start expires within 0.5 s
            start = await store.abegin_turn("s", lock_timeout=30, lease_seconds=5)
            await store.acommit_turn(start.lease, [HumanMessage(f"after{i}")])
        texts = [m.content for m in await store.aload("s")]
        assert texts[0] == "start" and texts[-5:] == [f"after{i}" for i in range(5)]
        assert len(texts) == len(set(texts))  # no turn stored twice
        assert _backends(postgres_url, tag) <= 3
    finally:
        store.drop_tables()
        await store.aclose()


def _begin_rows_and_reads(
    store: PostgresChatStore, session_id: str, last: int, plan_cache_mode: str
) -> tuple[list[list[int]], int]:
    """Run ``store``'s turn start three times (prepared) under ``plan_cache_mode``, rolled
    back: the parts of the rows it returned each time, and the message rows it fetched."""
    known = store._windows.known(session_id, last)
    assert known is not None
    params = store._begin_params(session_id, "another-token", last, 30.0, known)
    ((sql, values),) = store._statements([(store._begin_stmt, params)])
    fetched = (
        "SELECT coalesce(sum(idx_tup_fetch + seq_tup_read), 0) "
        "FROM pg_stat_xact_user_tables WHERE relname = %s"
    )
    parts = []
    with store._connections.connection() as conn:
        conn.execute(f"SET plan_cache_mode = {plan_cache_mode}")
        try:
            conn.execute("BEGIN")
            # The counts not yet flushed by this backend include earlier statements': diff.
            before = conn.execute(fetched, (store.messages.name,)).fetchone()
            for _ in range(3):  # prepared from the first run on
                rows = conn.execute(sql, values, prepare=True).fetchall()
                parts.append([row[0] for row in rows])
            after = conn.execute(fetched, (store.messages.name,)).fetchone()
            conn.execute("ROLLBACK")
        finally:
            conn.execute("RESET plan_cache_mode")
    assert before is not None and after is not None
    return parts, int(after[0] - before[0])


@pytest.mark.parametrize("plan_cache_mode", ["force_generic_plan", "force_custom_plan"])
def test_a_turn_start_on_a_cached_window_reads_no_message_rows(
    postgres_url: str, plan_cache_mode: str
) -> None:
    """Starting a turn whose window the store has cached touches O(1) message rows.

    psycopg prepares a statement run five times, and PostgreSQL then runs a generic plan: the
    start's "ship the window only if it changed" test, written as a join with the snapshot, was
    checked once per message row, walking the whole session to ship nothing (~0.3 ms of server
    CPU a turn at 1,000 messages). Counted with the transaction's own table statistics.
    """
    prefix = _prefix()
    store = PostgresChatStore(postgres_url, table_prefix=prefix)
    try:
        store.append("s", [HumanMessage(f"m{i}") for i in range(300)])
        start = store.begin_turn("s", last=400)  # reads and caches the window
        store.commit_turn(start.lease, [HumanMessage("q")])
        parts, fetched = _begin_rows_and_reads(store, "s", 400, plan_cache_mode)
        assert parts == [[0, 2]] * 3  # state and head: no window
        # Per run: the head, the newest cached message (is it still there?) and the newest
        # message id: a few rows, not all 301 messages.
        assert fetched <= 3 * 3
    finally:
        store.drop_tables()


@pytest.mark.parametrize("plan_cache_mode", ["force_generic_plan", "force_custom_plan"])
def test_a_turn_start_after_another_stores_turn_reads_only_the_new_rows(
    postgres_url: str, plan_cache_mode: str
) -> None:
    """Another instance's turn since the cached state: the start ships and reads only its
    two messages (an index bound after the newest cached id), not the session."""
    prefix = _prefix()
    store = PostgresChatStore(postgres_url, table_prefix=prefix)
    other = PostgresChatStore(postgres_url, table_prefix=prefix)
    try:
        store.append("s", [HumanMessage(f"m{i}") for i in range(300)])
        store.release_turn(store.begin_turn("s", last=400).lease)  # caches the window
        start = other.begin_turn("s", last=400)
        other.commit_turn(start.lease, [HumanMessage("q"), AIMessage("a")])
        parts, fetched = _begin_rows_and_reads(store, "s", 400, plan_cache_mode)
        assert parts == [[0, 1, 1, 2]] * 3  # state, the two new messages, head
        assert fetched <= 3 * 5
    finally:
        other.close()
        store.drop_tables()
        store.close()


def test_statements_are_prepared_on_their_first_run(postgres_url: str) -> None:
    """A turn's statements are server-side prepared from a connection's first turn on.

    psycopg prepares a query on its fifth run by default: until then the server parses and
    plans the start's and the commit's CTEs on every run, on every pooled connection.
    """
    prefix = _prefix()
    store = PostgresChatStore(postgres_url, table_prefix=prefix, max_connections=1)
    try:
        store.append("s", [HumanMessage("hi")])
        start = store.begin_turn("s")
        store.commit_turn(start.lease, [HumanMessage("again")])
        with store._connections.connection() as conn:
            statements = [
                row[0]
                for row in conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
            ]
        assert any("WITH lease AS" in sql for sql in statements)
        assert any("WITH old AS" in sql for sql in statements)
    finally:
        store.drop_tables()
        store.close()


def test_contended_pools_of_closed_loops_are_let_go(postgres_url: str) -> None:
    """A loop whose statements once waited for a connection slot is not kept alive.

    The slot semaphore of a loop's pool binds that loop once a task waits on it; pools kept in
    a ``WeakKeyDictionary`` keyed by the loop then kept every such loop for good.
    """
    import warnings

    store = PostgresChatStore(postgres_url, table_prefix=_prefix(), max_connections=1)
    try:

        async def contended() -> None:  # four statements, one connection: three wait
            await asyncio.gather(*(store.aappend(f"s{i}", [HumanMessage("x")]) for i in range(4)))

        before = live_event_loops()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # connections of closed loops
            for _ in range(8):
                asyncio.run(contended())
            assert live_event_loops() - before <= 1  # the last loop, until a new one arrives
        assert [store.count(f"s{i}") for i in range(4)] == [8, 8, 8, 8]
    finally:
        store.drop_tables()
        store.close()


def test_a_turn_committing_while_a_clear_runs_is_cleared_or_refused(postgres_url: str) -> None:
    # A clear is two statements in one transaction. Deleting the messages first left the
    # session row unlocked until the second: a turn's commit could slip in between, and its two
    # messages outlived the clear, counted 0 (found by the multi-process campaign). The clear
    # now moves the version (locking the row) first: the commit waits, then is refused.
    import threading

    import psycopg

    from langchain_arcee.stores import ConcurrentTurnError

    store = PostgresChatStore(postgres_url, table_prefix=_prefix())
    try:
        store.append("s", [HumanMessage("old q"), AIMessage("old a")])
        start = store.begin_turn("s", last=50)
        (first, *rest) = store._statements(store._clear_work("s"))
        outcome: list[object] = []

        def commit() -> None:
            try:
                store.commit_turn(start.lease, [HumanMessage("q"), AIMessage("a")])
                outcome.append("stored")
            except ConcurrentTurnError as error:
                outcome.append(error)

        with psycopg.connect(**store._connect_args()) as conn, conn.transaction():
            conn.execute(*first)  # the clear's first statement, its transaction held open
            racer = threading.Thread(target=commit)
            racer.start()
            racer.join(timeout=1.0)  # a commit that takes no lock the clear holds ends here
            for statement in rest:
                conn.execute(*statement)
        racer.join(timeout=10)
        assert not racer.is_alive()
        stored = store.load("s")
        assert store.count("s") == len(stored)
        assert isinstance(outcome[0], ConcurrentTurnError) and stored == []
    finally:
        store.drop_tables()
        store.close()
