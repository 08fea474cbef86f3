"""Record the examples' cassettes against the local Arcee-format test server.

Run from the repository root: ``python cassettes/record_examples.py``. It starts the loopback
server (``tests/arcee_server.py``), points the example at it with a dummy key, runs it under
vcrpy in record mode (the project's one configuration, ``tests/cassette_config.py``) and writes
``cassettes/examples/<name>.yaml``. The recorded host stays ``127.0.0.1``: the cassette is an
honest record of the test server, not of live Arcee.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"
RECORDED = ("multi_turn",)


def record(name: str) -> Path:
    """Run ``examples/<name>.py`` against a fresh loopback server, recording its cassette."""
    from tests.arcee_server import ArceeTestServer
    from tests.cassette_config import CASSETTE_DIR, make_vcr

    cassette = f"examples/{name}.yaml"
    (CASSETTE_DIR / cassette).unlink(missing_ok=True)
    with ArceeTestServer() as server:
        for var in ("ARCEE_API_BASE", "ARCEEAI_API_KEY"):
            os.environ.pop(var, None)
        os.environ["ARCEE_API_KEY"] = "recording-dummy-key"
        os.environ["ARCEE_BASE_URL"] = server.base_url
        sys.path.insert(0, str(EXAMPLES))
        with make_vcr("all").use_cassette(cassette):
            runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")
    (CASSETTE_DIR / "examples" / "RECORDED_AGAINST").write_text("loopback\n")
    return CASSETTE_DIR / cassette


def main() -> None:
    """Record every example listed in ``RECORDED``."""
    sys.path.insert(0, str(REPO_ROOT))
    for name in RECORDED:
        print(f"recorded {record(name).relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
