"""Model pipeline of the card-fraud scoring service.

simulate -> features -> train -> export (skl2onnx) -> verify -> manifest -> publish.
The TypeScript service only ever sees what this package writes: `.onnx` files and
the manifests beside them (see `models/manifest.schema.json`).
"""

from __future__ import annotations

__version__ = "1.0.0"
