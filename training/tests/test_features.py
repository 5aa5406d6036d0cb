"""Both stateless feature implementations reproduce every test vector of
models/feature-spec.json (history features: test_history.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fraud_training.features import (
    FeatureSpec,
    compute_features,
    compute_stateless_features,
    features_for_transaction,
    load_feature_spec,
    request_frame,
)
from fraud_training.paths import repo_paths
from fraud_training.simulate import Simulation

VECTORS: list[dict[str, Any]] = json.loads(repo_paths().feature_spec.read_text(encoding="utf-8"))[
    "test_vectors"
]


def _ids() -> list[str]:
    return [vector["name"] for vector in VECTORS]


@pytest.mark.parametrize("vector", VECTORS, ids=_ids())
def test_single_transaction_matches_the_vector(vector: dict[str, Any], spec: FeatureSpec) -> None:
    assert features_for_transaction(vector["transaction"], spec) == vector["expected"]


@pytest.mark.parametrize("vector", VECTORS, ids=_ids())
def test_vectorised_matches_the_vector(vector: dict[str, Any], spec: FeatureSpec) -> None:
    frame = compute_stateless_features(request_frame([vector["transaction"]]), spec)
    assert frame.iloc[0].to_dict() == vector["expected"]


def test_vectorised_matches_all_vectors_in_one_frame(spec: FeatureSpec) -> None:
    """Rows with and without tx_datetime mixed in one frame."""
    frame = compute_stateless_features(request_frame([v["transaction"] for v in VECTORS]), spec)
    assert frame.to_dict(orient="records") == [v["expected"] for v in VECTORS]


def test_columns_follow_the_spec_order(spec: FeatureSpec) -> None:
    frame = compute_stateless_features(request_frame([VECTORS[0]["transaction"]]), spec)
    stateless = ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT")
    assert tuple(frame.columns) == spec.stateless_names == stateless
    assert list(features_for_transaction(VECTORS[0]["transaction"], spec)) == list(stateless)
    assert spec.names[:3] == stateless and len(spec.names) == 19


def test_full_matrix_follows_the_requested_order(spec: FeatureSpec, small_simulation: Simulation) -> None:
    names = ["TERMINAL_ID_RISK_7DAY_WINDOW", "TX_AMOUNT", "CUSTOMER_ID_NB_TX_1DAY_WINDOW"]
    frame = compute_features(small_simulation.transactions, spec, names)
    assert list(frame.columns) == names
    assert (frame["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] >= 1).all()
    assert frame["TX_AMOUNT"].equals(small_simulation.transactions["TX_AMOUNT"].astype(float))
    with pytest.raises(ValueError, match="NOT_A_FEATURE"):
        compute_features(small_simulation.transactions, spec, ["NOT_A_FEATURE"])


def test_feature_spec_version_of_a_model(spec: FeatureSpec) -> None:
    assert spec.version_for(["TX_AMOUNT", "TX_DURING_NIGHT"]) == 1
    assert spec.version_for(["TX_AMOUNT", "TERMINAL_ID_RISK_7DAY_WINDOW"]) == 2
    assert spec.version_for(["TX_AMOUNT", "TERMINAL_ID_FRAUD_STREAK_LATEST_30DAY_WINDOW"]) == 3


def test_both_implementations_agree_on_simulated_transactions(
    spec: FeatureSpec, small_simulation: Simulation
) -> None:
    frame = small_simulation.transactions
    rows = frame.sample(300, random_state=0)
    vectorised = compute_stateless_features(rows, spec)
    for (_, row), (_, expected) in zip(rows.iterrows(), vectorised.iterrows(), strict=True):
        by_seconds = {"tx_amount": row["TX_AMOUNT"], "tx_time_seconds": int(row["TX_TIME_SECONDS"])}
        by_datetime = {"tx_amount": row["TX_AMOUNT"], "tx_datetime": row["TX_DATETIME"].isoformat() + "Z"}
        assert features_for_transaction(by_seconds, spec) == expected.to_dict()
        assert features_for_transaction(by_datetime, spec) == expected.to_dict()


def test_simulator_datetime_and_seconds_give_the_same_features(
    spec: FeatureSpec, small_simulation: Simulation
) -> None:
    frame = small_simulation.transactions
    from_datetime = compute_stateless_features(frame[["TX_AMOUNT", "TX_DATETIME"]], spec)
    from_seconds = compute_stateless_features(frame[["TX_AMOUNT", "TX_TIME_SECONDS"]], spec)
    assert from_datetime.equals(from_seconds)
    assert set(np.unique(from_seconds["TX_DURING_NIGHT"])) == {0.0, 1.0}


def test_a_transaction_without_any_time_is_rejected(spec: FeatureSpec) -> None:
    with pytest.raises(ValueError, match="tx_datetime or tx_time_seconds"):
        features_for_transaction({"tx_amount": 1.0}, spec)
    with pytest.raises(ValueError, match="neither"):
        compute_stateless_features(request_frame([{"tx_amount": 1.0}]), spec)


def test_a_window_with_an_unknown_aggregate_is_refused(tmp_path: Path) -> None:
    raw = json.loads(repo_paths().feature_spec.read_text(encoding="utf-8"))
    window = next(f for f in raw["features"] if f["kind"] == "terminal_window")
    raw["features"].append({**window, "name": "TERMINAL_ID_MEDIAN_7DAY", "aggregate": "median_amount"})
    path = tmp_path / "feature-spec.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match="median_amount"):
        load_feature_spec(path)


def test_a_spec_feature_without_implementation_is_refused(tmp_path: Path) -> None:
    raw = json.loads(repo_paths().feature_spec.read_text(encoding="utf-8"))
    raw["features"].append({**raw["features"][0], "name": "TX_SOMETHING_NEW"})
    path = tmp_path / "feature-spec.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match="TX_SOMETHING_NEW"):
        load_feature_spec(path)
