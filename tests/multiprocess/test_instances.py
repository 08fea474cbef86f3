"""Issue 8 within one process: colliding client message ids, store objects, event loops.

* Clients that set their own message ids (a constant one) must not see another session's
  messages, nor a cached message instead of the stored one, nor another message's token count.
* Two store objects over one storage (``store_from_url(url)`` per request) in one process:
  turns of one session must still see each other.
* One store object used by successive ``asyncio.run()`` calls works on every store, and a
  retried turn is not stored twice.

Every request the fingerprinting server answers must have been computed from exactly the
stored history of its own session (checked with :mod:`tests.multiprocess.checker`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

from langchain_arcee import ChatArcee
from langchain_arcee.memory import ContextWindowExceededError, RunnableWithMemory
from langchain_arcee.stores import ChatStore
from tests.arcee_server import ArceeTestServer, text_of
from tests.multiprocess.checker import request_problems, stale_replies
from tests.multiprocess.conftest import SharedStorage
from tests.multiprocess.protocol import human_text, marker_of

pytestmark = pytest.mark.loopback

CLIENT_ID = "client-msg-1"
"""The id a front end sets on every message it sends (the collision of the issue)."""


def cfg(session_id: str) -> RunnableConfig:
    return {"configurable": {"session_id": session_id}}


def model(server: ArceeTestServer) -> ChatArcee:
    return ChatArcee(base_url=server.base_url, api_key="test", max_retries=0, timeout=30)


def assert_consistent(store: ChatStore, sessions: Sequence[str]) -> list[str]:
    """Each session is valid and every reply was computed from its stored prefix."""
    markers = []
    for session in sessions:
        messages = store.load(session)
        assert not request_problems(messages), (session, request_problems(messages))
        assert not stale_replies(messages), (session, stale_replies(messages))
        markers += [
            marker_of(str(m.content)) or "" for m in messages if isinstance(m, HumanMessage)
        ]
    assert len(markers) == len(set(markers)), f"duplicated turns: {markers}"
    return markers


def test_colliding_client_ids_never_leak_across_or_within_sessions(
    shared_storage: SharedStorage, fingerprint_server: ArceeTestServer
) -> None:
    chat = RunnableWithMemory(
        model(fingerprint_server), shared_storage.open(), reasoning_retention="current_turn"
    )
    for turn in range(3):
        for session in ("A", "B"):
            message = HumanMessage(human_text(f"{session}-{turn}"), id=CLIENT_ID)
            chat.invoke([message], cfg(session))
    for request in fingerprint_server.chat_requests:
        users = [text_of(m["content"]) for m in request.body["messages"] if m["role"] == "user"]
        owner = (marker_of(users[-1]) or "?")[0]
        leaked = [u for u in users if (marker_of(u) or "?")[0] != owner]
        assert not leaked, f"a request of session {owner} carried {leaked}"
    # Within a session: the model got the stored messages, not a cached one with the same id.
    assert assert_consistent(chat.get_session_history, ["A", "B"]) == [  # type: ignore[arg-type]
        "A-0", "A-1", "A-2", "B-0", "B-1", "B-2"
    ]  # fmt: skip


def test_colliding_client_ids_do_not_share_token_counts(
    shared_storage: SharedStorage, fingerprint_server: ArceeTestServer
) -> None:
    store = shared_storage.open()
    chat = RunnableWithMemory(
        model(fingerprint_server), store, context_window=1_000, reply_reserve=100
    )
    chat.invoke([HumanMessage(human_text("A-0"), id=CLIENT_ID)], cfg("A"))
    sent = fingerprint_server.count("chat")
    huge = HumanMessage(human_text("B-0") + " word" * 2_000, id=CLIENT_ID)
    with pytest.raises(ContextWindowExceededError):
        chat.invoke([huge], cfg("B"))
    assert fingerprint_server.count("chat") == sent, "an over-window request was sent"
    assert store.load("B") == []


def test_two_store_objects_in_one_process_see_each_others_turns(
    shared_storage: SharedStorage, fingerprint_server: ArceeTestServer
) -> None:
    errors: list[BaseException] = []

    def client(name: str) -> None:
        # A web app building its store per request: a new store object for every turn.
        for turn in range(12):
            store = shared_storage.open()
            chat = RunnableWithMemory(model(fingerprint_server), store)
            try:
                chat.invoke([HumanMessage(human_text(f"{name}-{turn}"))], cfg("shared"))
            except Exception as exc:  # collected: the assertion below names them
                errors.append(exc)

    fingerprint_server.set_option(delay=0.02)
    threads = [threading.Thread(target=client, args=(f"t{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(assert_consistent(shared_storage.open(), ["shared"])) == 24


def test_one_store_across_successive_event_loops(
    any_storage: SharedStorage, fingerprint_server: ArceeTestServer
) -> None:
    store = any_storage.open()
    chat = RunnableWithMemory(model(fingerprint_server), store)
    errors: list[str] = []
    for turn in range(3):
        message = HumanMessage(human_text(f"L-{turn}"))
        try:
            asyncio.run(chat.ainvoke([message], cfg("loops")))
        except Exception as exc:  # retried once, as a caller would; reported below
            errors.append(f"turn {turn}: {type(exc).__name__}: {exc}")
            asyncio.run(chat.ainvoke([message], cfg("loops")))

    async def admin() -> tuple[int, list[str]]:
        infos = await store.alist_sessions()
        return await store.acount("loops"), [i.session_id for i in infos]

    count, listed = asyncio.run(admin())
    assert errors == []
    assert (count, listed) == (6, ["loops"])
    assert assert_consistent(store, ["loops"]) == ["L-0", "L-1", "L-2"]
    asyncio.run(store.aclear("loops"))
    assert asyncio.run(store.aload("loops")) == []
    asyncio.run(store.aclose())
