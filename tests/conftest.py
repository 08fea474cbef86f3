"""Shared pytest fixtures."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator

import pytest

# ============================================================================================
# Loopback Arcee server fixtures (owner: tests/arcee_server.py)
# ============================================================================================
from tests.arcee_server import ArceeTestServer


@pytest.fixture
def arcee_server() -> Iterator[ArceeTestServer]:
    """A fresh loopback Arcee server for this test (own port, default options).

    ``server.base_url`` is ``http://127.0.0.1:<port>/api/v1``; see ``tests/arcee_server.py``.
    """
    with ArceeTestServer() as server:
        yield server


@pytest.fixture(scope="session")
def arcee_server_session() -> Iterator[ArceeTestServer]:
    """One loopback Arcee server shared by the session; prefer ``arcee_server_shared``."""
    with ArceeTestServer() as server:
        yield server


@pytest.fixture
def arcee_server_shared(arcee_server_session: ArceeTestServer) -> Iterator[ArceeTestServer]:
    """The session's server, reset to its constructor state before and after this test."""
    arcee_server_session.reset()
    yield arcee_server_session
    arcee_server_session.reset()


# ============================================================================================
# End of loopback Arcee server fixtures
# ============================================================================================


# ============================================================================================
# Service fixtures: PostgreSQL and Redis (owner: conversation stores, tests/stores/)
# ============================================================================================
# Tests that need a server skip with a clear reason when it is not reachable, unless
# ARCEE_REQUIRE_SERVICES=1 (CI), where an unreachable server fails the test instead.

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def _service_url(
    name: str, env: str, default: str, probe: Callable[[str], BaseException | None]
) -> str:
    """The server's URL from ``env``; skips (or, in CI, fails) the test if it is unreachable."""
    url = os.environ.get(env, default)
    error = probe(url)
    if error is not None:
        reason = f"{name} not reachable at {url}: set {env} or start the server ({error})"
        if os.environ.get("ARCEE_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@functools.cache
def _probe_postgres(url: str) -> BaseException | None:
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        parsed = make_url(url).set(drivername="postgresql")
        conninfo = parsed.render_as_string(hide_password=False)
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return exc
    return None


@functools.cache
def _probe_redis(url: str) -> BaseException | None:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return exc
    return None


@pytest.fixture
def postgres_url() -> str:
    """URL of the test PostgreSQL server (``ARCEE_TEST_POSTGRES_URL``); skips if unreachable.

    Tests must isolate themselves (unique table prefix or session ids) and clean up.
    """
    return _service_url(
        "PostgreSQL", "ARCEE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL, _probe_postgres
    )


@pytest.fixture
def redis_url() -> str:
    """URL of the test Redis server (``ARCEE_TEST_REDIS_URL``); skips if unreachable.

    Tests must isolate themselves (unique key prefix or session ids) and clean up.
    """
    return _service_url("Redis", "ARCEE_TEST_REDIS_URL", DEFAULT_REDIS_URL, _probe_redis)


# ============================================================================================
# End of service fixtures
# ============================================================================================


# ============================================================================================
# Benchmark fixture stand-in (pytest-benchmark and pytest-codspeed are disabled in addopts)
# ============================================================================================


@pytest.fixture
def benchmark() -> Callable[..., object]:
    """Run the callable once: langchain-tests' ``test_init_time`` stays a smoke test.

    Timings belong in ``benchmarks/`` (ratios measured in one run), not in the test output.
    """

    def run(func: Callable[..., object], *args: object, **kwargs: object) -> object:
        return func(*args, **kwargs)

    return run
