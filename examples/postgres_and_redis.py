"""The same memory on PostgreSQL and on Redis: only the store URL changes.

URLs come from ``ARCEE_EXAMPLE_POSTGRES_URL`` and ``ARCEE_EXAMPLE_REDIS_URL`` (default: the
local servers). Each backend gets a fresh session, two turns, and the session is deleted at the
end. Needs ``pip install -e ".[postgres,redis]"`` (from a checkout) and ``ARCEE_API_KEY``
(``ARCEE_BASE_URL`` points it at another server).
"""

from __future__ import annotations

import os
import uuid

from langchain_arcee import ChatArcee
from langchain_arcee.stores import store_from_url

BACKENDS = (
    (
        "PostgreSQL",
        "ARCEE_EXAMPLE_POSTGRES_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
    ("Redis", "ARCEE_EXAMPLE_REDIS_URL", "redis://127.0.0.1:6379/15"),
)


def main() -> None:
    llm = ChatArcee()
    for name, env_var, default in BACKENDS:
        url = os.environ.get(env_var) or default
        store = store_from_url(url)
        session = f"example-{uuid.uuid4().hex[:8]}"
        try:
            chat = llm.with_memory(store)
            config = {"configurable": {"session_id": session}}
            for question in ("Remember the number 42.", "Which number did I ask you to remember?"):
                reply = chat.invoke(question, config=config)
                print(f"[{name}] you: {question}\n[{name}] arcee: {reply.content}")
            print(f"[{name}] {store.count(session)} messages stored in session {session!r}\n")
        finally:
            store.delete(session)
            store.close()


if __name__ == "__main__":
    main()
