"""The one base class of the failures the CLI reports as a single line (exit 1)."""

from __future__ import annotations


class PipelineError(RuntimeError):
    """A failure with a message fit for a person: no traceback needed."""
