"""Token usage per turn and per session, and its cost where ``GET /models`` gives prices.

Prices are read from a ``/models`` row's ``pricing`` object, ``{"prompt": ..., "completion":
...}`` in US dollars per token (numbers or numeric strings: the shape OpenAI-compatible
catalogues such as OpenRouter's use). Arcee's public docs list prices per million tokens but do
not document this field, so a cost is shown only when the row carries it; otherwise only tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage


@dataclass(frozen=True)
class Price:
    """US dollars per token.

    Attributes:
        input: Per input (prompt) token.
        output: Per output (completion) token, reasoning included.
    """

    input: float
    output: float


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def price_from_row(row: Mapping[str, Any]) -> Price | None:
    """The price a ``/models`` row gives, if it gives one."""
    pricing = row.get("pricing")
    if not isinstance(pricing, Mapping):
        return None
    prompt, completion = _number(pricing.get("prompt")), _number(pricing.get("completion"))
    if prompt is None or completion is None:
        return None
    return Price(prompt, completion)


def fetch_price(model: str, *, api_key: str, base_url: str) -> Price | None:
    """``model``'s price from the live ``/models``; ``None`` when unknown or unreachable.

    A failure here never fails the chat: the cost is then simply not shown.
    """
    from langchain_arcee.catalog import list_models

    try:
        rows = list_models(api_key=api_key, base_url=base_url, timeout=5.0)
    except Exception:
        return None
    return next((price_from_row(r.raw) for r in rows if r.id == model), None)


@dataclass
class Usage:
    """Tokens counted by the server (``usage_metadata``), summed over turns.

    Attributes:
        input_tokens: Prompt tokens.
        output_tokens: Completion tokens, reasoning included.
        reasoning_tokens: The part of ``output_tokens`` spent reasoning.
        turns: How many replies carried usage.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    turns: int = 0

    def add(self, usage: Mapping[str, Any] | None) -> None:
        """Add one reply's ``usage_metadata`` (nothing for ``None``)."""
        if not usage:
            return
        self.input_tokens += int(usage.get("input_tokens") or 0)
        self.output_tokens += int(usage.get("output_tokens") or 0)
        details = usage.get("output_token_details") or {}
        self.reasoning_tokens += int(details.get("reasoning") or 0)
        self.turns += 1

    def merge(self, other: Usage) -> None:
        """Add another total to this one."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.turns += other.turns

    @classmethod
    def of_messages(cls, messages: Iterable[BaseMessage]) -> Usage:
        """The usage stored with a conversation's replies."""
        total = cls()
        for message in messages:
            total.add(getattr(message, "usage_metadata", None))
        return total

    def cost(self, price: Price) -> float:
        """What these tokens cost at ``price``, in US dollars."""
        return self.input_tokens * price.input + self.output_tokens * price.output

    def describe(self, price: Price | None = None) -> str:
        """E.g. ``120 in + 45 out tokens (30 reasoning), $0.000066``."""
        if not self.turns:
            return "no usage reported"
        text = f"{self.input_tokens:,} in + {self.output_tokens:,} out tokens"
        if self.reasoning_tokens:
            text += f" ({self.reasoning_tokens:,} reasoning)"
        if price is not None:
            text += f", {format_cost(self.cost(price))}"
        return text


def format_cost(dollars: float) -> str:
    """US dollars with enough digits to show a single turn's cost."""
    return f"${dollars:.6f}" if dollars < 0.01 else f"${dollars:.4f}"
