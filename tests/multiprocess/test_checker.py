"""The checker finds each defect it exists for (pure: no processes, no servers).

Conversations are built the way the fingerprinting server would answer them
(:func:`converse`), then broken the way the issue's defects break them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from tests.multiprocess.checker import check, read_journals, request_problems, stale_replies
from tests.multiprocess.protocol import (
    call_id_for,
    human_text,
    message_signature,
    parse_reply,
    reply_text,
    responder,
    tool_result_text,
    wire_signature,
)


def answer(history: Sequence[BaseMessage], marker: str, *, tool: bool = False) -> AIMessage:
    """The reply the server gives to ``history`` (whose last message carries ``marker``)."""
    content = reply_text(marker, [message_signature(m) for m in history])
    calls = [{"id": call_id_for(marker), "name": "lookup", "args": {"q": marker}}] if tool else []
    return AIMessage(content, tool_calls=calls)


def converse(markers: Sequence[str], base: Sequence[BaseMessage] = ()) -> list[BaseMessage]:
    """Plain turns, each computed from everything before it."""
    messages = list(base)
    for marker in markers:
        messages.append(HumanMessage(human_text(marker)))
        messages.append(answer(messages, marker))
    return messages


def turn_event(
    session: str, marker: str, reply: BaseMessage, t0: float, t1: float
) -> dict[str, Any]:
    return {
        "event": "turn",
        "worker": marker.split("-")[0],
        "session": session,
        "marker": marker,
        "kind": "plain",
        "group": "",
        "t0": t0,
        "t1": t1,
        "reply": reply.content,
    }


def journal_of(session: str, messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Turn events for every reply of ``messages``, one second apart."""
    events = []
    for i in range(1, len(messages), 2):
        marker = parse_reply(str(messages[i].content))[0]  # type: ignore[index]
        events.append(turn_event(session, marker, messages[i], float(i), i + 0.5))
    return events


def test_wire_and_stored_signatures_agree() -> None:
    stored = AIMessage("r:x", tool_calls=[{"id": "call_1", "name": "lookup", "args": {}}])
    wire = {
        "role": "assistant",
        "content": "r:x\n",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {}}],
    }
    assert message_signature(stored) == wire_signature(wire)
    tool = ToolMessage("m:a result", tool_call_id="call_1")
    assert message_signature(tool) == wire_signature(
        {"role": "tool", "content": "m:a result", "tool_call_id": "call_1"}
    )


def test_responder_fingerprints_what_it_received() -> None:
    body = {"messages": [{"role": "user", "content": human_text("w0-1", tool=True)}]}
    reply = responder(body)
    assert reply is not None and reply.content == reply_text(
        "w0-1", [wire_signature(body["messages"][0])]
    )
    assert [c["id"] for c in reply.tool_calls] == [call_id_for("w0-1")]
    assert responder({"messages": [{"role": "user", "content": "no marker"}]}) is None


def test_a_correct_campaign_passes() -> None:
    a = converse(["w0-0", "w1-0", "w0-1"])
    b = converse(["w1-1"])
    report = check({"a": a, "b": b}, journal_of("a", a) + journal_of("b", b))
    assert report.ok, report.summary()
    assert (report.turns_run, report.messages) == (4, 8)


def test_lost_update_is_found() -> None:
    first = converse(["w0-0"])
    # w1 read the empty session before w0's turn committed, and appended after it.
    late = [HumanMessage(human_text("w1-0"))]
    lost = [*first, *late, answer(late, "w1-0")]
    report = check({"a": lost}, journal_of("a", lost))
    assert report.lost_updates == 1 and not report.ok


def test_split_tool_group_is_invalid() -> None:
    call = [HumanMessage(human_text("w0-0", tool=True))]
    call.append(answer(call, "w0-0", tool=True))
    between = converse(["w1-0"], call)  # another instance's turn before the results
    result = ToolMessage(tool_result_text("w0-0t"), tool_call_id=call_id_for("w0-0"))
    split = [*between, result, answer([*between, result], "w0-0t")]
    assert request_problems(split)
    assert not stale_replies(split)  # each reply saw its prefix: only (a) catches this
    assert check({"a": split}, []).invalid_sessions == 1


def test_orphan_tool_result_and_missing_human_are_invalid() -> None:
    orphan = ToolMessage(tool_result_text("w0-0t"), tool_call_id="call_nothing")
    assert request_problems([orphan, answer([orphan], "w0-0t")])
    ok = converse(["w0-0"])
    assert request_problems([ok[1]])  # a reply without its turn's human message
    assert not request_problems(ok)


def test_cached_or_leaked_message_in_a_request_is_found() -> None:
    # The server saw another message (another session's) where the stored one is.
    leaked = converse(["w9-0"])
    stored = converse(["w0-0"])
    human = HumanMessage(human_text("w0-1"))
    reply = answer([leaked[0], stored[1], human], "w0-1")
    assert stale_replies([*stored, human, reply])


def test_duplicates_losses_resurrections_and_failed_writes() -> None:
    a = converse(["w0-0", "w0-1"])
    events = journal_of("a", a)
    dup = [*a, a[2], a[3]]
    assert check({"a": dup}, events).duplicates == 1

    missing = a[:2]
    assert check({"a": missing}, events).losses == 1

    # A clear that started after the turn returned: the turn must be gone.
    clear = [
        {"event": "admin-start", "worker": "w5", "op": "clear", "session": "a", "t0": 10.0},
        {
            "event": "admin",
            "worker": "w5",
            "op": "clear",
            "session": "a",
            "t0": 10.0,
            "t1": 10.1,
            "error": "",
        },
    ]
    assert check({"a": a}, events + clear).resurrected == 2
    assert check({"a": []}, events + clear).ok

    # A clear whose worker was killed mid-call may or may not have happened.
    started = clear[:1]
    killed = [{"event": "killed", "worker": "w5", "t": 20.0}]
    assert check({"a": []}, events + started + killed).ok
    assert check({"a": a}, events + started + killed).ok

    failed = {
        "event": "error",
        "worker": "w0",
        "session": "a",
        "marker": "w0-1",
        "kind": "plain",
        "group": "",
        "t0": 3.0,
        "t1": 3.5,
        "error": "RuntimeError",
        "message": "Event loop is closed",
    }
    report = check({"a": a}, [*events[:1], failed])
    assert report.failed_but_stored == 1
    assert report.unexpected_errors


def test_turn_stored_in_another_session_is_misplaced() -> None:
    a = converse(["w0-0"])
    report = check({"a": [], "b": a}, journal_of("a", a))
    assert report.misplaced == 1


def test_allowed_refusals_are_not_errors() -> None:
    refusals = [
        {"event": "error", "worker": "w0", "session": "a", "marker": f"w0-{i}", "kind": "plain",
         "group": "", "t0": 1.0, "t1": 2.0, "error": name, "message": ""}
        for i, name in enumerate(("SessionBusyError", "ConcurrentTurnError"))
    ]  # fmt: skip
    report = check({"a": []}, refusals)
    assert report.ok and report.errors == {"SessionBusyError": 1, "ConcurrentTurnError": 1}


def test_journal_reading_skips_only_a_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "w0.jsonl"
    path.write_text(json.dumps({"event": "start"}) + '\n{"event": "tu')
    assert read_journals([path]) == [{"event": "start"}]
    path.write_text('{"event": "tu\n' + json.dumps({"event": "start"}) + "\n")
    with pytest.raises(ValueError, match="corrupt journal line"):
        read_journals([path])
