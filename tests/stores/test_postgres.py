"""PostgreSQL-specific behaviour: schemas, injected engines, rollback of a failed write."""

from __future__ import annotations

import uuid

import pytest
from langchain_core.messages import HumanMessage
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

from langchain_arcee.stores import StoreError
from langchain_arcee.stores.postgres import PostgresChatStore, psycopg_url

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
