"""The bundled models' forest settings, in one place.

The evaluation (`evaluation.FOREST`) and the command line's defaults both read
them, so changing the bundled configuration is one edit. Importing this module
loads no ML library (the CLI imports it for `--help`).
"""

from __future__ import annotations

BUNDLED_TREES = 100
BUNDLED_MAX_DEPTH = 8
BUNDLED_MAX_FEATURES = "sqrt"
