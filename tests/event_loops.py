"""Counting the event loops still alive, for tests of code that serves successive loops."""

from __future__ import annotations

import asyncio
import gc


def live_event_loops() -> int:
    """How many event loop objects survive a full garbage collection."""
    gc.collect()
    return sum(isinstance(o, asyncio.AbstractEventLoop) for o in gc.get_objects())
