"""Run the ``python`` code blocks of a document in order, as a reader would paste them.

Blocks share one namespace; top-level ``await`` works (as in a notebook or ``python -m
asyncio``). Blocks fenced with another language (``bash``, ``txt`` for shown output) are skipped.
"""

from __future__ import annotations

import ast
import asyncio
import gc
import re
import textwrap
import warnings
from typing import Any

import pytest

BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The ``python`` blocks of a Markdown text (or docstring), dedented."""
    return [textwrap.dedent(block) for block in BLOCK.findall(text)]


def collect_leftovers() -> None:
    """Finalize the examples' models now, quietly.

    Examples build models and never close them (as readers do): their HTTP clients' sockets
    are finalized by the garbage collector, with a ``ResourceWarning`` that pytest would print
    under whichever later test triggers the collection. ChatArcee's per-event-loop async client
    is likewise left open when ``asyncio.run()`` closes its loop (reported to its owners).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def run_blocks(blocks: list[str], source: str, namespace: dict[str, Any] | None = None) -> None:
    """Execute ``blocks`` in order; a failure names the block. Warnings are errors."""
    namespace = namespace if namespace is not None else {"__name__": source}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # examples must not warn (deprecations included)
        for index, block in enumerate(blocks):
            code = compile(
                block,
                f"{source} python block {index}",
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            )
            try:
                result = eval(code, namespace)
                if asyncio.iscoroutine(result):
                    asyncio.run(result)
                    collect_leftovers()
            except Exception as exc:  # pragma: no cover - the message names the block
                pytest.fail(f"{source} python block {index} failed: {exc!r}\n{block}")
