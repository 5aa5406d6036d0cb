"""One small end-to-end run: train, export, check parity, write and verify manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from fraud_training.export import ExportOptions, ParityError, to_onnx_bytes, verify_parity
from fraud_training.features import FeatureSpec
from fraud_training.fixtures import SMALL_DATA, SMALL_FOREST
from fraud_training.inference import onnx_probabilities, open_session, strip_zipmap, zipmap_class_labels
from fraud_training.pipeline import BuiltModel, ModelRequest, PreparedData, build_model, prepare_data
from fraud_training.train import TASK_SPECS, ForestConfig, MissingClassError, check_classes, fit_forest
from fraud_training.verify import verify_model

CREATED_AT = "2026-01-02T03:04:05Z"


@pytest.fixture(scope="module")
def data(spec: FeatureSpec) -> PreparedData:
    return prepare_data(SMALL_DATA, spec)


def _build(data: PreparedData, request: ModelRequest, schema: dict[str, Any], out: Path) -> BuiltModel:
    return build_model(data, request, CREATED_AT, schema, out)


REQUESTS = [
    ModelRequest("binary", "b-zipmap-f32", forest=SMALL_FOREST, threshold=0.5),
    ModelRequest(
        "binary", "b-zipmap-f64", forest=SMALL_FOREST, export=ExportOptions("float64"), threshold=0.5
    ),
    ModelRequest(
        "multiclass", "m-tensor-f64", forest=SMALL_FOREST, export=ExportOptions("float64", zipmap=False)
    ),
    ModelRequest("multiclass", "m-zipmap-f32", forest=SMALL_FOREST),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=[r.file_stem for r in REQUESTS])
def test_train_export_verify(
    request_: ModelRequest, data: PreparedData, schema: dict[str, Any], spec: FeatureSpec, tmp_path: Path
) -> None:
    built = _build(data, request_, schema, tmp_path)
    assert built.parity_difference <= 1e-5
    assert built.model_path.name == f"{request_.file_stem}.onnx"
    assert built.manifest_path.name == f"{request_.file_stem}.json"
    verified = verify_model(built.manifest_path, schema, spec)
    assert verified.max_sample_difference <= 1e-5
    manifest = verified.manifest
    assert manifest["name"] == TASK_SPECS[request_.task].model_name
    assert manifest["input"] == {"name": "input", "element_type": request_.export.element_type}
    assert 8 <= len(manifest["samples"]) <= 12
    assert ("threshold" in manifest) == (request_.task == "binary")
    labels = zipmap_class_labels(built.model_bytes)
    assert labels == (list(range(len(manifest["classes"]))) if request_.export.zipmap else None)


def test_same_inputs_give_the_same_bytes(data: PreparedData, schema: dict[str, Any], tmp_path: Path) -> None:
    request = REQUESTS[0]
    first = _build(data, request, schema, tmp_path / "a")
    second = _build(data, request, schema, tmp_path / "b")
    assert first.model_bytes == second.model_bytes
    assert first.manifest_path.read_bytes() == second.manifest_path.read_bytes()


def test_zipmap_removed_graph_gives_the_same_probabilities(
    data: PreparedData, schema: dict[str, Any], tmp_path: Path
) -> None:
    built = _build(data, REQUESTS[3], schema, tmp_path)
    stripped = strip_zipmap(built.model_bytes)
    graph = onnx.load_from_string(stripped).graph
    assert "ZipMap" not in {node.op_type for node in graph.node}
    with_zipmap = onnx_probabilities(open_session(built.model_bytes), data.test_features, "float32")
    without = onnx_probabilities(open_session(stripped), data.test_features, "float32")
    assert np.array_equal(with_zipmap, without)


def test_parity_check_fails_for_a_different_model(data: PreparedData) -> None:
    target = data.train["TX_FRAUD"].to_numpy()
    one = fit_forest(data.train_features, target, ForestConfig(n_estimators=3, max_depth=3, random_state=1))
    other = fit_forest(data.train_features, target, ForestConfig(n_estimators=3, max_depth=3, random_state=2))
    other_bytes = to_onnx_bytes(other, data.train_features.shape[1], ExportOptions())
    with pytest.raises(ParityError, match="differs"):
        verify_parity(one, other_bytes, data.test_features, "float32")


def test_default_export_has_one_opset_per_domain(data: PreparedData) -> None:
    model = fit_forest(data.train_features, data.train["TX_FRAUD"].to_numpy(), SMALL_FOREST)
    for options in (ExportOptions(), ExportOptions("float64", zipmap=False)):
        graph = onnx.load_from_string(to_onnx_bytes(model, 3, options))
        domains = [entry.domain for entry in graph.opset_import]
        assert len(domains) == len(set(domains))


def test_training_without_a_class_is_refused() -> None:
    with pytest.raises(MissingClassError, match="scenario_1"):
        check_classes(np.array([0, 2, 3, 0]), TASK_SPECS["multiclass"])


def test_history_features_are_computed_before_the_split(spec: FeatureSpec) -> None:
    """The training block's first day sees the customers' and terminals' earlier days."""
    from dataclasses import replace

    from fraud_training.features import compute_features
    from fraud_training.simulate import simulate
    from fraud_training.split import TimeSplit

    config = replace(SMALL_DATA, features=None, split=TimeSplit(train_days=14, delay_days=7, test_days=7))
    data = prepare_data(config, spec)
    whole = compute_features(simulate(config.simulation).transactions, spec, data.feature_names)
    assert np.array_equal(data.train_features, whole.loc[data.train.index].to_numpy())
    names = list(data.feature_names)
    first_day = (data.train["TX_TIME_DAYS"] == data.days.train.first).to_numpy()
    counts_30 = data.train_features[first_day, names.index("CUSTOMER_ID_NB_TX_30DAY_WINDOW")]
    counts_1 = data.train_features[first_day, names.index("CUSTOMER_ID_NB_TX_1DAY_WINDOW")]
    assert (counts_30 > counts_1).mean() > 0.5
    assert (data.train_features[first_day, names.index("TERMINAL_ID_NB_TX_30DAY_WINDOW")] > 0).any()
    assert data.feature_spec_version == 3  # the bundled features include the latest streak (version 3)
