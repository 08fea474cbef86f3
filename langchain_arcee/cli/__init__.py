"""``arcee-chat``, the command line chat for Arcee AI (``python -m langchain_arcee``).

* :mod:`langchain_arcee.cli.app`: arguments, the chat loop and one-shot mode;
* :mod:`langchain_arcee.cli.commands`: the in-chat slash commands;
* :mod:`langchain_arcee.cli.render`: terminal output (streamed replies, history, exports).
"""

from langchain_arcee.cli.app import main

__all__ = ["main"]
