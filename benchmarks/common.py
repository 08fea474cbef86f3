"""Shared pieces of the benchmark scripts: an out-of-process loopback server and timing."""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LoopbackServer:
    """A running ``tests.arcee_server`` process: its base URL and its CPU use."""

    url: str
    process: subprocess.Popen[str]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def loopback_server_process(*extra_args: str) -> Iterator[LoopbackServer]:
    """Run ``tests.arcee_server`` in its own process (so it does not share our GIL).

    Yields:
        The running server.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.arcee_server",
            "--port",
            "0",
            "--print-url",
            "--no-record",
            *extra_args,
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"loopback server did not start: {url!r}")
        yield LoopbackServer(url, process)
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def loopback_server(*extra_args: str) -> Iterator[str]:
    """Run ``tests.arcee_server`` in its own process.

    Yields:
        The server's base URL.
    """
    with loopback_server_process(*extra_args) as server:
        yield server.url


def conversation(n_messages: int, *, with_reasoning: bool = True) -> list[BaseMessage]:
    """A realistic history of ``n_messages`` (user/assistant pairs; assistants think)."""
    messages: list[BaseMessage] = []
    for i in range(n_messages // 2):
        messages.append(HumanMessage(f"Question {i}: how does part {i} of the system work?"))
        thought = f"Thinking about part {i}. " * 8
        reasoning = {"reasoning_content": thought} if with_reasoning else {}
        messages.append(
            AIMessage(
                f"Part {i} works by passing messages along. " * 6,
                additional_kwargs=reasoning,
                id=f"ai-{i}",
            )
        )
    if n_messages % 2:
        messages.append(HumanMessage("One more question?"))
    return messages


def median_ms(
    fn: Callable[[], object], repeat: int, warmup: int = 2, *, pause_gc: bool = True
) -> float:
    """Median wall time of ``fn`` in milliseconds over ``repeat`` runs.

    With ``pause_gc`` (the default) a full collection runs before each run and the collector
    is paused during it; otherwise the collector is left running, as in an app.
    """
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        if pause_gc:
            gc.collect()
            gc.disable()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
        if pause_gc:
            gc.enable()
    return statistics.median(samples)


def interleaved_medians(
    candidates: dict[str, Callable[[], object]], repeat: int, rounds: int = 3
) -> dict[str, float]:
    """Median per candidate, measuring them in alternating rounds so drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            samples[name].append(median_ms(fn, max(1, repeat // rounds)))
    return {name: statistics.median(values) for name, values in samples.items()}


def spread(values: list[float], digits: int = 2) -> str:
    """``[min-max]`` of a list of ratios, for printing next to their median."""
    return f"[{min(values):.{digits}f}-{max(values):.{digits}f}]"
