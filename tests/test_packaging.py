"""Install and import behaviour: what a base install brings, lazy imports, missing extras.

Each check runs in a fresh interpreter (imports are process-wide state). A missing optional
driver is simulated with a ``sys.meta_path`` finder that refuses to import it, as if the extra
had not been installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import requires
from pathlib import Path

import pytest

from tests.arcee_server import ArceeTestServer

REPO_ROOT = Path(__file__).resolve().parent.parent

HEAVY = ("openai", "langchain_core", "langchain_openai", "langsmith", "sqlalchemy", "rich")
"""What ``--help``, argument errors and ``import langchain_arcee`` must not import."""

BLOCKER = """
import sys
from importlib.abc import MetaPathFinder

class Missing(MetaPathFinder):
    def __init__(self, names):
        self.names = names
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Missing(set(sys.argv[1].split(","))))
"""


def run_python(code: str, *args: str, blocked: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code), blocked, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )


# ---- base install ----------------------------------------------------------------------------


def _base_requirements() -> set[str]:
    names = set()
    for requirement in requires("langchain-arcee") or []:
        if "extra ==" not in requirement:
            names.add(requirement.split(";")[0].split("[")[0].split(">")[0].split("<")[0].strip())
    return {n.lower() for n in names}


def test_sqlite_needs_only_the_base_install() -> None:
    # The embedded default store runs on the standard library; SQLAlchemy is PostgreSQL's.
    assert "rich" in _base_requirements()
    assert not {"sqlalchemy", "aiosqlite"} & _base_requirements()
    # The `sqlite` extra is kept (empty) so that `pip install -e ".[sqlite]"` still resolves.
    assert not [r for r in requires("langchain-arcee") or [] if 'extra == "sqlite"' in r]


def test_sqlite_store_and_cli_work_without_any_extra(tmp_path: Path) -> None:
    # Only what the postgres and redis extras bring is missing: everything SQLite needs works.
    result = run_python(
        """
        import asyncio
        from langchain_core.messages import HumanMessage
        from langchain_arcee import SQLiteChatStore, store_from_url
        store = store_from_url(sys.argv[2])
        store.append("s", [HumanMessage("hi")])
        asyncio.run(store.aappend("s", [HumanMessage("again")]))
        print(store.count("s"), type(store) is SQLiteChatStore)
        """,
        str(tmp_path / "chat.db"),
        blocked="psycopg,redis,sqlalchemy,aiosqlite",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "True"]


def test_a_one_shot_on_the_sqlite_default_never_imports_sqlalchemy(
    tmp_path: Path, arcee_server: ArceeTestServer
) -> None:
    # SQLAlchemy's import alone cost a one-shot more than the rest of the CLI (issue 11).
    code = f"""
        import contextlib, io, os
        os.environ["ARCEE_API_KEY"] = "k"
        from langchain_arcee.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["-m", "hi", "--base-url", {arcee_server.base_url!r},
                         "--store", {str(tmp_path / "one.db")!r}])
        assert code == 0, code
        assert out.getvalue().strip(), "no answer printed"
        """
    assert "sqlalchemy" not in _loaded_after(code)


@pytest.mark.parametrize(
    ("blocked", "code", "extra"),
    [
        ("redis", "from langchain_arcee import RedisChatStore", "redis"),
        (
            "redis",
            "from langchain_arcee import store_from_url; store_from_url('redis://x')",
            "redis",
        ),
        (
            "psycopg",
            "from langchain_arcee import PostgresChatStore; PostgresChatStore('postgresql://h/d').count('s')",
            "postgres",
        ),
        (
            "psycopg",
            "from langchain_arcee import store_from_url; store_from_url('postgresql://h/d').count('s')",
            "postgres",
        ),
        ("sqlalchemy", "from langchain_arcee import PostgresChatStore", "postgres"),
        (
            "sqlalchemy",
            "from langchain_arcee import store_from_url; store_from_url('postgresql://h/d')",
            "postgres",
        ),
    ],
)
def test_a_missing_optional_driver_says_what_to_install(
    blocked: str, code: str, extra: str
) -> None:
    result = run_python(
        f"""
        try:
            {code}
        except ImportError as exc:
            print(str(exc))
        else:
            print("no error")
        """,
        blocked=blocked,
    )
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert f'pip install -e ".[{extra}]"' in message  # works from a checkout
    assert f'pip install "langchain-arcee[{extra}]"' in message


# ---- lazy imports ----------------------------------------------------------------------------


def _loaded_after(code: str) -> list[str]:
    result = run_python(
        f"""
        import json
        {code}
        print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
        """
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    return sorted(loaded & set(HEAVY))


def test_importing_the_package_imports_nothing_heavy() -> None:
    assert _loaded_after("import langchain_arcee") == []


@pytest.mark.parametrize("argv", [["--help"], ["--bogus"], ["sessions", "--help"]])
def test_help_and_argument_errors_import_nothing_heavy(argv: list[str]) -> None:
    code = f"""
        import contextlib, io
        from langchain_arcee.cli import main
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                main({argv!r})
            except SystemExit:
                pass
        """
    assert _loaded_after(code) == []


def test_a_base_url_that_is_not_a_url_is_refused_before_importing_the_model() -> None:
    code = """
        import contextlib, io, os
        os.environ["ARCEE_API_KEY"] = "k"
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            from langchain_arcee.cli import main
            assert main(["-m", "hi", "--base-url", "notaurl"]) == 2
        assert "not an http(s) URL" in err.getvalue()
        """
    assert _loaded_after(code) == []


def test_public_names_still_import() -> None:
    result = run_python(
        """
        import langchain_arcee
        from langchain_arcee import ChatArcee, RunnableWithMemory, SQLiteChatStore, list_models
        from langchain_arcee.chat_models import ChatArcee as Direct
        assert ChatArcee is Direct
        assert set(langchain_arcee.__all__) <= set(dir(langchain_arcee))
        for name in langchain_arcee.__all__:
            getattr(langchain_arcee, name)
        try:
            langchain_arcee.Nope
        except AttributeError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "has no attribute 'Nope'" in result.stdout


# ---- test output ------------------------------------------------------------------------------


def test_default_pytest_run_prints_no_benchmark_tables_or_headers() -> None:
    # langchain-tests brings pytest-benchmark and pytest-codspeed; their output is switched off.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit/test_standard.py", "-k", "init_time"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    for noise in ("benchmark:", "codspeed:", "Legend:", "OPS", "Rounds"):
        assert noise not in result.stdout, result.stdout
