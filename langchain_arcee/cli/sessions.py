"""``arcee-chat sessions``: list, show, export, delete and search stored conversations.

For people (aligned text) and for scripts (``--json`` everywhere; ``export`` writes JSON).
Everything goes through the public ``ChatStore`` API, so it works on every store. It needs no
API key: nothing is sent to a model. Like :mod:`langchain_arcee.cli.app`, the module imports
LangChain and the stores only once the arguments are parsed (``--help`` stays instant).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_arcee.cli.app import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    SESSIONS_COMMAND,
    ArgumentParser,
    UsageError,
    add_store_argument,
    open_store,
)
from langchain_arcee.cli.errors import one_line

if TYPE_CHECKING:
    from langchain_arcee.stores.base import ChatStore, SessionInfo

_SNIPPET = 80
"""Characters of context shown around a search hit."""


def build_parser() -> argparse.ArgumentParser:
    """The ``sessions`` subcommand's parser."""
    parser = ArgumentParser(
        prog=f"{PROG} {SESSIONS_COMMAND}",
        description="Manage stored conversations (no API key needed). Without a command: list.",
    )
    add_store_argument(parser)
    # --store is accepted after the command too (SUPPRESS: an absent one keeps the above).
    common = ArgumentParser(add_help=False)
    common.add_argument("--store", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    with_json = ArgumentParser(add_help=False, parents=[common])
    with_json.add_argument("--json", action="store_true", help="machine-readable JSON output")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "list", parents=[with_json], help="sessions with message counts and last update"
    )
    show = commands.add_parser("show", parents=[with_json], help="print one conversation")
    show.add_argument("session")
    export = commands.add_parser("export", parents=[common], help="one conversation as JSON")
    export.add_argument("session")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    delete = commands.add_parser("delete", parents=[common], help="delete conversations")
    delete.add_argument("sessions", nargs="+", metavar="session")
    search = commands.add_parser(
        "search", parents=[with_json], help="find messages containing TEXT (case-insensitive)"
    )
    search.add_argument("text")
    search.add_argument("--session", default=None, help="search only this session")
    return parser


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _info_json(info: SessionInfo) -> dict[str, Any]:
    return {
        "session_id": info.session_id,
        "message_count": info.message_count,
        "updated_at": info.updated_at.isoformat() if info.updated_at else None,
    }


def _require(store: ChatStore, session: str) -> int:
    count = store.count(session)
    if not count:
        msg = f"no stored session {session!r} ('{PROG} {SESSIONS_COMMAND} list' shows them)"
        raise LookupError(msg)
    return count


def cmd_list(store: ChatStore, as_json: bool) -> None:
    """Every session with its message count and last update."""
    sessions = store.list_sessions()
    if as_json:
        _write(_as_json([_info_json(s) for s in sessions]))
        return
    if not sessions:
        _write("No stored sessions.\n")
        return
    width = max(len(s.session_id) for s in sessions)
    for info in sessions:
        when = f"{info.updated_at:%Y-%m-%d %H:%M}" if info.updated_at else "-"
        _write(f"{info.session_id:<{width}}  {info.message_count:>5} messages  updated {when}\n")


def cmd_show(store: ChatStore, session: str, as_json: bool) -> None:
    """One conversation, as text or as the store's JSON export."""
    from langchain_arcee.cli.commands import export_document, read_all
    from langchain_arcee.cli.render import Style, format_history

    _require(store, session)
    if as_json:
        _write(_as_json(export_document(store, session)))
        return
    summary = store.load_summary(session)
    if summary is not None:
        _write(f"Summary of the first {summary.covers} messages:\n{summary.text}\n\n")
    _write(format_history(read_all(store, session), Style.for_stream(sys.stdout)))


def cmd_export(store: ChatStore, session: str, output: str | None) -> None:
    """One conversation as JSON (the store's lossless export), to a file or stdout."""
    from langchain_arcee.cli.commands import export_document

    _require(store, session)
    text = _as_json(export_document(store, session))
    if output is None:
        _write(text)
        return
    with open(output, "w", encoding="utf-8") as file:
        file.write(text)
    sys.stderr.write(f"Exported session {session!r} to {output}.\n")


def cmd_delete(store: ChatStore, sessions: Sequence[str]) -> None:
    """Delete conversations (every name must exist; nothing is deleted otherwise)."""
    counts = {session: _require(store, session) for session in sessions}
    for session, count in counts.items():
        store.delete(session)
        _write(f"Deleted session {session!r} ({count} messages).\n")


def cmd_search(store: ChatStore, text: str, session: str | None, as_json: bool) -> None:
    """Messages whose text (or reasoning) contains ``text``, across stored conversations."""
    from langchain_arcee.cli.commands import read_all
    from langchain_arcee.cli.render import role_name
    from langchain_arcee.messages import reasoning_of

    needle = text.casefold()
    targets = [session] if session else [s.session_id for s in store.list_sessions()]
    hits: list[dict[str, Any]] = []
    for session_id in targets:
        for index, message in enumerate(read_all(store, session_id)):
            for field, value in (("text", message.text), ("reasoning", reasoning_of(message))):
                at = value.casefold().find(needle) if value else -1
                if value and at >= 0:
                    start = max(0, at - _SNIPPET // 2)
                    snippet = " ".join(value[start : start + _SNIPPET].split())
                    hits.append(
                        {
                            "session_id": session_id,
                            "index": index,
                            "role": role_name(message),
                            "field": field,
                            "snippet": snippet,
                        }
                    )
                    break
    if as_json:
        _write(_as_json(hits))
        return
    if not hits:
        _write(f"No message contains {text!r}.\n")
    for hit in hits:
        where = "" if hit["field"] == "text" else " (reasoning)"
        _write(f"{hit['session_id']}#{hit['index']} {hit['role']}{where}: {hit['snippet']}\n")


def main(argv: Sequence[str]) -> int:
    """Run ``arcee-chat sessions``.

    Returns:
        0 on success, 1 for a missing session or a store error, 2 for usage errors.
    """
    args = build_parser().parse_args(argv)
    from langchain_arcee.stores.base import StoreError

    store: ChatStore | None = None
    try:
        store = open_store(args.store)
        command = args.command or "list"
        if command == "list":
            cmd_list(store, getattr(args, "json", False))
        elif command == "show":
            cmd_show(store, args.session, args.json)
        elif command == "export":
            cmd_export(store, args.session, args.output)
        elif command == "delete":
            cmd_delete(store, args.sessions)
        else:
            cmd_search(store, args.text, args.session, args.json)
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return EXIT_USAGE
    except LookupError as exc:
        sys.stderr.write(f"{PROG}: {exc.args[0]}\n")
        return EXIT_ERROR
    except (StoreError, OSError) as exc:
        sys.stderr.write(f"{PROG}: {one_line(exc)}\n")
        return EXIT_ERROR
    finally:
        if store is not None:
            store.close()
    return EXIT_OK
