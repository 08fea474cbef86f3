"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

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
