"""Inference time per batch with Python onnxruntime, one thread.

Two numbers per model: the graph as exported (all outputs, ZipMap included, whose
Python conversion to a list of dicts dominates), and the graph the service runs
(ZipMap removed, probabilities as a tensor). The second is the one to compare with
the service's target of 1 M predictions/s on 2 cores (500 k/s per core, so at most
2 ms per 1,000 rows on one core).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from fraud_training.inference import INPUT_NAME, NUMPY_TYPES, ElementType, open_session, strip_zipmap


@dataclass(frozen=True)
class Timing:
    """Median and best time of one batch, in microseconds."""

    batch_size: int
    median_us: float
    best_us: float

    @property
    def rows_per_second(self) -> float:
        return self.batch_size / (self.median_us * 1e-6)

    def as_dict(self) -> dict[str, float]:
        return {
            "batch_size": self.batch_size,
            "median_us": round(self.median_us, 1),
            "best_us": round(self.best_us, 1),
            "rows_per_second_one_thread": round(self.rows_per_second),
        }


def time_batches(
    model_bytes: bytes,
    features: np.ndarray,
    element_type: ElementType,
    batch_size: int = 1_000,
    repeats: int = 300,
) -> Timing:
    """Median over `repeats` runs of one batch of `batch_size` rows (after warm-up)."""
    session = open_session(model_bytes, threads=1)
    batch = np.resize(features, (batch_size, features.shape[1])).astype(NUMPY_TYPES[element_type])
    feed = {INPUT_NAME: batch}
    for _ in range(10):
        session.run(None, feed)
    samples = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        samples[i] = time.perf_counter() - start
    return Timing(batch_size, float(np.median(samples) * 1e6), float(samples.min() * 1e6))


def time_model(
    model_bytes: bytes, features: np.ndarray, element_type: ElementType
) -> dict[str, dict[str, float]]:
    """Timings of the graph as exported and of the graph the service runs."""
    return {
        "as_exported": time_batches(model_bytes, features, element_type).as_dict(),
        "zipmap_removed": time_batches(strip_zipmap(model_bytes), features, element_type).as_dict(),
    }
