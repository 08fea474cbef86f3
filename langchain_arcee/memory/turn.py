"""What a turn is: its input messages, the runnable's input, and the messages it produced.

Pure functions shared by the sync and async paths of the adapter. Input and output shapes are
those of ``RunnableWithMessageHistory``:

* input: ``str``, a message, a list of messages, or a ``dict`` holding one of those under
  ``input_messages_key`` (history either merged into that key, or under
  ``history_messages_key``);
* output: ``str``, a message, a list of messages, or a ``dict`` holding one of those under
  ``output_messages_key``.

Messages are stored exactly as the caller and the runnable gave them (no ids are added, as
``RunnableWithMessageHistory`` does). The messages a runnable *produced* are the output
messages that were not sent: not the very objects sent, and without the id of a message sent.
That makes runnables that echo the whole conversation back (LangGraph agents, tool loops)
store only the new messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import is_
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
    HumanMessage,
    convert_to_messages,
    message_chunk_to_message,
)

from langchain_arcee.stores.serialization import check_input_messages


def as_message(message: BaseMessage) -> BaseMessage:
    """A full message (chunks are converted), ready to store."""
    if isinstance(message, BaseMessageChunk):
        return message_chunk_to_message(message)
    return message


def _pluck(value: dict[str, Any], key: str | None, default_key: str) -> Any:
    if key:
        return value[key]
    if len(value) == 1:
        return next(iter(value.values()))
    return value[default_key]


def to_input_messages(value: Any) -> list[BaseMessage]:
    """Normalize one input value (``str``, message, list or tuple of messages) to messages.

    Raises:
        ValueError: For any other type.
    """
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], list):
            if len(value) != 1:
                msg = f"Expected a single list of messages. Got {value}."
                raise ValueError(msg)
            return convert_to_messages(value[0])
        # Message-like items too, as LangChain accepts them: ("user", "hi"), {"role": ...}.
        return convert_to_messages(value)
    msg = f"Expected str, BaseMessage, list[BaseMessage], or tuple[BaseMessage]. Got {value!r}."
    raise ValueError(msg)


def to_output_messages(value: Any, output_messages_key: str | None) -> list[BaseMessage]:
    """Normalize a runnable's output to messages (RWMH's rules).

    Raises:
        ValueError: If the output holds no messages.
    """
    if isinstance(value, dict):
        key = output_messages_key or (next(iter(value)) if len(value) == 1 else "output")
        if key not in value and "generations" in value:
            value = value["generations"][0][0]["message"]
        elif key not in value:
            msg = (
                f"The runnable's output has no key {key!r} (keys: {sorted(value)}); "
                "set output_messages_key."
            )
            raise ValueError(msg)
        else:
            value = value[key]
    if isinstance(value, str):
        return [AIMessage(content=value)]
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    msg = f"Expected str, BaseMessage, list[BaseMessage], or tuple[BaseMessage]. Got {value!r}."
    raise ValueError(msg)


@dataclass
class TurnInput:
    """A turn's input, normalized.

    Attributes:
        original: The value the caller passed.
        messages: The input messages, as given.
        keep_raw_value: True if the runnable should get the caller's raw input value (a
            ``str`` under ``input_messages_key`` when history has its own key).
    """

    original: Any
    messages: list[BaseMessage]
    keep_raw_value: bool = False


def read_turn_input(value: Any, input_messages_key: str | None) -> TurnInput:
    """Extract the input messages of a call.

    Raises:
        ValueError: If the input holds no messages, ``input_messages_key`` is missing, or a
            message holds a lone surrogate.
        TypeError: If a message holds a value that is not JSON-serializable (the error names
            the field; see :func:`~langchain_arcee.stores.serialization.check_input_messages`).
    """
    raw = value
    if isinstance(value, dict):
        try:
            raw = _pluck(value, input_messages_key, "input")
        except KeyError:
            key = input_messages_key or "input"
            msg = f"The input has no key {key!r} (keys: {sorted(value)}); set input_messages_key."
            raise ValueError(msg) from None
    messages = to_input_messages(raw)
    check_input_messages(messages)  # refused here, before anything is sent or billed
    return TurnInput(original=value, messages=messages, keep_raw_value=isinstance(raw, str))


def build_runnable_input(
    turn: TurnInput,
    history: list[BaseMessage],
    *,
    input_messages_key: str | None,
    history_messages_key: str | None,
) -> Any:
    """The value the wrapped runnable gets: history placed as RWMH places it.

    Args:
        turn: The normalized input.
        history: The history window to send.
        input_messages_key: Key of the input messages in a dict input.
        history_messages_key: Key for history in a dict input (history kept separate).
    """
    if history_messages_key:
        updated = dict(turn.original)
        updated[history_messages_key] = history
        if input_messages_key and not turn.keep_raw_value:
            updated[input_messages_key] = turn.messages
        return updated
    messages = history + turn.messages
    if input_messages_key and isinstance(turn.original, dict):
        updated = dict(turn.original)
        updated[input_messages_key] = messages
        return updated
    return messages


def new_messages(
    turn: TurnInput,
    sent: Iterable[BaseMessage],
    output: Any,
    output_messages_key: str | None,
) -> list[BaseMessage]:
    """The messages a turn adds to the session: its input plus what the runnable produced.

    Output messages that were sent (the same objects, or messages with a sent message's id:
    history echoed back) are left out, and so are repeats; chunks become full messages.

    Args:
        turn: The normalized input.
        sent: Every message sent (history and input).
        output: The runnable's (aggregated) output.
        output_messages_key: Key of the messages in a dict output.
    """
    outputs = to_output_messages(output, output_messages_key)
    if len(outputs) == 1:  # a model's reply: new unless it is one of the very messages sent
        reply = outputs[0]
        # ``map(is_, ...)`` scans the window in C; a generator would run a Python frame per
        # message sent (``in`` is no substitute: it compares messages by value).
        sent_it = any(map(is_, repeat(reply), sent))
        return list(turn.messages) if sent_it else [*turn.messages, as_message(reply)]
    seen_objects = {id(m) for m in sent}
    seen_ids = {m.id for m in sent if m.id is not None}
    produced: list[BaseMessage] = []
    for message in outputs:
        if id(message) in seen_objects or (message.id is not None and message.id in seen_ids):
            continue  # sent history echoed back, or a repeated update
        seen_objects.add(id(message))
        if message.id is not None:
            seen_ids.add(message.id)
        produced.append(as_message(message))
    return [*turn.messages, *produced]


class StreamAggregator:
    """Accumulates a stream's chunks into the output the stream stands for.

    Chunks that support ``+`` (message chunks, strings, ``AddableDict``) are added; otherwise
    (e.g. full-state dicts of a LangGraph ``stream_mode="values"`` stream) the newest chunk
    wins. Dict chunks without ``output_messages_key`` but with node updates holding it
    (LangGraph's default ``stream_mode="updates"``: ``{node: {key: [...]}}``) contribute the
    messages of every update, in order.

    Args:
        output_messages_key: Key of the messages in a dict output.
    """

    def __init__(self, output_messages_key: str | None = None) -> None:
        self.output_messages_key = output_messages_key
        self.value: Any = None
        self.started = False
        self._updates: list[Any] | None = None

    def _node_updates(self, chunk: Any) -> list[Any] | None:
        key = self.output_messages_key
        if not key or not isinstance(chunk, dict) or key in chunk:
            return None
        updates = [v[key] for v in chunk.values() if isinstance(v, dict) and key in v]
        if not updates and self._updates is None:
            return None
        messages: list[Any] = []
        for update in updates:
            messages.extend(update if isinstance(update, (list, tuple)) else [update])
        return messages

    def add(self, chunk: Any) -> None:
        """Fold in one chunk."""
        updates = self._node_updates(chunk)
        if updates is not None:
            self._updates = [*(self._updates or []), *updates]
        elif not self.started:
            self.value, self.started = chunk, True
        else:
            try:
                self.value = self.value + chunk
            except TypeError:
                self.value = chunk

    def output(self) -> Any:
        """The aggregated output; an empty list (nothing produced) if there were no chunks."""
        if self._updates is not None:
            return {self.output_messages_key: self._updates}
        return self.value if self.started else []
