"""The one error raised when an optional dependency (a package extra) is missing."""

from __future__ import annotations


def missing_extra(needed_by: str, package: str, extra: str) -> ImportError:
    """An ``ImportError`` that says what to install, from a checkout or from a package index.

    Args:
        needed_by: What needs the dependency (e.g. ``"PostgresChatStore"``).
        package: The missing distribution, as a person would name it (e.g. ``"psycopg 3"``).
        extra: The extra of ``langchain-arcee`` that installs it (e.g. ``"postgres"``).

    Returns:
        The error, to be raised ``from`` the original ``ImportError``.
    """
    return ImportError(
        f"{needed_by} needs {package}, which is not installed. From a checkout: "
        f'pip install -e ".[{extra}]"; from a package index: pip install "langchain-arcee[{extra}]"'
    )
