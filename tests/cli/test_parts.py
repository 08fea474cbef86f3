"""The CLI's pure parts: prices from ``/models`` rows, usage totals, fresh session names,
message reading (the pseudo-terminal tests drive them end to end)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_arcee.cli.commands import new_session_id
from langchain_arcee.cli.input import MessageReader
from langchain_arcee.cli.usage import Price, Usage, price_from_row
from langchain_arcee.stores.memory import InMemoryChatStore


@pytest.mark.parametrize(
    ("row", "price"),
    [
        ({"pricing": {"prompt": "0.00000025", "completion": "0.0000008"}}, Price(2.5e-7, 8e-7)),
        ({"pricing": {"prompt": 0, "completion": 1e-6}}, Price(0.0, 1e-6)),
        ({"pricing": {"prompt": "free", "completion": "0.1"}}, None),
        ({"pricing": {"prompt": -1, "completion": 1}}, None),
        ({"pricing": {"prompt": True, "completion": 1}}, None),
        ({"pricing": "cheap"}, None),
        ({"context_length": 1000}, None),
    ],
)
def test_price_from_row(row: dict, price: Price | None) -> None:
    assert price_from_row(row) == price


def test_usage_of_stored_messages_and_cost() -> None:
    usage = {
        "input_tokens": 100,
        "output_tokens": 40,
        "total_tokens": 140,
        "output_token_details": {"reasoning": 30},
    }
    messages = [HumanMessage("q"), AIMessage("a", usage_metadata=usage), HumanMessage("q2")]
    messages.append(AIMessage("b", usage_metadata={**usage, "input_tokens": 200}))
    total = Usage.of_messages(messages)
    assert (total.input_tokens, total.output_tokens, total.reasoning_tokens) == (300, 80, 60)
    assert total.turns == 2
    assert total.cost(Price(1e-6, 2e-6)) == pytest.approx(300e-6 + 160e-6)
    assert total.describe(Price(1e-6, 2e-6)) == "300 in + 80 out tokens (60 reasoning), $0.000460"
    assert Usage().describe() == "no usage reported"


def test_new_session_id_never_reuses_a_stored_name() -> None:
    store = InMemoryChatStore()
    now = datetime(2025, 1, 1, 9, 30, 0)
    assert new_session_id(store, now) == "chat-20250101-093000"
    store.append("chat-20250101-093000", [HumanMessage("taken")])
    store.append("chat-20250101-093000-2", [HumanMessage("taken")])
    assert new_session_id(store, now) == "chat-20250101-093000-3"


def _reader(lines: list[str], **options: bool) -> MessageReader:
    feed: Iterator[str] = iter(lines)

    def read_line(prompt: str) -> str:
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    return MessageReader(read_line=read_line, **options)


def test_message_reader_modes() -> None:
    assert _reader(["  hello  "]).read() == "hello"
    assert _reader(["a pasted\nblock\n"]).read() == "a pasted\nblock"
    assert _reader(["/multi", "one", "", "two", "/end"]).read() == "one\n\ntwo"
    assert _reader(["/multi", "cut short by Ctrl-D"]).read() == "cut short by Ctrl-D"
    multi = _reader(["first", "/x is text here", "/end", "/history"], multiline=True)
    assert multi.read() == "first\n/x is text here"
    assert multi.read() == "/history"  # a command on the first line is still a command
    with pytest.raises(EOFError):
        _reader([]).read()
