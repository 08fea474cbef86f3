"""Test doubles for the memory adapter: a scripted chat model that records its requests."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ToolCallChunk,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

Reply = AIMessage | str | Callable[[list[BaseMessage]], AIMessage]


class ScriptedChatModel(BaseChatModel):
    """Returns scripted replies in order (cycling the last one) and records every request.

    A reply may be an ``AIMessage`` (with ``tool_calls``, ``additional_kwargs`` reasoning and
    ``usage_metadata``), a string, or a function of the request's messages. Streams split the
    content into words and send reasoning, tool calls and usage in their own chunks.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    replies: list[Any] = Field(default_factory=list)
    requests: list[list[BaseMessage]] = Field(default_factory=list)
    fail_on_call: int | None = None
    """Raise on this call number (0-based)."""
    fail_after_chunks: int | None = None
    """When streaming, raise after this many chunks."""
    delay: float = 0.0
    calls: int = 0
    lock: Any = Field(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self

    def _next_reply(self, messages: list[BaseMessage]) -> AIMessage:
        with self.lock:
            call = self.calls
            self.calls += 1
            self.requests.append(list(messages))
        if self.fail_on_call is not None and call == self.fail_on_call:
            raise RuntimeError("model failed")
        if not self.replies:
            reply: Any = f"reply {call}"
        else:
            reply = self.replies[min(call, len(self.replies) - 1)]
        if callable(reply):
            reply = reply(messages)
        if isinstance(reply, str):
            reply = AIMessage(content=reply)
        return reply.model_copy(update={"id": reply.id or f"ai-{call}-{time.monotonic_ns()}"})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay:
            time.sleep(self.delay)
        return ChatResult(generations=[ChatGeneration(message=self._next_reply(messages))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        return ChatResult(generations=[ChatGeneration(message=self._next_reply(messages))])

    def _chunks(self, reply: AIMessage) -> Iterator[AIMessageChunk]:
        reasoning = reply.additional_kwargs.get("reasoning_content")
        if isinstance(reasoning, str):
            for part in reasoning.split(" "):
                yield AIMessageChunk(
                    content="", id=reply.id, additional_kwargs={"reasoning_content": part + " "}
                )
        text = reply.content if isinstance(reply.content, str) else ""
        for i, word in enumerate(text.split(" ")):
            yield AIMessageChunk(content=word if i == 0 else " " + word, id=reply.id)
        for index, call in enumerate(reply.tool_calls):
            import json

            yield AIMessageChunk(
                content="",
                id=reply.id,
                tool_call_chunks=[
                    ToolCallChunk(
                        name=call["name"],
                        args=json.dumps(call["args"]),
                        id=call["id"],
                        index=index,
                    )
                ],
            )
        if reply.usage_metadata:
            usage: UsageMetadata = reply.usage_metadata
            yield AIMessageChunk(content="", id=reply.id, usage_metadata=usage)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._next_reply(messages)
        for n, chunk in enumerate(self._chunks(reply)):
            if self.fail_after_chunks is not None and n >= self.fail_after_chunks:
                raise RuntimeError("stream failed")
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream(messages, stop, None, **kwargs):
            yield chunk


def ai(
    content: str = "",
    *,
    reasoning: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    usage: tuple[int, int] | None = None,
) -> AIMessage:
    """Build a scripted reply."""
    return AIMessage(
        content=content,
        additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
        tool_calls=[
            {"name": c["name"], "args": c.get("args", {}), "id": c["id"], "type": "tool_call"}
            for c in tool_calls or []
        ],
        usage_metadata=(
            {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": sum(usage)}
            if usage
            else None
        ),
    )
