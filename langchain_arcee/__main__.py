"""``python -m langchain_arcee``: runs ``arcee-chat``."""

import sys

from langchain_arcee.cli import main

if __name__ == "__main__":
    sys.exit(main())
