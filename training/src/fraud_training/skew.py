"""Training/serving skew: a training set built from the decision log against the
offline pipeline's features of the same replayed period (`replay` folder).

Same transactions, same labels, the feature matrices compared value by value, and a
forest trained on each (same seed, same trainer) asked for the same probabilities.
"""

from __future__ import annotations

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
    """features.jsonl (the offline features) and each transaction's first outcome
    report in events.jsonl (the simulator's truth) as TX_FRAUD, by TRANSACTION_ID."""
    rows: dict[int, list[float]] = {}
    with (replay / "features.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            rows[int(entry["transaction_id"])] = [float(entry["features"][name]) for name in names]
    labels: dict[int, int] = {}
    with (replay / "events.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            outcome = json.loads(line).get("outcome")
            if outcome is not None and not outcome.get("supersedes", False):
                labels.setdefault(int(outcome["transaction_id"]), int(outcome["outcome"] == "fraud"))
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=names)
    frame["TX_FRAUD"] = pd.Series(labels, dtype="Int64")
    return frame


def compare(training_set: Path, replay: Path, seed: int = 0) -> SkewReport:
    logged = pd.read_csv(training_set, float_precision="round_trip").set_index("TRANSACTION_ID")
    first, last = logged.columns.get_loc("MODEL_VERSION") + 1, logged.columns.get_loc("TX_FRAUD")
    names = list(logged.columns[first:last])
    offline = offline_frame(replay, names)
    missing = int((~logged.index.isin(offline.index)).sum())
    if missing or logged.empty:
        raise PipelineError(f"{missing} of {len(logged)} logged transactions have no offline features")
    offline = offline.loc[logged.index]
    x_logged = logged[names].to_numpy(dtype=np.float64)
    x_offline = offline[names].to_numpy(dtype=np.float64)
    y_logged = logged["TX_FRAUD"].to_numpy(dtype=np.int64)
    y_offline = offline["TX_FRAUD"].to_numpy(dtype=np.int64)
    config = ForestConfig(n_estimators=20, max_depth=6, random_state=seed, n_jobs=1)
    p_logged = fit_forest(x_logged, y_logged, config).predict_proba(x_offline.astype(np.float32))
    p_offline = fit_forest(x_offline, y_offline, config).predict_proba(x_offline.astype(np.float32))
    return SkewReport(
        transactions=len(logged),
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
