"""What copy-on-read costs: public reads return copies, a turn's own read shares the cache.

A caller who mutates a message it loaded must not change what later turns send, so
``store.load()`` returns copies (``langchain_arcee.stores.serialization.detached``: the message
and its top-level containers). A turn's read (``begin_turn``) gets the cached objects themselves,
which the memory adapter never mutates. Printed per store: the time of ``load(last=N)`` (copies)
and of ``begin_turn(last=N)`` + release (shared), medians over ``--repeat`` reads, and their ratio.

Usage: ``python -m benchmarks.copy_on_read [--messages 1000] [--repeat 50]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import conversation
from langchain_arcee.stores import ChatStore, InMemoryChatStore, SQLiteChatStore


def median_ms(action: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(store: ChatStore, messages: int, repeat: int) -> tuple[float, float]:
    store.append("s", conversation(messages))
    store.load("s")  # warm the decode cache

    def turn_read() -> None:
        start = store.begin_turn("s", last=messages)
        store.release_turn(start.lease)

    return median_ms(lambda: store.load("s", last=messages), repeat), median_ms(turn_read, repeat)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        stores = {
            "memory": InMemoryChatStore(max_messages_per_session=None),
            "sqlite": SQLiteChatStore(Path(tmp) / "copy.db"),
        }
        print(f"reading the newest {args.messages} messages, median of {args.repeat}")
        for name, store in stores.items():
            with store:
                copies, shared = measure(store, args.messages, args.repeat)
            print(
                f"{name:7} load (copies) {copies:7.3f} ms   turn read (shared) {shared:7.3f} ms   "
                f"copies/shared {copies / shared:.2f}x   copy cost {copies - shared:+.3f} ms"
            )


if __name__ == "__main__":
    main()
