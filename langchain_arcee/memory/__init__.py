"""Conversation memory for any runnable: session -> window -> runnable -> append.

* :mod:`langchain_arcee.memory.session`: which session a call belongs to, its I/O, its lock;
* :mod:`langchain_arcee.memory.window`: which history fits the context window (pure);
* :mod:`langchain_arcee.memory.turn`: what a turn's input and produced messages are (pure);
* :mod:`langchain_arcee.memory.tokens`: the wrapped model's context window and token counts;
* :mod:`langchain_arcee.memory.adapter`: :class:`RunnableWithMemory`, the runnable itself.
"""

from langchain_arcee.memory.adapter import RunnableWithMemory, with_memory
from langchain_arcee.memory.window import ContextWindowExceededError, WindowBudget, fit_history

__all__ = [
    "ContextWindowExceededError",
    "RunnableWithMemory",
    "WindowBudget",
    "fit_history",
    "with_memory",
]
