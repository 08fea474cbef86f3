"""What workers send, what the loopback server answers, and how both are fingerprinted.

Every message a worker sends carries a *marker* (``m:<worker>-<seq>``), unique over a whole
campaign. The server's responder (:func:`responder`) answers each request with a reply that
names the marker it answers and a fingerprint of the exact history it received:

    ``r:<marker> saw:<number of messages>:<digest>``

The digest is computed over a role/text/tool-id signature of each message (:func:`wire_signature`
on the wire dicts the server got; :func:`message_signature` on the stored LangChain messages;
the two agree for the same message). So the checker can recompute, from the stored messages
before each reply, what the server must have seen if the reply was computed from exactly the
stored history: any mismatch proves the turn was computed from another history (a lost update,
a leaked or cached message, a turn appended after a clear).

A human message containing ``call-tool`` gets a reply with one tool call (id ``call_<marker>``);
the worker answers it in a later turn with a ``ToolMessage``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from tests.arcee_server import Reply, text_of

TOOL_KEYWORD = "call-tool"
TOOL_NAME = "lookup"
TOOL_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Look a marker up.",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        },
    },
}
"""The one tool the workers bind (the responder calls it on ``call-tool`` prompts)."""

_MARKER = re.compile(r"\bm:(\S+)")
_REPLY = re.compile(r"^r:(\S+) saw:(\d+):([0-9a-f]{16})$")

Signature = tuple[str, str, tuple[str, ...], str]
"""``(role, stripped text, tool call ids, tool_call_id)`` of one message."""


def human_text(marker: str, *, tool: bool = False) -> str:
    """The content of a turn's human message."""
    return f"m:{marker} {TOOL_KEYWORD}" if tool else f"m:{marker} hello"


def tool_result_text(marker: str) -> str:
    """The content of a tool-result turn's ``ToolMessage``."""
    return f"m:{marker} result"


def call_id_for(marker: str) -> str:
    """The id of the tool call the responder emits for ``marker``."""
    return f"call_{marker}"


def marker_of(text: str) -> str | None:
    """The marker in a human or tool message's text, if any."""
    match = _MARKER.search(text)
    return match.group(1) if match else None


def parse_reply(text: str) -> tuple[str, int, str] | None:
    """``(marker, messages seen, digest)`` of a reply produced by :func:`responder`."""
    match = _REPLY.match(text.strip())
    if match is None:
        return None
    return match.group(1), int(match.group(2)), match.group(3)


def wire_signature(message: Mapping[str, Any]) -> Signature:
    """The signature of one message of a request body (OpenAI wire format)."""
    calls = message.get("tool_calls") or []
    return (
        str(message.get("role")),
        text_of(message.get("content")).strip(),
        tuple(str(c.get("id")) for c in calls),
        str(message.get("tool_call_id") or ""),
    )


_ROLES = {
    HumanMessage: "user",
    AIMessage: "assistant",
    ToolMessage: "tool",
    SystemMessage: "system",
}


def message_signature(message: BaseMessage) -> Signature:
    """The signature of a stored LangChain message (equal to the wire signature it is sent as)."""
    role = next((r for cls, r in _ROLES.items() if isinstance(message, cls)), message.type)
    calls = message.tool_calls if isinstance(message, AIMessage) else []
    call_id = message.tool_call_id if isinstance(message, ToolMessage) else ""
    return (role, text_of(message.content).strip(), tuple(str(c["id"]) for c in calls), call_id)


def digest(signatures: Sequence[Signature]) -> str:
    """A short fingerprint of a message sequence."""
    blob = json.dumps([list(s) for s in signatures], ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def reply_text(marker: str, signatures: Sequence[Signature]) -> str:
    """The reply content for ``marker`` after the history ``signatures``."""
    return f"r:{marker} saw:{len(signatures)}:{digest(signatures)}"


def responder(body: dict[str, Any]) -> Reply | None:
    """The loopback server's responder for the multi-process campaign.

    Args:
        body: A validated chat request.

    Returns:
        The fingerprinted reply; ``None`` (the echo policy) for requests without a marker.
    """
    messages = body["messages"]
    marker = marker_of(text_of(messages[-1].get("content")))
    if marker is None:
        return None
    content = reply_text(marker, [wire_signature(m) for m in messages])
    reasoning = f"Thinking about {marker}."
    last = messages[-1]
    if last.get("role") == "user" and TOOL_KEYWORD in text_of(last.get("content")):
        call = {"id": call_id_for(marker), "name": TOOL_NAME, "arguments": {"q": marker}}
        return Reply(content=content, reasoning=reasoning, tool_calls=[call])
    return Reply(content=content, reasoning=reasoning)
