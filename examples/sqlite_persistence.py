"""Conversations that survive a restart: run this script twice.

The first run introduces itself; the second run (a new process) asks a question that only the
stored first turn can answer, and its request carries that turn.

    python examples/sqlite_persistence.py   # stores turn 1
    python examples/sqlite_persistence.py   # resumes: history comes from the SQLite file

The database file is ``ARCEE_EXAMPLE_SQLITE_PATH`` (default: ``arcee_example_chats.db`` in the
temp folder). Needs ``ARCEE_API_KEY`` (``ARCEE_BASE_URL`` points it at another server).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from langchain_arcee import ChatArcee
from langchain_arcee.stores import SQLiteChatStore

SESSION = "persistence-example"


def main() -> None:
    path = Path(
        os.environ.get("ARCEE_EXAMPLE_SQLITE_PATH")
        or Path(tempfile.gettempdir()) / "arcee_example_chats.db"
    )
    store = SQLiteChatStore(path)
    try:
        chat = ChatArcee().with_memory(store)
        stored = store.count(SESSION)
        print(f"{path}: {stored} messages stored in session {SESSION!r} before this run")
        question = "What is my name?" if stored else "Hi, my name is Ada. Please remember it."
        reply = chat.invoke(question, config={"configurable": {"session_id": SESSION}})
        print(f"you:   {question}\narcee: {reply.content}")
        print(f"{store.count(SESSION)} messages stored now; run me again to continue.")
    finally:
        store.close()


if __name__ == "__main__":
    main()
