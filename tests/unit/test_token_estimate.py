"""The offline token estimate is script-aware and tracks a tokenizer-like count."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

from langchain_arcee.messages import approximate_token_count, message_tokens, text_tokens
from langchain_arcee.wire import to_arcee_messages
from tests.arcee_server import count_prompt_tokens, count_tokens
from tests.sample_texts import CJK, CODE, JAPANESE, JSON_TEXT, KOREAN, PROSE


@pytest.mark.parametrize("text", [CJK, JAPANESE, KOREAN], ids=["chinese", "japanese", "korean"])
def test_cjk_is_about_one_token_per_character(text: str) -> None:
    assert 0.8 * len(text) <= text_tokens(text) <= 1.2 * len(text)


def test_prose_is_about_four_characters_per_token() -> None:
    assert 3.5 <= len(PROSE) / text_tokens(PROSE) <= 4.5


@pytest.mark.parametrize("text", [CODE, JSON_TEXT], ids=["code", "json"])
def test_code_and_json_are_denser_than_prose(text: str) -> None:
    assert len(text) / text_tokens(text) < 3.0


@pytest.mark.parametrize("text", [PROSE, CJK, JAPANESE, KOREAN, CODE, JSON_TEXT])
def test_estimate_tracks_a_tokenizer_like_count(text: str) -> None:
    """Within 35% of the loopback server's tokenizer stand-in (``count_tokens``) on any script.

    The old ``len / 4`` estimate was 3-4x low on CJK: a window fitted with it overflowed.
    """
    assert 0.65 <= text_tokens(text) / count_tokens(text) <= 1.35


def test_whole_request_estimate_tracks_the_servers_prompt_tokens() -> None:
    conversation: list[BaseMessage] = [
        HumanMessage(CJK),
        AIMessage(
            "",
            additional_kwargs={"reasoning_content": PROSE},
            tool_calls=[{"name": "run_code", "args": {"code": CODE}, "id": "call_1"}],
        ),
        ToolMessage(JSON_TEXT, tool_call_id="call_1"),
        AIMessage(JAPANESE, additional_kwargs={"reasoning_content": KOREAN}),
        HumanMessage(PROSE),
    ]
    body = {"messages": to_arcee_messages(conversation, ("reasoning_content",))}
    ratio = approximate_token_count(conversation) / count_prompt_tokens(body)
    assert 0.75 <= ratio <= 1.25
    assert approximate_token_count(conversation) > 1.5 * count_tokens_approximately(conversation)


def test_reasoning_tool_calls_and_tool_ids_count() -> None:
    plain = AIMessage("ok")
    assert message_tokens(AIMessage("ok", additional_kwargs={"reasoning": PROSE})) >= (
        message_tokens(plain) + text_tokens(PROSE) - 1
    )
    block_reasoning = AIMessage([{"type": "reasoning", "reasoning": PROSE}, "ok"])
    assert message_tokens(block_reasoning) >= message_tokens(plain) + text_tokens(PROSE) - 1
    call = AIMessage("", tool_calls=[{"name": "f", "args": {"code": CODE}, "id": "c1"}])
    assert message_tokens(call) > text_tokens(CODE)
    assert message_tokens(ToolMessage("x", tool_call_id="c" * 40)) > message_tokens(
        ToolMessage("x", tool_call_id="c")
    )


def test_images_cost_a_fixed_amount_and_tools_count() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100_000}}
    assert message_tokens(HumanMessage([{"type": "text", "text": "see"}, image])) < 100
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert approximate_token_count([HumanMessage("hi")], tools=[tool]) > approximate_token_count(
        [HumanMessage("hi")]
    )


def test_odd_text_is_tolerated() -> None:
    assert text_tokens("") == 0
    assert text_tokens("\ud800 lone surrogate") > 0
    assert text_tokens("😀" * 10) > 0
