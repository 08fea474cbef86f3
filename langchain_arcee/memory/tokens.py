"""What the adapter learns from the wrapped runnable: its chat model, context window, tokens.

Only langchain-core's standard chat-model surface is read, so any chat model works
(``ChatArcee``, ``ChatOpenAI``, ``ChatDeepSeek``, ...). The chat model is found by walking
``RunnableBinding.bound``, ``RunnableSequence.steps`` and ``RunnableWithFallbacks.runnable``.
Its context window is ``profile["max_input_tokens"]``, its reply reserve ``max_tokens``.
Tokens are estimated offline by :func:`langchain_arcee.messages.approximate_token_count`
(script-aware, reasoning included): models' own ``get_num_tokens_from_messages`` may download
a tokenizer (``ChatOpenAI``'s tiktoken) or call an API, and nothing in the standard surface
says which do. Counts are cached per message object (see :class:`IdentityCache`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableBinding, RunnableSequence
from langchain_core.runnables.fallbacks import RunnableWithFallbacks

from langchain_arcee.messages import approximate_token_count

if TYPE_CHECKING:  # window.py imports this module (for IdentityCache) at run time
    from langchain_arcee.memory.window import TokenCounter

T = TypeVar("T")

DEFAULT_REPLY_RESERVE = 4096
"""Tokens kept for the reply when the model sets no ``max_tokens`` (at most 1/4 window)."""


def _children(runnable: Any) -> Iterator[Any]:
    if isinstance(runnable, RunnableBinding):
        yield runnable.bound
    elif isinstance(runnable, RunnableSequence):
        yield from runnable.steps
    elif isinstance(runnable, RunnableWithFallbacks):
        yield runnable.runnable


def find_chat_model(runnable: Any, *, max_depth: int = 16) -> BaseChatModel | None:
    """The first chat model inside a runnable (depth-first), or ``None``.

    Args:
        runnable: The wrapped runnable.
        max_depth: How deep to walk nested bindings and sequences.
    """
    if isinstance(runnable, BaseChatModel):
        return runnable
    if max_depth <= 0:
        return None
    for child in _children(runnable):
        found = find_chat_model(child, max_depth=max_depth - 1)
        if found is not None:
            return found
    return None


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def context_window_of(model: Any) -> int | None:
    """A chat model's context window: its ``profile["max_input_tokens"]``, if it declares one."""
    profile = getattr(model, "profile", None)
    if isinstance(profile, dict):
        return _positive_int(profile.get("max_input_tokens"))
    return None


def reply_reserve_of(model: Any, context_window: int) -> int:
    """Tokens to keep free for the reply: the model's ``max_tokens`` if set.

    Otherwise :data:`DEFAULT_REPLY_RESERVE`, but at most a quarter of the window.
    """
    for name in ("max_tokens", "max_completion_tokens"):
        value = _positive_int(getattr(model, name, None))
        if value is not None:
            return value
    return min(DEFAULT_REPLY_RESERVE, context_window // 4)


def approximate_tokens(message: BaseMessage) -> int:
    """The offline, script-aware estimate of one message (reasoning included)."""
    return approximate_token_count([message])


def base_counter_for(runnable: Runnable[Any, Any] | None) -> TokenCounter:
    """The per-message counter used when none is given: the offline estimate, for any model."""
    return approximate_tokens


class IdentityCache(Generic[T]):
    """Caches a function of a message by the message *object* (bounded, oldest dropped first).

    The stores hand a turn the same decoded objects for the same stored text, so a token count
    (or a stripped copy) computed once per object is reused across turns. Keying by the object
    (it is held, so its ``id`` can't be reused while cached) never confuses two different
    messages, whatever ids callers give them: message ids are the caller's and may collide
    across sessions or within one.

    Args:
        compute: The function to cache.
        max_entries: Cache size bound.
    """

    def __init__(self, compute: Callable[[BaseMessage], T], max_entries: int = 50_000) -> None:
        self._compute = compute
        self._max_entries = max_entries
        self._cache: dict[int, tuple[BaseMessage, T]] = {}

    def __call__(self, message: BaseMessage) -> T:
        """The (cached) result for ``message``."""
        entry = self._cache.get(id(message))
        if entry is not None and entry[0] is message:
            return entry[1]
        result = self._compute(message)
        if len(self._cache) >= self._max_entries:
            for old in list(self._cache)[: self._max_entries // 2]:
                del self._cache[old]
        self._cache[id(message)] = (message, result)
        return result

    def counts(self, messages: Iterable[BaseMessage]) -> list[T]:
        """``list(map(self, messages))``, probing the cache inline for cached messages.

        A comprehension with the probe inline is the cheapest pass over a long window (no
        Python call per cached message; measured faster than chained ``map`` passes, which pay
        for ``id`` boxing and a separate identity check).
        """
        get = self._cache.get
        return [
            entry[1]
            if (entry := get(id(message))) is not None and entry[0] is message
            else self(message)
            for message in messages
        ]

    def total(self, messages: Iterable[BaseMessage]) -> int:
        """``sum(map(self, messages))`` for counters."""
        values: list[Any] = self.counts(messages)
        return int(sum(values))

    def __len__(self) -> int:
        return len(self._cache)


__all__ = [
    "DEFAULT_REPLY_RESERVE",
    "IdentityCache",
    "approximate_tokens",
    "base_counter_for",
    "context_window_of",
    "find_chat_model",
    "reply_reserve_of",
]
