"""API faults through the real openai client, ChatArcee and RunnableWithMemory, over every store.

Each fault must surface as a clear exception carrying Arcee's message, be retried only where
it should (counted on the server), leave the stored conversation exactly as it was, and leave
the session usable: the next turn works and sees exactly the history stored before.
"""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from tests.arcee_server import ArceeTestServer
from tests.reliability.conftest import STORE_PARAMS
from tests.reliability.faults import API_FAULTS, TRANSIENT_FAULTS, ApiFault, play_fault
from tests.reliability.support import (
    StoreUnderTest,
    check_echo_conversation,
    run_turn,
    unique,
    user_texts,
)

pytestmark = pytest.mark.loopback


def _id(param: object) -> str:
    return str(getattr(param, "values", (param,))[0])


FAULT_PARAMS = [pytest.param(f, id=f.name) for f in API_FAULTS]


# Every store on the sync and the async-stream path; the other two paths on the memory store.
STORE_MODES = [
    pytest.param(_id(store), mode, marks=getattr(store, "marks", ()), id=f"{_id(store)}-{mode}")
    for store in STORE_PARAMS
    for mode in ("invoke", "astream")
] + [pytest.param("memory", mode, id=f"memory-{mode}") for mode in ("ainvoke", "stream")]


@pytest.mark.parametrize(("sut", "mode"), STORE_MODES, indirect=["sut"])
@pytest.mark.parametrize("fault", FAULT_PARAMS)
async def test_api_fault_leaves_stored_conversation_unchanged(
    fault: ApiFault,
    mode: str,
    sut: StoreUnderTest,
    arcee_server: ArceeTestServer,
    make_model: Callable[..., ChatArcee],
) -> None:
    assert await play_fault(fault, mode, sut.store, arcee_server, make_model) == []


@pytest.mark.parametrize("fault", [pytest.param(f, id=f.name) for f in TRANSIENT_FAULTS])
async def test_transient_fault_is_retried_and_turn_stored_once(
    fault: ApiFault,
    sut: StoreUnderTest,
    arcee_server: ArceeTestServer,
    make_model: Callable[..., ChatArcee],
) -> None:
    chat = RunnableWithMemory(make_model(**fault.model(arcee_server)), sut.store)
    session = unique("s")
    await run_turn(chat, "first question", session, "invoke")
    arcee_server.reset()
    assert fault.transient is not None
    fault.transient(arcee_server)
    await run_turn(chat, "second question", session, "invoke")
    assert arcee_server.count("chat") == 2  # one failure, one successful retry
    stored = sut.store.load(session)
    assert user_texts(stored) == ["first question", "second question"]
    assert check_echo_conversation(stored) == []


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_client_errors_are_never_retried_even_with_retry_after(
    arcee_server: ArceeTestServer, make_model: Callable[..., ChatArcee], status: int
) -> None:
    model = make_model(max_retries=3)
    arcee_server.fail_next(status, "no", times=None, retry_after=0.01)
    with pytest.raises(openai.APIStatusError) as info:
        model.invoke("hi")
    assert info.value.status_code == status
    assert arcee_server.count("chat") == 1


def test_retries_stop_at_max_retries(
    arcee_server: ArceeTestServer, make_model: Callable[..., ChatArcee]
) -> None:
    model = make_model(max_retries=3)
    arcee_server.fail_next(503, "down", times=None, retry_after=0.01)
    with pytest.raises(openai.InternalServerError, match="Arcee API error 503: down"):
        model.invoke("hi")
    assert arcee_server.count("chat") == 4


def test_unknown_model_id_names_the_model(
    arcee_server: ArceeTestServer, make_model: Callable[..., ChatArcee]
) -> None:
    model = make_model(model="arcee-ai/no-such-model")
    with pytest.raises(openai.NotFoundError, match="no-such-model") as info:
        model.invoke("hi")
    assert "Arcee API error 404" in str(info.value)
    assert arcee_server.count("chat") == 1


@pytest.mark.parametrize("mode", ["invoke", "stream"])
async def test_malformed_body_error_is_clear(
    arcee_server: ArceeTestServer, make_model: Callable[..., ChatArcee], mode: str
) -> None:
    arcee_server.malformed_next(times=None)
    with pytest.raises(openai.APIError, match="Arcee returned a malformed response"):
        await run_turn(make_model(), "hi", unique("s"), mode)
