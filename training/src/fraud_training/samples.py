"""Smoke inputs for the manifest: the service runs them before serving a model and
compares its probabilities with the ones recorded here (computed by Python
onnxruntime on the exported file, not by scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fraud_training.inference import ElementType, onnx_probabilities, open_session

# Hand-written inputs that real test days may lack: (amount, weekend, night).
_SYNTHETIC: tuple[tuple[float, int, int], ...] = (
    (35.5, 0, 1),  # weekday night
    (35.5, 1, 0),  # weekend day
    (250.0, 1, 1),  # weekend night, above the scenario-1 threshold
    (0.0, 0, 0),  # zero amount
    (1_000_000.0, 0, 0),  # a very large amount
)


def _first_row(mask: pd.Series) -> list[int]:
    hits = np.flatnonzero(mask.to_numpy())
    return [int(hits[0])] if len(hits) else []


def pick_sample_rows(test: pd.DataFrame, features: pd.DataFrame) -> list[int]:
    """Positions of real test transactions: a legitimate weekday-daytime one and the
    first transaction of each fraud scenario (when the test block has one)."""
    scenario = test["TX_FRAUD_SCENARIO"]
    rows = _first_row(
        (scenario == 0)
        & (features.get("TX_DURING_WEEKEND", 0) == 0)
        & (features.get("TX_DURING_NIGHT", 0) == 0)
    )
    for k in (1, 2, 3):
        rows += _first_row(scenario == k)
    return rows


def sample_inputs(test: pd.DataFrame, features: pd.DataFrame, names: Sequence[str]) -> list[dict[str, float]]:
    """8-10 named feature vectors covering legit, each scenario, night, weekend, a zero
    and a large amount."""
    samples = [
        {name: float(features.iloc[row][name]) for name in names} for row in pick_sample_rows(test, features)
    ]
    for amount, weekend, night in _SYNTHETIC:
        values = {
            "TX_AMOUNT": amount,
            "TX_DURING_WEEKEND": float(weekend),
            "TX_DURING_NIGHT": float(night),
        }
        samples.append({name: values[name] for name in names})
    return samples


def sample_entries(
    model_bytes: bytes,
    samples: list[dict[str, float]],
    names: Sequence[str],
    element_type: ElementType,
) -> list[dict[str, object]]:
    """Manifest `samples`: each input with its ONNX probabilities in class order."""
    matrix = np.array([[sample[name] for name in names] for sample in samples], dtype=np.float64)
    probabilities = onnx_probabilities(open_session(model_bytes), matrix, element_type)
    return [
        {"features": sample, "probabilities": [float(p) for p in row]}
        for sample, row in zip(samples, probabilities, strict=True)
    ]
