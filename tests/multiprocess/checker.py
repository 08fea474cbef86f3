"""The campaign's verdict: pure functions of the stored sessions and the workers' journals.

Three properties, checked for every stored session:

(a) **Valid request.** Starting from the first message: every ``AIMessage`` with tool calls is
    immediately followed by ``ToolMessage`` s answering each of its calls (and nothing else);
    no ``ToolMessage`` answers anything but a pending call; every reply follows the message it
    answers (a human message, or the tool results of its turn), so each turn's human message
    is there.
(b) **No lost update.** Every stored reply was computed from exactly the stored messages
    before it: the reply's fingerprint (see :mod:`tests.multiprocess.protocol`) names the
    number and digest of the messages the server received, which must equal the stored prefix
    (since the last clear/delete, which empties the session). A reply computed from a history
    missing another instance's committed turn, holding a cached or leaked message, or stored
    after a clear it did not see, fails this.
(c) **Nothing lost, nothing duplicated.** Every turn a worker journaled as successful is stored
    exactly once, in its own session, with the reply the caller got, unless a clear/delete of
    that session may have run after it (then it may be absent; if a clear/delete started
    after the turn returned and returned without error, it must be absent). No marker is
    stored twice. A turn that raised is not stored (a write reported as failed must not have
    been applied).

Allowed turn errors: ``SessionBusyError`` and ``ConcurrentTurnError`` (the protocol's refusals),
and any error of a tool-result turn whose tool call may have been cleared away. Every other
error is reported as unexpected.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from tests.arcee_server import text_of
from tests.multiprocess.protocol import digest, marker_of, message_signature, parse_reply

ALLOWED_ERRORS = frozenset({"SessionBusyError", "ConcurrentTurnError"})
KILL_MARGIN = 1.0
"""Seconds after a SIGKILL during which the killed worker's last write may still land."""
MAX_PROBLEMS = 50


@dataclass
class Report:
    """What the checker found.

    Attributes:
        turns_run: Turns journaled as successful.
        errors: Turn errors by exception type.
        unexpected_errors: Turn errors other than the allowed ones (with their messages).
        sessions: Sessions checked.
        messages: Messages checked.
        invalid_sessions: Sessions failing (a).
        lost_updates: Stored replies computed from a history other than the stored prefix (b).
        duplicates: Extra stored copies of a marker (c).
        losses: Journaled successful turns that must be stored but are not (c).
        resurrected: Turns stored although a clear/delete started after they returned (c).
        failed_but_stored: Turns that raised but are stored (c).
        misplaced: Turns stored in another session or with another reply than returned, and
            replies not stored right after the message they answer (b, c).
        listing_mismatches: Disagreements of ``list_sessions``/``count`` with the sessions.
        problems: Human-readable details (the first ``MAX_PROBLEMS``).
    """

    turns_run: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    unexpected_errors: list[str] = field(default_factory=list)
    sessions: int = 0
    messages: int = 0
    invalid_sessions: int = 0
    lost_updates: int = 0
    duplicates: int = 0
    losses: int = 0
    resurrected: int = 0
    failed_but_stored: int = 0
    misplaced: int = 0
    listing_mismatches: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.unexpected_errors and not any(
            (
                self.invalid_sessions,
                self.lost_updates,
                self.duplicates,
                self.losses,
                self.resurrected,
                self.failed_but_stored,
                self.misplaced,
                self.listing_mismatches,
            )
        )

    def problem(self, text: str) -> None:
        """Record a detail (bounded)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def summary(self) -> str:
        """One paragraph: the counts, then the first problems."""
        counts = (
            f"turns run {self.turns_run}, errors {dict(sorted(self.errors.items()))}, "
            f"unexpected errors {len(self.unexpected_errors)}, sessions {self.sessions}, "
            f"messages {self.messages}, invalid sessions {self.invalid_sessions}, "
            f"lost updates {self.lost_updates}, duplicates {self.duplicates}, "
            f"losses {self.losses}, resurrected {self.resurrected}, "
            f"failed but stored {self.failed_but_stored}, misplaced {self.misplaced}, "
            f"listing mismatches {self.listing_mismatches}"
        )
        details = [*self.unexpected_errors[:10], *self.problems]
        return counts + "".join(f"\n  - {d}" for d in details)


# ---- journals ------------------------------------------------------------------------------
def read_journals(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every event of the given journals; a SIGKILL-truncated last line is skipped.

    Raises:
        ValueError: If a line other than the last of its file is not valid JSON.
    """
    events: list[dict[str, Any]] = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines):
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except ValueError:
                if number != len(lines) - 1:
                    raise ValueError(f"{path}:{number + 1}: corrupt journal line") from None
    return events


@dataclass(frozen=True)
class _Admin:
    session: str
    start: float
    end: float  # inf when the worker died mid-call and its kill time is unknown
    certain: bool  # returned without error: it did happen (else it may or may not have)


def _admins(events: Sequence[Mapping[str, Any]]) -> dict[str, list[_Admin]]:
    """Clear/delete intervals per session (unfinished ones end at the worker's kill time)."""
    killed = {e["worker"]: e["t"] for e in events if e["event"] == "killed"}
    finished = {(e["worker"], e["t0"]): e for e in events if e["event"] == "admin"}
    result: dict[str, list[_Admin]] = defaultdict(list)
    for e in events:
        if e["event"] != "admin-start":
            continue
        done = finished.get((e["worker"], e["t0"]))
        if done is not None:
            admin = _Admin(e["session"], e["t0"], done["t1"], certain=not done["error"])
        else:
            end = killed[e["worker"]] + KILL_MARGIN if e["worker"] in killed else math.inf
            admin = _Admin(e["session"], e["t0"], end, certain=False)
        result[e["session"]].append(admin)
    return result


# ---- (a) -----------------------------------------------------------------------------------
def request_problems(messages: Sequence[BaseMessage]) -> list[str]:
    """Why a stored session is not a valid request (empty when it is)."""
    problems: list[str] = []
    pending: list[str] = []  # unanswered call ids of the last tool-call message
    for i, message in enumerate(messages):
        if isinstance(message, ToolMessage):
            if message.tool_call_id not in pending:
                problems.append(f"[{i}] tool result {message.tool_call_id!r} answers no call")
            else:
                pending.remove(message.tool_call_id)
            continue
        if pending:
            problems.append(f"[{i}] {message.type} before the results of calls {pending}")
            pending = []
        if isinstance(message, AIMessage):
            before = messages[i - 1] if i else None
            if not isinstance(before, HumanMessage | ToolMessage):
                what = before.type if before is not None else "nothing"
                problems.append(f"[{i}] reply follows {what}, not its turn's human/tool message")
            pending = [str(c["id"]) for c in message.tool_calls]
    if pending:
        problems.append(f"[end] calls {pending} never answered")
    return problems


# ---- (b) -----------------------------------------------------------------------------------
def stale_replies(messages: Sequence[BaseMessage]) -> list[str]:
    """Replies not computed from exactly the stored messages before them."""
    problems: list[str] = []
    signatures = [message_signature(m) for m in messages]
    for i, message in enumerate(messages):
        if not isinstance(message, AIMessage):
            continue
        parsed = parse_reply(text_of(message.content))
        if parsed is None:
            problems.append(f"[{i}] reply {text_of(message.content)[:60]!r} has no fingerprint")
            continue
        answered, seen, seen_digest = parsed
        expected_marker = marker_of(text_of(messages[i - 1].content)) if i else None
        if answered != expected_marker:
            problems.append(f"[{i}] reply answers {answered}, stored after {expected_marker}")
        if (seen, seen_digest) != (i, digest(signatures[:i])):
            problems.append(
                f"[{i}] reply to {answered} was computed from {seen} messages, "
                f"stored after {i} (history differs)"
            )
    return problems


# ---- (c) and the verdict -------------------------------------------------------------------
def _stored_markers(
    sessions: Mapping[str, Sequence[BaseMessage]],
) -> dict[str, list[tuple[str, int]]]:
    where: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for session, messages in sessions.items():
        for i, message in enumerate(messages):
            if isinstance(message, HumanMessage | ToolMessage):
                marker = marker_of(text_of(message.content))
                if marker is not None:
                    where[marker].append((session, i))
    return where


def check(
    sessions: Mapping[str, Sequence[BaseMessage]], events: Sequence[Mapping[str, Any]]
) -> Report:
    """Check the stored sessions against the journals.

    Args:
        sessions: Every session the campaign used, as loaded from the store (empty if gone).
        events: The workers' and the campaign's journal events.

    Returns:
        The report.
    """
    report = Report(sessions=len(sessions), messages=sum(len(m) for m in sessions.values()))
    for session, messages in sessions.items():
        invalid = request_problems(messages)
        if invalid:
            report.invalid_sessions += 1
            report.problem(f"session {session} is not a valid request: {invalid[:3]}")
        stale = stale_replies(messages)
        report.lost_updates += sum("history differs" in p for p in stale)
        report.misplaced += sum("history differs" not in p for p in stale)
        for p in stale[:3]:
            report.problem(f"session {session}: {p}")

    stored = _stored_markers(sessions)
    for marker, places in stored.items():
        if len(places) > 1:
            report.duplicates += len(places) - 1
            report.problem(f"marker {marker} stored {len(places)} times: {places}")

    admins = _admins(events)
    turns = {e["marker"]: e for e in events if e["event"] == "turn"}
    report.turns_run = len(turns)
    _check_turns(report, sessions, stored, turns, admins)
    _check_errors(report, events, stored, turns, admins)
    return report


def _check_turns(
    report: Report,
    sessions: Mapping[str, Sequence[BaseMessage]],
    stored: Mapping[str, list[tuple[str, int]]],
    turns: Mapping[str, Mapping[str, Any]],
    admins: Mapping[str, list[_Admin]],
) -> None:
    for marker, turn in turns.items():
        places = stored.get(marker, [])
        later = [a for a in admins.get(turn["session"], []) if a.end > turn["t0"]]
        if any(a.certain and a.start > turn["t1"] for a in later):
            if places:
                report.resurrected += 1
                report.problem(f"turn {marker} is stored after a later clear/delete: {places}")
            continue
        if not places:
            if not later:
                report.losses += 1
                report.problem(f"turn {marker} ({turn['kind']}) returned but is not stored")
            continue
        session, index = places[0]
        messages = sessions[session]
        reply = messages[index + 1] if index + 1 < len(messages) else None
        if session != turn["session"]:
            report.misplaced += 1
            report.problem(f"turn {marker} of {turn['session']} is stored in {session}")
        elif not isinstance(reply, AIMessage) or text_of(reply.content) != turn["reply"]:
            report.misplaced += 1
            report.problem(f"turn {marker}: stored reply differs from the one returned")


def _check_errors(
    report: Report,
    events: Sequence[Mapping[str, Any]],
    stored: Mapping[str, list[tuple[str, int]]],
    turns: Mapping[str, Mapping[str, Any]],
    admins: Mapping[str, list[_Admin]],
) -> None:
    errors = [e for e in events if e["event"] == "error"]
    report.errors = dict(Counter(e["error"] for e in errors))
    for e in errors:
        if e["marker"] not in turns and stored.get(e["marker"]):
            report.failed_but_stored += 1
            report.problem(f"turn {e['marker']} raised {e['error']} but is stored")
        if e["error"] in ALLOWED_ERRORS:
            continue
        if e["kind"] == "tool_result" and _maybe_cleared(e, turns, admins):
            continue
        report.unexpected_errors.append(
            f"{e['kind']} turn {e['marker']} on {e['session']}: {e['error']}: {e['message']}"
        )


def _maybe_cleared(
    error: Mapping[str, Any],
    turns: Mapping[str, Mapping[str, Any]],
    admins: Mapping[str, list[_Admin]],
) -> bool:
    """Whether a clear/delete may have removed the tool call a tool-result turn answers."""
    call = turns.get(error["group"])
    since = call["t0"] if call is not None else -math.inf
    return any(a.end > since and a.start < error["t1"] for a in admins.get(error["session"], []))
