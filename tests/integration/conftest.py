"""Cassette plumbing for the integration tests (vcrpy through pytest-recording).

* Replay (the default): ``--record-mode=none`` (pytest-recording's default), so a missing cassette
  or a request whose body differs from the recording fails instead of reaching the network.
* Re-record against the live API: ``ARCEE_API_KEY=<real key> pytest tests/integration
  --record-mode=rewrite``.
* Re-record without a key: ``pytest tests/integration --record-mode=rewrite`` starts the loopback
  Arcee-format server and records against it (see ``cassettes/README.md``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.arcee_server import ArceeTestServer
from tests.cassette_config import CASSETTE_DIR, body_matcher
from tests.cassette_config import vcr_config as project_vcr_config

REPLAY_KEY = "replay-only-dummy-key"

PROVENANCE_FILE = "RECORDED_AGAINST"
"""Written beside a module's cassettes when they are recorded: ``live`` or ``loopback``."""


def cassette_provenance(module_stem: str) -> str:
    """How a module's cassettes were recorded (``live`` / ``loopback``; ``none`` if absent)."""
    path = CASSETTE_DIR / module_stem / PROVENANCE_FILE
    return path.read_text().strip() if path.exists() else "none"


@pytest.fixture(scope="session")
def vcr_config() -> dict[str, Any]:
    """The project's config; the record mode comes from ``--record-mode`` and the directory
    from ``vcr_cassette_dir`` (langchain-tests' own config would force ``record_mode="once"``)."""
    config = project_vcr_config()
    config.pop("record_mode")
    config.pop("cassette_library_dir")
    return config


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """Cassettes under the top-level ``cassettes/<test module>/``."""
    return str(CASSETTE_DIR / Path(request.node.fspath).stem)


def pytest_recording_configure(config: Any, vcr: Any) -> None:
    """Register the semantic JSON body matcher named in ``match_on``."""
    vcr.register_matcher("json_body", body_matcher)


def recording_target(config: pytest.Config) -> str:
    """``"replay"``, ``"live"`` (real key) or ``"loopback"`` (no key: local test server)."""
    if config.getoption("--record-mode", default="none") in (None, "none"):
        return "replay"
    key = os.environ.get("ARCEE_API_KEY", "")
    return "live" if key and key != REPLAY_KEY else "loopback"


@pytest.fixture(scope="session", autouse=True)
def arcee_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """Point ChatArcee at what is being recorded or replayed, via its env vars."""
    target = recording_target(request.config)
    saved = {name: os.environ.get(name) for name in ("ARCEE_API_KEY", "ARCEE_BASE_URL")}
    server: ArceeTestServer | None = None
    if target == "loopback":
        server = ArceeTestServer().start()
        os.environ["ARCEE_BASE_URL"] = server.base_url
        os.environ["ARCEE_API_KEY"] = REPLAY_KEY
    elif target == "replay":
        os.environ.setdefault("ARCEE_API_KEY", REPLAY_KEY)  # clients are built even on replay
    if target != "replay":
        # Say how these cassettes were made, so nobody mistakes loopback output for Arcee's.
        for item in request.session.items:
            folder = CASSETTE_DIR / Path(str(item.fspath)).stem
            folder.mkdir(parents=True, exist_ok=True)
            (folder / PROVENANCE_FILE).write_text(target + "\n")
    try:
        yield target
    finally:
        if server is not None:
            server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
