"""``arcee-chat``, the command line chat for Arcee AI (``python -m langchain_arcee``).

* :mod:`langchain_arcee.cli.app`: arguments and dispatch (light: ``--help`` imports no model);
* :mod:`langchain_arcee.cli.chat`: the model with memory, one-shot mode and the chat loop;
* :mod:`langchain_arcee.cli.commands`: the in-chat slash commands;
* :mod:`langchain_arcee.cli.sessions`: ``arcee-chat sessions`` (list, show, export, delete, search);
* :mod:`langchain_arcee.cli.input`: reading messages (bracketed paste, multi-line mode);
* :mod:`langchain_arcee.cli.render`: plain output (streamed replies, history, exports);
* :mod:`langchain_arcee.cli.terminal`: terminal output with ``rich`` (Markdown, spinner);
* :mod:`langchain_arcee.cli.usage`: token usage and cost;
* :mod:`langchain_arcee.cli.errors`: one-line explanations of failures.
"""

from langchain_arcee.cli.app import main

__all__ = ["main"]
