"""A turn is never lost to its data (issue 9).

What the runnable produced is always stored: values JSON can't hold in the documented fallback
form (with a ``LossyStorageWarning``), a lone surrogate losslessly. Input that could not be
sent and stored exactly is refused before any request reaches the server.
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from langchain_arcee.stores import LossyStorageWarning, check_input_messages
from tests.arcee_server import ArceeTestServer, Reply
from tests.reliability.support import StoreUnderTest, cfg, unique

pytestmark = pytest.mark.loopback

WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
RAW = b"\x00\xffbinary"


class Forecast(BaseModel):
    city: str
    at: datetime


@dataclasses.dataclass
class Reading:
    sensor: uuid.UUID
    value: Decimal


def artifact() -> dict[str, Any]:
    """One of every kind of value JSON can't hold."""
    return {
        "when": WHEN,
        "day": date(2024, 5, 6),
        "clock": time(7, 8),
        "raw": RAW,
        "id": ID,
        "price": Decimal("12.30"),
        "path": PurePosixPath("/tmp/report.txt"),
        "forecast": Forecast(city="Paris", at=WHEN),
        "reading": Reading(ID, Decimal("1.5")),
        "tags": {"b", "a"},
        "opaque": object,
    }


FALLBACK_FORM = {
    "when": WHEN.isoformat(),
    "day": "2024-05-06",
    "clock": "07:08:00",
    "raw": base64.b64encode(RAW).decode(),
    "id": str(ID),
    "price": "12.30",
    "path": "/tmp/report.txt",
    "forecast": {"city": "Paris", "at": WHEN.isoformat()},
    "reading": {"sensor": str(ID), "value": "1.5"},
    "tags": ["a", "b"],
    "opaque": repr(object),
}


def test_every_non_json_value_round_trips_in_its_documented_form(sut: StoreUnderTest) -> None:
    session = unique("s")
    produced = ToolMessage("ok", tool_call_id="c1", artifact=artifact())
    if sut.kind == "memory":  # keeps the objects themselves: nothing to convert
        sut.store.append(session, [produced])
        assert sut.store.load(session)[0].artifact == artifact()
        return
    with pytest.warns(LossyStorageWarning) as caught:
        sut.store.append(session, [produced])
    text = str(caught[0].message)
    for key in FALLBACK_FORM:
        assert f"messages[0].artifact[{key!r}]" in text, key
    assert sut.store.load(session)[0].artifact == FALLBACK_FORM


@tool(response_format="content_and_artifact")
def get_weather(city: str) -> tuple[str, dict[str, Any]]:
    """Weather of a city (returns a report and rich data)."""
    CALLS.append(city)
    return f"sunny in {city}", artifact()


CALLS: list[str] = []


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
async def test_agent_turn_with_non_json_tool_artifact_is_stored_once(
    sut: StoreUnderTest,
    make_model: Callable[..., ChatArcee],
    arcee_server: ArceeTestServer,
    mode: str,
) -> None:
    CALLS.clear()
    agent = create_agent(make_model(), [get_weather])
    chat = RunnableWithMemory(agent, sut.store, input_messages_key="messages")
    session = unique("s")
    value = {"messages": [HumanMessage("what is the weather in Paris?")]}
    with pytest.warns(LossyStorageWarning) if sut.kind != "memory" else nullcontext():
        if mode == "invoke":
            chat.invoke(value, cfg(session))
        else:
            await chat.ainvoke(value, cfg(session))
    assert len(CALLS) == 1  # the tool ran once: no retry needed, nothing re-run
    assert arcee_server.count("chat") == 2
    stored = sut.store.load(session)
    assert [m.type for m in stored] == ["human", "ai", "tool", "ai"]
    result = stored[2]
    assert isinstance(result, ToolMessage)
    expected = artifact() if sut.kind == "memory" else FALLBACK_FORM
    assert result.artifact == expected
    assert "sunny in" in str(stored[3].content)


LONE_SURROGATES = ["\udc80", "before \ud800 after", "\udfff\ud800 reversed", "tail\udbff"]


@pytest.mark.parametrize("text", LONE_SURROGATES)
def test_lone_surrogate_in_a_reply_is_stored_exactly(
    sut: StoreUnderTest, chat: RunnableWithMemory, arcee_server: ArceeTestServer, text: str
) -> None:
    session = unique("s")
    arcee_server.enqueue(Reply(content=text, reasoning=f"thinking {text}"))
    reply = chat.invoke("hi", cfg(session))
    assert reply.content == text  # the server really sent a lone surrogate
    stored = sut.store.load(session)
    assert [m.content for m in stored] == ["hi", text]
    assert stored[1].additional_kwargs["reasoning_content"] == f"thinking {text}"
    chat.invoke("again", cfg(session))  # the stored history is sent back, as U+FFFD
    sent = arcee_server.chat_requests[-1].body["messages"][1]["content"]
    assert sent == "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    assert [m.content for m in sut.store.load(session)][:2] == ["hi", text]


def test_nul_and_controls_in_every_field_round_trip(sut: StoreUnderTest) -> None:
    session = unique("s")
    odd = "nul\x00 bell\x07 esc\x1b del\x7f"
    message = AIMessage(
        odd,
        additional_kwargs={odd: odd, "reasoning_content": odd},
        response_metadata={"note": [odd]},
        tool_calls=[{"name": "f", "args": {"q": odd}, "id": "c1"}],
    )
    sut.store.append(session, [HumanMessage(odd), message])
    loaded = sut.store.load(session)
    assert loaded[0].content == odd
    assert loaded[1].content == odd
    assert loaded[1].additional_kwargs == {odd: odd, "reasoning_content": odd}
    assert loaded[1].response_metadata == {"note": [odd]}
    assert isinstance(loaded[1], AIMessage)
    assert loaded[1].tool_calls[0]["args"] == {"q": odd}


BAD_INPUTS = {
    "datetime-kwarg": (
        HumanMessage("hi", additional_kwargs={"when": WHEN}),
        TypeError,
        r"messages\[0\]\.additional_kwargs\['when'\]: datetime is not JSON-serializable",
    ),
    "bytes-in-list": (
        HumanMessage("hi", additional_kwargs={"blobs": [b"x"]}),
        TypeError,
        r"messages\[0\]\.additional_kwargs\['blobs'\]\[0\]: bytes is not JSON-serializable",
    ),
    "uuid-key-value": (
        HumanMessage("hi", response_metadata={"id": ID}),
        TypeError,
        r"messages\[0\]\.response_metadata\['id'\]: UUID",
    ),
    "surrogate-content": (
        HumanMessage("bad \udc80 text"),
        ValueError,
        r"messages\[0\]\.content: lone surrogate '\\udc80' at index 4",
    ),
    "surrogate-block": (
        HumanMessage([{"type": "text", "text": "x\ud800"}]),
        ValueError,
        r"messages\[0\]\.content\[0\]\['text'\]: lone surrogate",
    ),
}


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream", "astream"])
@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
async def test_unsendable_input_is_refused_before_any_request(
    sut: StoreUnderTest,
    chat: RunnableWithMemory,
    arcee_server: ArceeTestServer,
    case: str,
    mode: str,
) -> None:
    message, error, match = BAD_INPUTS[case]
    session = unique("s")
    with pytest.raises(error, match=match):
        if mode == "invoke":
            chat.invoke([message], cfg(session))
        elif mode == "ainvoke":
            await chat.ainvoke([message], cfg(session))
        elif mode == "stream":
            list(chat.stream([message], cfg(session)))
        else:
            [chunk async for chunk in chat.astream([message], cfg(session))]
    assert arcee_server.requests == []  # nothing reached the server: nothing billed
    assert sut.store.load(session) == []


def test_check_input_names_the_second_message() -> None:
    good = HumanMessage("fine")
    bad = AIMessage("", additional_kwargs={"x": {"y": [1, {2, 3}]}})
    with pytest.raises(TypeError, match=r"messages\[1\]\.additional_kwargs\['x'\]\['y'\]\[1\]"):
        check_input_messages([good, bad])
    check_input_messages([good, AIMessage("ok", additional_kwargs={"a": [1, 2.5, None]})])
