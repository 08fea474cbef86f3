"""Arcee's model catalogue: known context windows and a live ``GET /models`` reader.

Arcee retires and adds models with days of notice, so nothing here is a closed list: any model
id is accepted, the table below only supplies defaults, and :func:`list_models` reads the live
catalogue (with each model's ``context_length``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_BASE_URL = "https://api.arcee.ai/api/v1"
DEFAULT_MODEL = "trinity-large-thinking"
API_KEY_ENV_VARS = ("ARCEE_API_KEY", "ARCEEAI_API_KEY")
BASE_URL_ENV_VARS = ("ARCEE_API_BASE", "ARCEE_BASE_URL")

KNOWN_CONTEXT_WINDOWS: dict[str, int] = {
    # GET /models reports 262,144 but Arcee's docs say it is hosted at 128k: overflowing is a
    # hard 400, under-filling only a soft cost, so default to the hosted limit.
    "trinity-large-thinking": 131_072,
    "trinity-mini": 131_072,
    "arcee-ai/trinity-mini-thinking": 131_072,
    "arcee-ai/trinity-mini": 131_072,
    "arcee-ai/AFM-4.5B": 65_536,
}
"""Context windows (tokens) of models seen on Arcee's API. Defaults only; see ``list_models``."""

DEFAULT_CONTEXT_WINDOW = 32_768
"""Conservative window assumed for a model id not in the table (override per instance)."""


def known_context_window(model: str) -> int | None:
    """The table's context window for ``model`` (case-insensitive), if known."""
    if model in KNOWN_CONTEXT_WINDOWS:
        return KNOWN_CONTEXT_WINDOWS[model]
    lowered = model.lower()
    for name, window in KNOWN_CONTEXT_WINDOWS.items():
        if name.lower() == lowered:
            return window
    return None


def _first_set(explicit: str | None, env_vars: tuple[str, ...]) -> str | None:
    return explicit or next((os.environ[n] for n in env_vars if os.environ.get(n)), None)


def resolve_api_key(explicit: str | None = None) -> str | None:
    """The API key: ``explicit``, else ``ARCEE_API_KEY``, else ``ARCEEAI_API_KEY``."""
    return _first_set(explicit, API_KEY_ENV_VARS)


def resolve_base_url(explicit: str | None = None) -> str:
    """The base URL: ``explicit``, else ``ARCEE_API_BASE``/``ARCEE_BASE_URL``, else Arcee's."""
    return _first_set(explicit, BASE_URL_ENV_VARS) or DEFAULT_BASE_URL


def missing_key_message() -> str:
    """The error text shown when no API key is configured."""
    return (
        "No Arcee API key found: set the ARCEE_API_KEY environment variable "
        "(ARCEEAI_API_KEY is also read) or pass api_key=..."
    )


@dataclass(frozen=True)
class ArceeModelInfo:
    """One row of Arcee's ``GET /models``.

    Attributes:
        id: The model id to pass as ``model=``.
        context_length: Its context window in tokens, if the API reports it.
        raw: The whole row as returned.
    """

    id: str
    context_length: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _row_to_info(row: dict[str, Any]) -> ArceeModelInfo:
    length = row.get("context_length")
    return ArceeModelInfo(
        id=str(row.get("id")),
        context_length=int(length) if isinstance(length, int | float | str) and length else None,
        raw=row,
    )


def list_models(
    *, api_key: str | None = None, base_url: str | None = None, timeout: float = 30.0
) -> list[ArceeModelInfo]:
    """Read Arcee's live model catalogue (``GET /models``; needs a key).

    Args:
        api_key: The key; defaults to ``ARCEE_API_KEY`` / ``ARCEEAI_API_KEY``.
        base_url: The API base; defaults to ``ARCEE_API_BASE`` / ``ARCEE_BASE_URL`` / Arcee's.
        timeout: Request timeout in seconds.

    Returns:
        One entry per model, with its ``context_length``.

    Raises:
        ValueError: If no API key is configured.
        openai.APIStatusError: On an HTTP error, carrying Arcee's message.
    """
    from langchain_arcee.transport import ArceeOpenAI

    key = resolve_api_key(api_key)
    if not key:
        raise ValueError(missing_key_message())
    with ArceeOpenAI(api_key=key, base_url=resolve_base_url(base_url), timeout=timeout) as client:
        page = client.models.list()
        return [_row_to_info(model.model_dump()) for model in page.data]


async def alist_models(
    *, api_key: str | None = None, base_url: str | None = None, timeout: float = 30.0
) -> list[ArceeModelInfo]:
    """Async :func:`list_models`."""
    from langchain_arcee.transport import AsyncArceeOpenAI

    key = resolve_api_key(api_key)
    if not key:
        raise ValueError(missing_key_message())
    async with AsyncArceeOpenAI(
        api_key=key, base_url=resolve_base_url(base_url), timeout=timeout
    ) as client:
        page = await client.models.list()
        return [_row_to_info(model.model_dump()) for model in page.data]
