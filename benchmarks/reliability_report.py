"""Reliability campaign: every API fault x every available store, concurrent turns, SIGKILL
during SQLite writes, a short soak, and issue 9's data and secrets cases (non-JSON tool results,
lone surrogates, unsendable input, credentials in URLs), and issue 8's multi-instance campaign
(OS processes sharing sessions on SQLite, PostgreSQL and Redis, with kills). Prints the figures;
exits 1 if anything was lost or leaked.

Run from the repo root: ``python -m benchmarks.reliability_report`` (options: ``--soak-turns``,
``--kills``). PostgreSQL and Redis are used when reachable (``ARCEE_TEST_POSTGRES_URL``,
``ARCEE_TEST_REDIS_URL``, defaults as in the test suite), otherwise reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai._base_client
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.runnables import RunnableLambda

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.redaction import url_secrets
from langchain_arcee.stores import StoreError, store_from_url
from tests.arcee_server import ArceeTestServer, Reply
from tests.reliability.faults import API_FAULTS, play_fault
from tests.reliability.kill_writes import kill_campaign
from tests.reliability.load import check_load, plan, run_tasks, run_threads, soak
from tests.reliability.support import (
    KEY,
    STORE_KINDS,
    StoreUnderTest,
    cfg,
    free_port,
    make_store,
    unique,
)

POSTGRES_URL = os.environ.get(
    "ARCEE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("ARCEE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MODES = ("invoke", "astream")


class Tally:
    def __init__(self) -> None:
        self.faults = 0
        self.turns = 0
        self.messages = 0
        self.losses: list[str] = []
        self.data: dict[str, list[int]] = {}  # case -> [passed, tried]

    def case(self, name: str, ok: bool, what: str) -> None:
        passed_tried = self.data.setdefault(name, [0, 0])
        passed_tried[0] += ok
        passed_tried[1] += 1
        if not ok:
            self.losses.append(f"{what}: {name}")

    def add(self, what: str, problems: list[str]) -> None:
        self.losses.extend(f"{what}: {p}" for p in problems)


async def open_store(kind: str, tmp: Path) -> StoreUnderTest | None:
    sut = make_store(kind, tmp, postgres_url=POSTGRES_URL, redis_url=REDIS_URL)
    try:
        sut.store.count("probe")
    except Exception as exc:
        print(f"  {kind}: skipped (not reachable: {str(exc)[:80]})")
        await sut.store.aclose()
        return None
    return sut


async def campaign(args: argparse.Namespace, tally: Tally, tmp: Path) -> None:
    with ArceeTestServer() as server:

        def make_model(**overrides: Any) -> ChatArcee:
            options = {"api_key": KEY, "base_url": server.base_url, "max_retries": 1}
            return ChatArcee(**{"timeout": 10, **options, **overrides})

        for kind in STORE_KINDS:
            sut = await open_store(kind, tmp)
            if sut is None:
                continue
            started = time.perf_counter()
            try:
                for fault in API_FAULTS:
                    for mode in MODES:
                        problems = await play_fault(fault, mode, sut.store, server, make_model)
                        tally.add(f"{kind}/{fault.name}/{mode}", problems)
                        tally.faults += 1
                        tally.turns += 3
                        tally.messages += 4
                server.reset()
                chat = RunnableWithMemory(make_model(), sut.store)
                for label, sessions, turns in (("sessions", 16, 6), ("one-session", 1, 32)):
                    for runner in ("threads", "asyncio"):
                        work = plan([unique("c") for _ in range(sessions)], turns)
                        server.reset()
                        if runner == "threads":
                            run_threads(chat, work)
                        else:
                            await run_tasks(chat, work)
                        report = check_load(sut.store, work, server.chat_requests)
                        tally.add(f"{kind}/{label}/{runner}", report.problems)
                        tally.turns += report.turns
                        tally.messages += report.messages_checked
                await data_and_secrets(tally, sut, server)
            finally:
                await sut.aclose()
            print(f"  {kind}: done in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    kills = kill_campaign(tmp / "killed.db", kills=args.kills, seed=args.seed)
    tally.add("sqlite/sigkill", kills.problems)
    tally.turns += kills.stored_turns
    tally.messages += kills.messages_checked
    print(
        f"  sigkill: {kills.kills} kills, {kills.stored_turns} turns on disk "
        f"({len(kills.reported)} reported committed) in {time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    soaked = soak(args.soak_turns)
    tally.add("soak", soaked.problems)
    if soaked.growth > 1.5 * soaked.data + 512 * 1024:
        tally.add("soak", [f"memory grew {soaked.growth} B for {soaked.data} B of data"])
    tally.turns += soaked.turns
    tally.messages += soaked.messages_checked
    print(
        f"  soak: {soaked.turns} turns, traced memory +{soaked.growth / 1e6:.1f} MB for "
        f"{soaked.data / 1e6:.1f} MB of stored data, in {time.perf_counter() - started:.1f} s"
    )


def _tool_turn(value: object) -> list[ToolMessage]:
    from datetime import datetime, timezone
    from uuid import uuid4

    stamp = datetime.now(timezone.utc)
    return [ToolMessage("ran", tool_call_id="c1", artifact={"at": stamp, "id": uuid4()})]


async def data_and_secrets(tally: Tally, sut: StoreUnderTest, server: ArceeTestServer) -> None:
    """Issue 9 on one store: produced turns never lost, bad input refused, lossless text."""
    import warnings

    from langchain_arcee.stores import LossyStorageWarning

    kind = sut.kind
    tool_chat = RunnableWithMemory(RunnableLambda(_tool_turn), sut.store)
    session = unique("d")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossyStorageWarning)
        tool_chat.invoke("run the tool", cfg(session))
    tally.case("non-JSON tool results stored", len(sut.store.load(session)) == 2, kind)

    chat = RunnableWithMemory(
        ChatArcee(api_key=KEY, base_url=server.base_url, max_retries=0), sut.store
    )
    text = "odd \udc80 reply"
    server.reset()
    server.enqueue(Reply(content=text))
    session = unique("d")
    chat.invoke("hi", cfg(session))
    chat.invoke("next", cfg(session))
    exact = [m.content for m in sut.store.load(session)][:2] == ["hi", text]
    tally.case("lone-surrogate replies stored exactly", exact, kind)

    server.reset()
    from datetime import datetime

    try:
        chat.invoke([HumanMessage("x", additional_kwargs={"d": datetime.now()})], cfg(session))
        refused = False
    except TypeError:
        refused = server.count("chat") == 0
    tally.case("unsendable inputs refused before sending", refused, kind)


def credential_leaks(tally: Tally) -> None:
    """Passworded store URLs on closed ports: no error or repr may quote the password."""
    secret = "pw-report-s3cret"
    port = free_port()
    for url in (
        f"postgresql://u:{secret}@127.0.0.1:{port}/db",
        f"postgresql://u@127.0.0.1:{port}/db?password={secret}",
        f"redis://:{secret}@127.0.0.1:{port}/0",
        f"redis://127.0.0.1:{port}/0?password={secret}",
        f"mysql://u:{secret}@127.0.0.1/db",
    ):
        texts: list[str] = []
        try:
            store = store_from_url(url)
            texts += [repr(store), str(getattr(store, "url", ""))]
            store.count("s")
        except (StoreError, ValueError) as exc:
            texts.append(str(exc))
        clean = secret in url_secrets(url) and not any(secret in t for t in texts)
        tally.case("store URLs with no credential shown", clean, url.split(":", 1)[0])


def multi_instance(tally: Tally, tmp: Path, actions: int, seed: int) -> None:
    """Issue 8's campaign: OS processes with their own store objects on shared sessions.

    Plain turns, tool groups spanning turns, clears and deletes racing turns, two SIGKILLs per
    backend; every stored session checked (valid request, computed from the stored prefix,
    nothing lost, duplicated, resurrected or stored in another session).
    """
    import uuid

    from tests.multiprocess.campaign import Plan, run_campaign
    from tests.multiprocess.conftest import _delete_redis_keys, _drop_postgres_schema
    from tests.multiprocess.protocol import responder
    from tests.multiprocess.test_concurrent_turns import SESSIONS, WORKERS

    print("multi-instance campaign (OS processes sharing sessions):")
    backends = {
        "sqlite": (f"sqlite:///{tmp / 'shared.db'}", "table_prefix"),
        "postgres": (POSTGRES_URL, "schema"),
        "redis": (REDIS_URL, "key_prefix"),
    }
    with ArceeTestServer(responder=responder, delay=0.01) as server:
        for kind, (url, key) in backends.items():
            name = "mp" + uuid.uuid4().hex[:10]
            try:
                store_from_url(url, **{key: name}).count("probe")
            except Exception as exc:  # reported, not fatal: the backend isn't reachable here
                print(f"  {kind}: skipped (not reachable: {str(exc)[:80]})")
                continue
            plan = Plan(sessions=SESSIONS, workers=WORKERS, actions=actions, kills=2, seed=seed)
            try:
                result = run_campaign(url, {key: name}, server.base_url, plan, tmp / kind)
            finally:
                if kind == "postgres":
                    _drop_postgres_schema(url, name)
                elif kind == "redis":
                    _delete_redis_keys(url, name)
            report = result.report
            tally.turns += report.turns_run
            tally.messages += report.messages
            tally.add(f"multi-instance {kind}", report.problems if not report.ok else [])
            for case, count in (
                ("multi-instance lost updates", report.lost_updates),
                ("multi-instance invalid sessions", report.invalid_sessions),
                ("multi-instance leaks/misplaced turns", report.misplaced),
                ("multi-instance losses+duplicates", report.losses + report.duplicates),
            ):
                tally.case(case, count == 0, f"{kind}: {count}")
            print(
                f"  {kind}: {report.turns_run} turns, {report.sessions} sessions, "
                f"{report.messages} messages; lost updates {report.lost_updates}, invalid "
                f"sessions {report.invalid_sessions}, misplaced {report.misplaced}, losses "
                f"{report.losses}, duplicates {report.duplicates}, kills {len(result.killed)}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak-turns", type=int, default=5_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--instance-actions", type=int, default=40, help="per worker process")
    args = parser.parse_args(argv)
    # Only the delay between retries shrinks; what is retried is the client's own logic.
    openai._base_client.INITIAL_RETRY_DELAY = 0.01  # type: ignore[attr-defined]
    tally = Tally()
    started = time.perf_counter()
    print("Reliability campaign")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(campaign(args, tally, Path(tmp)))
        multi_instance(tally, Path(tmp), args.instance_actions, args.seed)
    credential_leaks(tally)
    print()
    print(f"faults tried:     {tally.faults}")
    print(f"turns run:        {tally.turns}")
    print(f"messages checked: {tally.messages}")
    for name, (passed, tried) in tally.data.items():
        print(f"{name + ':':42s} {passed}/{tried}")
    print(f"losses found:     {len(tally.losses)}")
    print(f"elapsed:          {time.perf_counter() - started:.1f} s")
    for loss in tally.losses:
        print(f"  LOSS {loss}")
    return 1 if tally.losses else 0


if __name__ == "__main__":
    sys.exit(main())
