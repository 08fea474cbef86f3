"""RunnableWithMemory over non-Arcee chat model classes, through real HTTP (loopback server).

The memory reads only langchain-core's standard surface (``profile["max_input_tokens"]``,
``max_tokens``), so ``ChatOpenAI`` and ``ChatDeepSeek`` pointed at an OpenAI-compatible server
work unchanged: multi-turn, the history actually sent, windowed by tokens.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import ChatStore
from tests.arcee_server import ArceeTestServer
from tests.memory.conftest import cfg
from tests.sample_texts import PROSE

pytestmark = pytest.mark.loopback

MODEL = "trinity-mini"


def chat_openai(server: ArceeTestServer, **kwargs: Any) -> BaseChatModel:
    return ChatOpenAI(
        model=MODEL, base_url=server.base_url, api_key="test", max_retries=0, **kwargs
    )


def chat_deepseek(server: ArceeTestServer, **kwargs: Any) -> BaseChatModel:
    deepseek = pytest.importorskip("langchain_deepseek")
    return deepseek.ChatDeepSeek(
        model=MODEL, api_base=server.base_url, api_key="test", max_retries=0, **kwargs
    )


MODELS = pytest.mark.parametrize("make", [chat_openai, chat_deepseek], ids=["openai", "deepseek"])


def sent_texts(server: ArceeTestServer) -> list[list[str]]:
    return [[m["content"] for m in r.body["messages"]] for r in server.chat_requests]


@MODELS
@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
async def test_multi_turn_history_is_sent(
    arcee_server: ArceeTestServer,
    store: ChatStore,
    make: Callable[..., BaseChatModel],
    mode: str,
) -> None:
    chat = RunnableWithMemory(make(arcee_server), store)
    for text in ("I'm Bob", "I like tea", "What's my name?"):
        if mode == "invoke":
            chat.invoke(text, cfg())
        elif mode == "stream":
            list(chat.stream(text, cfg()))
        elif mode == "ainvoke":
            await chat.ainvoke(text, cfg())
        else:
            [chunk async for chunk in chat.astream(text, cfg())]
    requests = sent_texts(arcee_server)
    assert [len(r) for r in requests] == [1, 3, 5]
    assert requests[2][0] == "I'm Bob" and requests[2][2] == "I like tea"
    assert requests[2][1].startswith("You said: I'm Bob")  # the server's own earlier reply
    stored = await store.aload("s1")
    assert [m.type for m in stored] == ["human", "ai"] * 3


@MODELS
def test_window_comes_from_the_standard_profile(
    arcee_server: ArceeTestServer, store: ChatStore, make: Callable[..., BaseChatModel]
) -> None:
    """A small window read from ``profile["max_input_tokens"]``: old turns drop, none overflow."""
    window = 600
    arcee_server.set_option(context_lengths={MODEL: window})
    model = make(arcee_server, profile={"max_input_tokens": window}, max_tokens=100)
    chat = RunnableWithMemory(model, store)
    assert chat.budget is not None
    assert (chat.budget.context_window, chat.budget.reply_reserve) == (window, 100)
    for turn in range(12):
        chat.invoke(f"Turn {turn}. {PROSE[:200]}", cfg())  # would overflow with no window
    last = arcee_server.chat_requests[-1].body["messages"]
    assert len(last) < 2 * 12 - 1
    assert last[0]["role"] == "user" and last[-1]["content"].startswith("Turn 11.")
    assert len(store.load("s1")) == 24  # everything stored, only the window sent


def test_model_module_does_not_import_the_memory_package() -> None:
    code = (
        "import sys, langchain_arcee.chat_models\n"
        "assert 'langchain_arcee.memory' not in sys.modules, 'the memory package was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
