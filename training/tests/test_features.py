"""Both feature implementations reproduce every test vector of models/feature-spec.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fraud_training.features import (
    FeatureSpec,
    compute_features,
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
    frame = compute_features(request_frame([vector["transaction"]]), spec)
    assert frame.iloc[0].to_dict() == vector["expected"]


def test_vectorised_matches_all_vectors_in_one_frame(spec: FeatureSpec) -> None:
    """Rows with and without tx_datetime mixed in one frame."""
    frame = compute_features(request_frame([v["transaction"] for v in VECTORS]), spec)
    assert frame.to_dict(orient="records") == [v["expected"] for v in VECTORS]


def test_columns_follow_the_spec_order(spec: FeatureSpec) -> None:
    frame = compute_features(request_frame([VECTORS[0]["transaction"]]), spec)
    assert tuple(frame.columns) == spec.names == ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT")
    assert list(features_for_transaction(VECTORS[0]["transaction"], spec)) == list(spec.names)


def test_both_implementations_agree_on_simulated_transactions(
    spec: FeatureSpec, small_simulation: Simulation
) -> None:
    frame = small_simulation.transactions
    rows = frame.sample(300, random_state=0)
    vectorised = compute_features(rows, spec)
    for (_, row), (_, expected) in zip(rows.iterrows(), vectorised.iterrows(), strict=True):
        by_seconds = {"tx_amount": row["TX_AMOUNT"], "tx_time_seconds": int(row["TX_TIME_SECONDS"])}
        by_datetime = {"tx_amount": row["TX_AMOUNT"], "tx_datetime": row["TX_DATETIME"].isoformat() + "Z"}
        assert features_for_transaction(by_seconds, spec) == expected.to_dict()
        assert features_for_transaction(by_datetime, spec) == expected.to_dict()


def test_simulator_datetime_and_seconds_give_the_same_features(
    spec: FeatureSpec, small_simulation: Simulation
) -> None:
    frame = small_simulation.transactions
    from_datetime = compute_features(frame[["TX_AMOUNT", "TX_DATETIME"]], spec)
    from_seconds = compute_features(frame[["TX_AMOUNT", "TX_TIME_SECONDS"]], spec)
    assert from_datetime.equals(from_seconds)
    assert set(np.unique(from_seconds["TX_DURING_NIGHT"])) == {0.0, 1.0}


def test_a_transaction_without_any_time_is_rejected(spec: FeatureSpec) -> None:
    with pytest.raises(ValueError, match="tx_datetime or tx_time_seconds"):
        features_for_transaction({"tx_amount": 1.0}, spec)
    with pytest.raises(ValueError, match="neither"):
        compute_features(request_frame([{"tx_amount": 1.0}]), spec)


def test_a_spec_feature_without_implementation_is_refused(tmp_path: Path) -> None:
    raw = json.loads(repo_paths().feature_spec.read_text(encoding="utf-8"))
    raw["features"].append({**raw["features"][0], "name": "TX_SOMETHING_NEW"})
    path = tmp_path / "feature-spec.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match="TX_SOMETHING_NEW"):
        load_feature_spec(path)
