"""Fixtures of the reliability suite: every store, ChatArcee on the loopback server, Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from langchain_arcee import ChatArcee
from langchain_arcee.memory import RunnableWithMemory
from tests.arcee_server import ArceeTestServer
from tests.reliability.support import KEY, RedisProcess, StoreUnderTest, make_store

STORE_PARAMS = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]


async def _open_store(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> StoreUnderTest:
    urls: dict[str, Any] = {}
    if kind == "postgres":
        urls["postgres_url"] = request.getfixturevalue("postgres_url")
    if kind == "redis":
        urls["redis_url"] = request.getfixturevalue("redis_url")
    return make_store(kind, tmp_path, **urls)


@pytest_asyncio.fixture(params=STORE_PARAMS)
async def sut(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreUnderTest]:
    """Each test runs against every store (isolated prefix; cleaned and closed afterwards)."""
    under_test = await _open_store(request, tmp_path, request.param)
    try:
        yield under_test
    finally:
        await under_test.aclose()


@pytest.fixture(autouse=True)
def fast_retry_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the openai client's retry backoff (0.5 s first step) so retried faults are cheap.

    Only the delay changes: which errors are retried, and how often, is the client's own logic.
    """
    import openai._base_client

    monkeypatch.setattr(openai._base_client, "INITIAL_RETRY_DELAY", 0.01)


@pytest.fixture
def make_model(arcee_server: ArceeTestServer) -> Callable[..., ChatArcee]:
    """``ChatArcee`` on the loopback server (fast retries); keyword arguments override."""

    def make(**overrides: Any) -> ChatArcee:
        options: dict[str, Any] = {
            "api_key": KEY,
            "base_url": arcee_server.base_url,
            "max_retries": 1,
            "timeout": 10,
            **overrides,
        }
        return ChatArcee(**options)

    return make


@pytest.fixture
def chat(make_model: Callable[..., ChatArcee], sut: StoreUnderTest) -> RunnableWithMemory:
    """``ChatArcee`` with memory in the store under test."""
    return RunnableWithMemory(make_model(), sut.store)


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    """A private redis-server the test may stop and restart (skips without the binary)."""
    if not RedisProcess.available():
        pytest.skip("redis-server is not on PATH")
    server = RedisProcess(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()
