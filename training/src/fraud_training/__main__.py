"""`python -m fraud_training <command>`: see `fraud_training.cli`."""

from __future__ import annotations

import os
import sys

from fraud_training.cli import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as shell tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
