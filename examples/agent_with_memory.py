"""A LangChain agent with memory: tool calls, tool results and reasoning are kept.

``create_agent(ChatArcee(), tools=[...])`` runs the tool loop; ``RunnableWithMemory`` stores the
whole turn (the user message, each assistant message with its tool calls and reasoning, each
tool result, the final answer) in one atomic write, and the next turn re-sends all of it, as
Arcee requires. The printed requests show the second turn carrying the first one.

Needs ``ARCEE_API_KEY`` (``ARCEE_BASE_URL`` points it at another server).
"""

from __future__ import annotations

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from wire_log import logging_http_client

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import InMemoryChatStore


@tool
def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"Sunny, 22 C in {city}"


def main() -> None:
    agent = create_agent(ChatArcee(http_client=logging_http_client()), tools=[get_weather])
    store = InMemoryChatStore()
    chat = RunnableWithMemory(
        agent, store, input_messages_key="messages", output_messages_key="messages"
    )
    config = {"configurable": {"session_id": "agent-example"}}

    print("=== turn 1")
    result = chat.invoke({"messages": [HumanMessage("What's the weather in Paris?")]}, config)
    print(f"answer: {result['messages'][-1].content}\n")

    print("Stored after turn 1:")
    for message in store.load("agent-example"):
        line = f"  {message.type:>5}: {message.content!s:.70}"
        if isinstance(message, AIMessage):
            calls = ", ".join(f"{c['name']}({c['args']})" for c in message.tool_calls)
            line += f"  tool_calls=[{calls}]" if calls else ""
            line += f"  reasoning={message.additional_kwargs.get('reasoning_content')!r:.60}"
        print(line)

    print("\n=== turn 2 (its first request re-sends all of turn 1)")
    result = chat.invoke({"messages": [HumanMessage("And the weather in Berlin?")]}, config)
    print(f"answer: {result['messages'][-1].content}")
    print(f"\n{len(store.load('agent-example'))} messages stored in total")


if __name__ == "__main__":
    main()
