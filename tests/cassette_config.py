"""One vcrpy configuration for every cassette (tests and examples alike).

Cassettes live in the repo's top-level ``cassettes/`` folder. Requests match on method, path and
**body** (not host or port: a cassette recorded against the loopback server keeps its true
``127.0.0.1`` address and still replays for a client pointed at Arcee's URL), so a replay
whose conversation history differs from the recorded one fails loudly
(``CannotOverwriteExistingCassetteException``): that is what proves history was injected. The
``authorization`` header (and the SDK's ``x-stainless-*`` noise) is never written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CASSETTE_DIR = Path(__file__).resolve().parent.parent / "cassettes"

FILTERED_HEADERS = (
    "authorization",
    "api-key",
    "x-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
    "set-cookie",
    "user-agent",
    "x-stainless-arch",
    "x-stainless-async",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-read-timeout",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-raw-response",
)


def _json_body(request: Any) -> Any:
    body = request.body
    if not body:
        return None
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    try:
        return json.loads(body)
    except ValueError:
        return body


def _canonical_tool_ids(body: Any) -> Any:
    # Callers may mint random tool-call ids (uuid4) per run; compare their pairing, not spelling.
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return body
    aliases: dict[str, str] = {}

    def alias(call_id: Any) -> Any:
        if not isinstance(call_id, str):
            return call_id
        return aliases.setdefault(call_id, f"tool-call-{len(aliases)}")

    messages = []
    for message in body["messages"]:
        message = dict(message)
        if isinstance(message.get("tool_calls"), list):
            message["tool_calls"] = [
                {**call, "id": alias(call.get("id"))} for call in message["tool_calls"]
            ]
        if "tool_call_id" in message:
            message["tool_call_id"] = alias(message["tool_call_id"])
        messages.append(message)
    return {**body, "messages": messages}


def body_matcher(recorded: Any, incoming: Any) -> None:
    """Match JSON bodies semantically: key order, whitespace and tool-call id spelling aside.

    Raises:
        AssertionError: If the conversations (or any other field) differ.
    """
    if _canonical_tool_ids(_json_body(recorded)) != _canonical_tool_ids(_json_body(incoming)):
        raise AssertionError("request bodies differ")


def _drop_volatile_response_headers(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in {"date", "server", "set-cookie", "cf-ray", "x-request-id"}:
            headers.pop(name)
    return response


def vcr_config(record_mode: str = "none") -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR`` / pytest-recording's ``vcr_config`` fixture."""
    return {
        "cassette_library_dir": str(CASSETTE_DIR),
        "record_mode": record_mode,
        "match_on": ("method", "path", "query", "json_body"),
        "filter_headers": list(FILTERED_HEADERS),
        "decode_compressed_response": True,
        "allow_playback_repeats": True,
        "before_record_response": _drop_volatile_response_headers,
    }


def make_vcr(record_mode: str = "none") -> Any:
    """A ``vcr.VCR`` with the project's configuration and the ``json_body`` matcher."""
    import vcr

    config = vcr_config(record_mode)
    # A per-cassette option (use_cassette / pytest-recording), not a VCR() argument.
    config.pop("allow_playback_repeats", None)
    recorder = vcr.VCR(**config)
    recorder.register_matcher("json_body", body_matcher)
    return recorder
