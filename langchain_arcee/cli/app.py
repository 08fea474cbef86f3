"""``arcee-chat``: arguments and dispatch.

This module is deliberately light: it imports only the standard library, ``platformdirs`` and
the catalogue's constants, so ``--help`` and argument errors answer at once. The chat itself
(:mod:`langchain_arcee.cli.chat`: openai, LangChain, the stores) and the ``sessions``
subcommand (:mod:`langchain_arcee.cli.sessions`) are imported only once they are needed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import platformdirs

from langchain_arcee.catalog import (
    API_KEY_ENV_VARS,
    DEFAULT_MODEL,
    resolve_api_key,
    resolve_base_url,
)
from langchain_arcee.redaction import checked_base_url, redact_text, redact_url

if TYPE_CHECKING:
    from langchain_arcee.stores.base import ChatStore

PROG = "arcee-chat"
HOME_ENV_VAR = "ARCEE_CHAT_HOME"
"""Directory of the default conversation database (default: the user's data dir)."""
STORE_FILE_NAME = "chats.db"
SESSIONS_COMMAND = "sessions"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A problem with how ``arcee-chat`` was called (exit code 2)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose error messages show URLs redacted.

    argparse quotes what it could not use (``unrecognized arguments: --stores
    postgresql://u:pw@host/db``, ``invalid choice: '...'``). Subparsers are of the same class.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        """As argparse's, the leftover arguments redacted (each whole: one may hold a space)."""
        parsed, extras = super().parse_known_args(args, namespace)
        return parsed, [redact_url(extra) for extra in extras]

    def error(self, message: str) -> NoReturn:
        """Exit with the usage and ``message``, each of its words redacted as a URL."""
        super().error(redact_text(message))


def default_store_path() -> Path:
    """``$ARCEE_CHAT_HOME/chats.db``, else ``chats.db`` in the user's data dir."""
    home = os.environ.get(HOME_ENV_VAR) or platformdirs.user_data_dir(PROG)
    return Path(home).expanduser() / STORE_FILE_NAME


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--store`` option, shared by the chat and the ``sessions`` subcommand."""
    parser.add_argument(
        "--store",
        default=None,
        help="SQLite file path, postgresql://... or redis://... URL (default: a SQLite file "
        "in the user's data dir)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line parser of the chat."""
    parser = ArgumentParser(
        prog=PROG,
        description="Chat with Arcee AI models; conversations are kept between runs.",
        epilog=(
            f"Manage stored conversations with '{PROG} {SESSIONS_COMMAND} --help'. In the chat, "
            "/help lists the commands. Needs ARCEE_API_KEY. Conversations are stored in "
            f"{default_store_path()} unless --store (or ${HOME_ENV_VAR}) says otherwise."
        ),
    )
    parser.add_argument("-m", "--message", help="ask one question, print the answer and exit")
    parser.add_argument("--session", default="default", help="conversation to continue")
    parser.add_argument("--model", default=None, help=f"model id (default {DEFAULT_MODEL})")
    parser.add_argument(
        "--base-url",
        default=None,
        help="API base URL: any OpenAI-compatible server (default: Arcee's, or ARCEE_BASE_URL)",
    )
    parser.add_argument(
        "--reasoning-field",
        choices=["reasoning_content", "reasoning", "both"],
        default="reasoning_content",
        help="field that sends earlier reasoning back: reasoning_content (Arcee), "
        "reasoning (self-hosted vLLM) or both",
    )
    parser.add_argument("--system", default=None, help="system prompt for the conversation")
    parser.add_argument(
        "--summary",
        action="store_true",
        help="keep a running summary of what no longer fits the model's window (the model "
        "writes it; stored beside the conversation; /summary shows it)",
    )
    parser.add_argument(
        "--no-reasoning", action="store_true", help="do not show the model's reasoning"
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="plain text output: no Markdown rendering, colors or spinner (automatic when "
        "the output is not a terminal)",
    )
    parser.add_argument(
        "--multiline",
        action="store_true",
        help="every message may span several lines; end it with a line holding only /end",
    )
    add_store_argument(parser)
    return parser


def check_base_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL ``ChatArcee`` can use.

    Raises:
        UsageError: Otherwise, before anything is sent (no retries against a non-URL); the
            message shows the URL redacted.
    """
    try:
        return checked_base_url(url)
    except ValueError as exc:
        raise UsageError(f"{exc} (--base-url or ARCEE_BASE_URL)") from None


def open_store(spec: str | None) -> ChatStore:
    """The store named by ``--store``, or the default SQLite file (created 0600, folder 0700).

    Raises:
        UsageError: If the store cannot be opened (unknown URL, missing driver, bad path).
    """
    from langchain_arcee.cli.errors import one_line
    from langchain_arcee.stores.factory import store_from_url

    target: str | Path
    if spec:
        target = spec
    else:
        target = default_store_path()
        try:
            # Private by default: the folder 0700, the database 0600 (SQLite gives its -wal and
            # -shm files the database's mode). Existing files keep the mode they have.
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            target.touch(mode=0o600, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create {target.parent}: {exc.strerror or exc}"
            raise UsageError(msg) from exc
    try:
        return store_from_url(target)
    except (ImportError, ValueError, OSError) as exc:
        msg = f"cannot open the store {redact_url(target)!r}: {one_line(exc)}"
        raise UsageError(msg) from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``arcee-chat`` (or ``arcee-chat sessions ...``).

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, 1 when a turn failed, 2 for usage errors (such as a missing
        API key), 130 when a one-shot reply was interrupted.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == [SESSIONS_COMMAND]:
        from langchain_arcee.cli.sessions import main as sessions_main

        return sessions_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    try:
        check_base_url(resolve_base_url(args.base_url))
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return EXIT_USAGE
    api_key = resolve_api_key()
    if not api_key:
        sys.stderr.write(
            f"{PROG}: no API key: set the {API_KEY_ENV_VARS[0]} environment variable "
            f"({' or '.join(API_KEY_ENV_VARS[1:])} is also read)\n"
        )
        return EXIT_USAGE
    from langchain_arcee.cli.chat import run

    return run(args, api_key)
