"""Training/serving skew: a training set built from the decision log against the
offline pipeline's features of the same replayed period (`replay` folder).

Same transactions, same labels, the feature matrices compared value by value, and a
forest trained on each (same seed, same trainer) asked for the same probabilities.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_training.errors import PipelineError
from fraud_training.train import ForestConfig, fit_forest


@dataclass(frozen=True)
class SkewReport:
    transactions: int
    frauds: int
    features: int
    missing_offline: int
    label_differences: int
    features_exactly_equal: int
    max_feature_difference: float
    max_relative_feature_difference: float
    max_probability_difference: float
    predictions_differ: int

    def as_json(self) -> str:
        return json.dumps(asdict(self))


def offline_frame(replay: Path, names: list[str]) -> pd.DataFrame:
    """features.jsonl (the offline features) and, as TX_FRAUD, each transaction's last
    outcome in events.jsonl: the simulator's truth, or its last correction (a replay's
    corrections come in order and at most two a transaction, so the last is in force
    once the stream has been played), by TRANSACTION_ID."""
    rows: dict[int, list[float]] = {}
    with (replay / "features.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            rows[int(entry["transaction_id"])] = [float(entry["features"][name]) for name in names]
    labels: dict[int, int] = {}
    with (replay / "events.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            outcome = json.loads(line).get("outcome")
            if outcome is not None:
                labels[int(outcome["transaction_id"])] = int(outcome["outcome"] == "fraud")
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=names)
    frame["TX_FRAUD"] = pd.Series(labels, dtype="Int64")
    return frame


def read_training_set(path: Path) -> tuple[list[str], list[int], np.ndarray, np.ndarray]:
    """Feature names, transaction ids, features and TX_FRAUD of a training-set CSV,
    every value parsed by float() (exactly the double written)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    first, last = header.index("MODEL_VERSION") + 1, header.index("TX_FRAUD")
    ids = [int(row[0]) for row in rows]
    features = np.array([[float(value) for value in row[first:last]] for row in rows], dtype=np.float64)
    labels = np.array([int(row[last]) for row in rows], dtype=np.int64)
    return header[first:last], ids, features, labels


def compare(training_set: Path, replay: Path, seed: int = 0) -> SkewReport:
    names, ids, x_logged, y_logged = read_training_set(training_set)
    offline = offline_frame(replay, names)
    missing = sum(1 for transaction_id in ids if transaction_id not in offline.index)
    if missing or not ids:
        raise PipelineError(f"{missing} of {len(ids)} logged transactions have no offline features")
    offline = offline.loc[ids]
    x_offline = offline[names].to_numpy(dtype=np.float64)
    y_offline = offline["TX_FRAUD"].to_numpy(dtype=np.int64)
    config = ForestConfig(n_estimators=20, max_depth=6, random_state=seed, n_jobs=1)
    p_logged = fit_forest(x_logged, y_logged, config).predict_proba(x_offline.astype(np.float32))
    p_offline = fit_forest(x_offline, y_offline, config).predict_proba(x_offline.astype(np.float32))
    return SkewReport(
        transactions=len(ids),
        frauds=int(y_logged.sum()),
        features=len(names),
        missing_offline=missing,
        label_differences=int((y_logged != y_offline).sum()),
        features_exactly_equal=int((x_logged == x_offline).sum()),
        max_feature_difference=float(np.abs(x_logged - x_offline).max()),
        max_relative_feature_difference=float(
            (np.abs(x_logged - x_offline) / np.maximum(1.0, np.abs(x_offline))).max()
        ),
        max_probability_difference=float(np.abs(p_logged - p_offline).max()),
        predictions_differ=int((p_logged.argmax(axis=1) != p_offline.argmax(axis=1)).sum()),
    )
