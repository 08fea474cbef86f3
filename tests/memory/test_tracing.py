"""The wrapped runnable's run is traced as a child of the adapter's run."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tracers.context import collect_runs

from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import InMemoryChatStore

CONFIG = {"configurable": {"session_id": "traced"}}


def _model() -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage("one"), AIMessage("two")]))


def test_invoke_nests_the_model_run() -> None:
    chat = RunnableWithMemory(_model(), InMemoryChatStore(), name="memory")
    with collect_runs() as collector:
        chat.invoke("hi", config=CONFIG)
    (root,) = collector.traced_runs
    assert root.name == "memory"
    assert [child.run_type for child in root.child_runs] == ["llm"]
    # The trace input is the user's input only, never the stored history.
    assert root.inputs == {"input": "hi"}


def test_stream_nests_the_model_run() -> None:
    chat = RunnableWithMemory(_model(), InMemoryChatStore(), name="memory")
    with collect_runs() as collector:
        list(chat.stream("hi", config=CONFIG))
    (root,) = collector.traced_runs
    assert [child.run_type for child in root.child_runs] == ["llm"]
