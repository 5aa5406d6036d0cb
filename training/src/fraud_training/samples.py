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


# History situations the test days may lack, as overrides of a real legitimate row.
_HISTORY_SYNTHETIC: tuple[dict[str, float], ...] = (
    {  # a customer's first transaction, at a terminal with no history
        "CUSTOMER_ID_NB_TX_1DAY_WINDOW": 1.0,
        "CUSTOMER_ID_NB_TX_7DAY_WINDOW": 1.0,
        "CUSTOMER_ID_NB_TX_30DAY_WINDOW": 1.0,
        "CUSTOMER_ID_AMOUNT_OVER_AVG_30DAY_WINDOW": 1.0,
        "CUSTOMER_ID_AMOUNT_OVER_MAX_30DAY_WINDOW": 1.0,
        "TERMINAL_ID_NB_TX_1DAY_WINDOW": 0.0,
        "TERMINAL_ID_RISK_1DAY_WINDOW": 0.0,
        "TERMINAL_ID_NB_TX_7DAY_WINDOW": 0.0,
        "TERMINAL_ID_RISK_7DAY_WINDOW": 0.0,
        "TERMINAL_ID_NB_TX_30DAY_WINDOW": 0.0,
        "TERMINAL_ID_RISK_30DAY_WINDOW": 0.0,
        "TERMINAL_ID_FRAUD_STREAK_30DAY_WINDOW": 0.0,
    },
    {  # a terminal whose last confirmed days were all fraud
        "TERMINAL_ID_RISK_1DAY_WINDOW": 1.0,
        "TERMINAL_ID_RISK_7DAY_WINDOW": 0.8,
        "TERMINAL_ID_RISK_30DAY_WINDOW": 0.3,
        "TERMINAL_ID_FRAUD_STREAK_30DAY_WINDOW": 6.0,
    },
    {  # five times the customer's usual amount
        "CUSTOMER_ID_AMOUNT_OVER_AVG_30DAY_WINDOW": 5.0,
        "CUSTOMER_ID_AMOUNT_OVER_MAX_30DAY_WINDOW": 3.0,
    },
)


def sample_inputs(test: pd.DataFrame, features: pd.DataFrame, names: Sequence[str]) -> list[dict[str, float]]:
    """8-13 named feature vectors covering legit, each scenario, night, weekend, a zero
    and a large amount, and for history models a first transaction, a fraudulent
    terminal and an unusual amount. Values a synthetic sample does not set come from
    the first real sample (a legitimate weekday-daytime transaction)."""
    samples = [
        {name: float(features.iloc[row][name]) for name in names} for row in pick_sample_rows(test, features)
    ]
    base = dict(samples[0]) if samples else dict.fromkeys(names, 0.0)
    for amount, weekend, night in _SYNTHETIC:
        values = {
            **base,
            "TX_AMOUNT": amount,
            "TX_DURING_WEEKEND": float(weekend),
            "TX_DURING_NIGHT": float(night),
        }
        samples.append({name: values[name] for name in names})
    if any(name not in _SYNTHETIC_NAMES for name in names):
        for overrides in _HISTORY_SYNTHETIC:
            values = {**base, **overrides}
            samples.append({name: values[name] for name in names})
    return samples


_SYNTHETIC_NAMES = frozenset({"TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"})


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
