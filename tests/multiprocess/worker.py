"""One app instance of the multi-process campaign: ``python -m tests.multiprocess.worker ...``.

Runs turns through ``RunnableWithMemory(ChatArcee(...), store)`` on a few shared sessions, the
store built with ``store_from_url`` (once per process, or afresh for every turn as a web app
building one per request would), and appends one JSON line per event to its own journal:

* ``start``: the worker is up (``protocol``: whether ``RunnableWithMemory`` took the lease
  options);
* ``turn``: a turn returned successfully (session, marker, kind, start/end times, the reply);
* ``error``: a turn raised (exception type and message);
* ``admin-start`` / ``admin``: a ``clear`` or ``delete`` is about to run / has returned.

A line is written with one ``write`` on an ``O_APPEND`` file, after the call returned, so a
SIGKILL leaves at most one partial last line (the checker ignores it). Times are
``time.monotonic()`` (one system-wide clock on Linux, comparable across processes).

Turn kinds: ``plain`` (a human message), ``tool_call`` (a human message whose reply calls a
tool) and ``tool_result`` (a later turn sending the ``ToolMessage`` answering that call).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import ChatStore, SessionBusyError, store_from_url
from tests.multiprocess.protocol import TOOL_SCHEMA, call_id_for, human_text, tool_result_text

MODES = ("sync", "stream", "async")
TOOL_RESULT_TRIES = 5
"""How often a tool-result turn is retried when the session is busy."""


class Journal:
    """Append-only JSON-lines file; one ``os.write`` per event."""

    def __init__(self, path: str, worker: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.worker = worker

    def write(self, event: str, **fields: Any) -> None:
        """Record one event."""
        line = json.dumps({"event": event, "worker": self.worker, **fields}, ensure_ascii=False)
        os.write(self.fd, (line + "\n").encode())


def _config(session_id: str) -> RunnableConfig:
    return {"configurable": {"session_id": session_id}}


def lease_options(lock_timeout: float, lease_seconds: float) -> dict[str, float]:
    """The turn protocol's options of ``RunnableWithMemory``."""
    return {"lock_timeout": lock_timeout, "lease_seconds": lease_seconds}


class Instance:
    """The app instance: a model, a store (or a recipe for one per turn) and the journal."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.model = ChatArcee(
            base_url=args.base_url, api_key="test", max_retries=0, timeout=60
        ).bind_tools([TOOL_SCHEMA])
        self.store_kwargs: dict[str, Any] = json.loads(args.store_kwargs)
        self.options = lease_options(args.lock_timeout, args.lease_seconds)
        self.journal = Journal(args.journal, args.worker)
        self.shared: ChatStore | None = None if args.store_per_turn else self.new_store()

    def new_store(self) -> ChatStore:
        """A store object over the campaign's storage."""
        return store_from_url(self.args.store_url, **self.store_kwargs)

    def chat(self, store: ChatStore) -> RunnableWithMemory:
        """The memory-wrapped model over ``store``."""
        return RunnableWithMemory(self.model, store, **self.options)

    # ---- one turn, in the worker's mode -----------------------------------------------------
    def _sync_turn(self, store: ChatStore, session: str, messages: list[BaseMessage]) -> Any:
        chat = self.chat(store)
        if self.args.mode == "stream":
            output: Any = None
            for chunk in chat.stream(messages, _config(session)):
                output = chunk if output is None else output + chunk
            return output
        return chat.invoke(messages, _config(session))

    async def _async_turn(self, session: str, messages: list[BaseMessage]) -> Any:
        store = self.new_store() if self.shared is None else self.shared
        try:
            return await self.chat(store).ainvoke(messages, _config(session))
        finally:
            if self.shared is None:
                await store.aclose()

    def run_turn(self, session: str, messages: list[BaseMessage]) -> Any:
        """Run one turn (a fresh event loop per async turn, as successive requests would)."""
        if self.args.mode == "async":
            return asyncio.run(self._async_turn(session, messages))
        store = self.new_store() if self.shared is None else self.shared
        try:
            return self._sync_turn(store, session, messages)
        finally:
            if self.shared is None:
                store.close()

    def turn(
        self, session: str, marker: str, kind: str, messages: list[BaseMessage], group: str = ""
    ) -> str | None:
        """Run and journal one turn; returns the error's type name, ``None`` on success."""
        t0 = time.monotonic()
        try:
            output = self.run_turn(session, messages)
        except Exception as exc:
            self.journal.write(
                "error",
                session=session,
                marker=marker,
                kind=kind,
                group=group,
                t0=t0,
                t1=time.monotonic(),
                error=type(exc).__name__,
                message=str(exc)[:300],
            )
            return type(exc).__name__
        reply = output.content if isinstance(output, AIMessage) else str(output)
        self.journal.write(
            "turn",
            session=session,
            marker=marker,
            kind=kind,
            group=group,
            t0=t0,
            t1=time.monotonic(),
            reply=reply,
        )
        return None

    def admin(self, op: str, session: str) -> None:
        """``clear`` or ``delete`` a session, journaled before and after."""
        t0 = time.monotonic()
        self.journal.write("admin-start", op=op, session=session, t0=t0)
        store = self.new_store() if self.shared is None else self.shared
        error = ""
        try:
            getattr(store, op)(session)
        except Exception as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        finally:
            if self.shared is None:
                store.close()
        self.journal.write("admin", op=op, session=session, t0=t0, t1=time.monotonic(), error=error)

    # ---- the worker's loop ------------------------------------------------------------------
    def run(self) -> None:
        """Run ``--turns`` actions on the shared sessions."""
        args = self.args
        rng = random.Random(args.seed)
        sessions: Sequence[str] = args.sessions.split(",")
        self.journal.write(
            "start", pid=os.getpid(), protocol=bool(self.options), t=time.monotonic()
        )
        for seq in range(args.turns):
            session = rng.choice(sessions)
            marker = f"{args.worker}-{seq}"
            roll = rng.random()
            if roll < args.clear_rate:
                self.admin("clear", session)
            elif roll < args.clear_rate + args.delete_rate:
                self.admin("delete", session)
            elif roll < args.clear_rate + args.delete_rate + args.tool_rate:
                self.tool_group(session, marker, rng)
            else:
                plain: list[BaseMessage] = [HumanMessage(human_text(marker))]
                self.turn(session, marker, "plain", plain)
            if args.pause:
                time.sleep(rng.uniform(0, args.pause))
        self.journal.write("done", t=time.monotonic())

    def tool_group(self, session: str, marker: str, rng: random.Random) -> None:
        """A tool call answered in a later turn (other instances may run turns in between)."""
        call: list[BaseMessage] = [HumanMessage(human_text(marker, tool=True))]
        if self.turn(session, marker, "tool_call", call) is not None:
            return
        time.sleep(rng.uniform(0, self.args.pause or 0.01))
        result_marker = f"{marker}t"
        result = ToolMessage(tool_result_text(result_marker), tool_call_id=call_id_for(marker))
        for _ in range(TOOL_RESULT_TRIES):
            error = self.turn(session, result_marker, "tool_result", [result], group=marker)
            if error != SessionBusyError.__name__:
                return


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments and run the worker."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--store-kwargs", default="{}", help="JSON keyword arguments")
    parser.add_argument("--base-url", required=True, help="the loopback server's API base URL")
    parser.add_argument("--journal", required=True)
    parser.add_argument("--worker", required=True, help="worker id (prefix of its markers)")
    parser.add_argument("--sessions", required=True, help="comma-separated session ids")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=MODES, default="sync")
    parser.add_argument("--store-per-turn", action="store_true")
    parser.add_argument("--tool-rate", type=float, default=0.0)
    parser.add_argument("--clear-rate", type=float, default=0.0)
    parser.add_argument("--delete-rate", type=float, default=0.0)
    parser.add_argument("--pause", type=float, default=0.0, help="max random sleep per action")
    parser.add_argument("--lock-timeout", type=float, default=20.0)
    parser.add_argument("--lease-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    instance = Instance(args)
    try:
        instance.run()
    finally:
        if instance.shared is not None:
            instance.shared.close()


if __name__ == "__main__":
    main()
