"""A prompt template with a system prompt and a history placeholder, plus memory.

The chain takes a dict (``{"language": ..., "question": ...}``); ``RunnableWithMemory`` reads the
user's message from ``input_messages_key`` and puts the stored history under
``history_messages_key``, where the ``MessagesPlaceholder`` expects it. Only the dialogue is
stored: the system prompt comes from the template on every request.

Needs ``ARCEE_API_KEY`` (``ARCEE_BASE_URL`` points it at another server).
"""

from __future__ import annotations

from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import InMemoryChatStore


def main() -> None:
    prompt = ChatPromptTemplate(
        [
            ("system", "You are a concise assistant. Answer in {language}."),
            MessagesPlaceholder("history"),
            ("human", "{question}"),
        ]
    )
    store = InMemoryChatStore()
    chat = RunnableWithMemory(
        prompt | ChatArcee(),
        store,
        input_messages_key="question",
        history_messages_key="history",
    )
    config = {"configurable": {"session_id": "chain-example"}}
    for question in ("My favourite fruit is the mango.", "Which fruit do I like best?"):
        reply = chat.invoke({"language": "English", "question": question}, config=config)
        print(f"you:   {question}\narcee: {reply.content}\n")

    print("Stored conversation (no system message; the template adds it each time):")
    for message in store.load("chain-example"):
        print(f"  {message.type:>5}: {message.content}")


if __name__ == "__main__":
    main()
