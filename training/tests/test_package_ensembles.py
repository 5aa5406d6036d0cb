"""Ensembles and one-vs-rest models exported without ZipMap name their classes only in
their label output (their members name [0, 1]): `package` and `verify` read the class
order from the label output, so the fraud probability is the fraud column; schema-1
manifests of string-labelled models, inputs of no fixed width and integer labels
other than 0..n-1 are refused with a message that says what to do."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import ClassifierMixin
from sklearn.ensemble import BaggingClassifier, RandomForestClassifier, StackingClassifier, VotingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from fraud_training.features import FeatureSpec, compute_features
from fraud_training.manifest import ManifestError, manifest_bytes
from fraud_training.package import SAMPLE_SIMULATION, PackageError, PackageRequest, package_model
from fraud_training.simulate import simulate
from fraud_training.verify import verify_model

CREATED_AT = "2026-02-03T04:05:06Z"
STATELESS = ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT")
OPSETS = {"": 17, "ai.onnx.ml": 3}
BINARY_NAMES = np.array(["legit", "fraud"])  # sorted: fraud, legit
SCENARIO_NAMES = np.array(["legit", "over_220", "terminal", "card"])  # sorted: card, legit, ...


@pytest.fixture(scope="module")
def data(spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stateless features of a small simulation, string binary and scenario targets."""
    stream = simulate(replace(SAMPLE_SIMULATION, seed=23)).transactions
    x = compute_features(stream, spec, STATELESS).to_numpy().astype(np.float32)
    return (
        x,
        BINARY_NAMES[stream["TX_FRAUD"].to_numpy()],
        SCENARIO_NAMES[stream["TX_FRAUD_SCENARIO"].to_numpy()],
    )


def _logistic() -> LogisticRegression:
    return LogisticRegression(max_iter=200)


def _forest() -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0)


def _fit(model: ClassifierMixin, x: np.ndarray, y: np.ndarray) -> ClassifierMixin:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def _export(model: ClassifierMixin, width: int | None = len(STATELESS)) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    return convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, width]))],
        target_opset=OPSETS,
        options={id(model): {"zipmap": False}},
    ).SerializeToString()


ENSEMBLES: dict[str, Callable[[], ClassifierMixin]] = {
    "voting-soft": lambda: VotingClassifier(
        [("lr", _logistic()), ("rf", _forest())], voting="soft", flatten_transform=False
    ),
    "bagging": lambda: BaggingClassifier(_logistic(), n_estimators=3, random_state=0),
    "stacking": lambda: StackingClassifier([("lr", _logistic()), ("rf", _forest())], cv=3),
}


def _package(tmp_path: Path, onnx_bytes: bytes, spec: FeatureSpec, schema: dict[str, Any], **options: Any):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx_bytes)
    request = PackageRequest(model_path=path, task="binary", features=STATELESS, created_at=CREATED_AT)
    return package_model(replace(request, **options), spec, schema)


def _assert_library_probabilities(manifest: dict[str, Any], model: ClassifierMixin) -> None:
    """The samples are predict_proba's, column for column, and the classes its classes_."""
    assert [c["label"] for c in manifest["classes"]] == [str(c) for c in model.classes_]
    matrix = np.array([[s["features"][n] for n in manifest["features"]] for s in manifest["samples"]])
    recorded = np.array([s["probabilities"] for s in manifest["samples"]])
    assert np.abs(recorded - model.predict_proba(matrix.astype(np.float32))).max() <= 1e-5


@pytest.mark.parametrize("name", ENSEMBLES, ids=ENSEMBLES.keys())
def test_an_ensemble_on_string_labels_is_packaged_in_its_label_outputs_order(
    name: str, data, spec, schema, tmp_path
) -> None:
    x, binary, _ = data
    model = _fit(ENSEMBLES[name](), x, binary)
    onnx_bytes = _export(model)
    packaged = _package(tmp_path / "a", onnx_bytes, spec, schema, legitimate_class="legit")
    manifest = packaged.manifest
    assert manifest["classes"] == [{"id": 0, "label": "fraud"}, {"id": 1, "label": "legit"}]
    assert manifest["legitimate_class"] == "legit"
    _assert_library_probabilities(manifest, model)
    verify_model(packaged.manifest_path, schema, spec)
    # Naming the columns legit, fraud (the members' [0, 1] read as the task's order) is refused.
    with pytest.raises(PackageError, match=r"names its classes \[fraud, legit\]"):
        _package(
            tmp_path / "b",
            onnx_bytes,
            spec,
            schema,
            class_labels=("legit", "fraud"),
            legitimate_class="legit",
        )
    # A manifest saying so by hand is refused by verify, naming where the classes come from.
    swapped = json.loads(packaged.manifest_path.read_text(encoding="utf-8"))
    swapped["classes"] = [{"id": 0, "label": "legit"}, {"id": 1, "label": "fraud"}]
    for sample in swapped["samples"]:
        sample["probabilities"].reverse()
    packaged.manifest_path.write_bytes(manifest_bytes(swapped))
    with pytest.raises(
        ManifestError,
        match=r"the model's classes are \[fraud, legit\] \(constant \w+ of ArrayFeatureExtractor",
    ):
        verify_model(packaged.manifest_path, schema, spec)


def test_one_vs_rest_on_string_labels_is_packaged_with_all_its_classes(data, spec, schema, tmp_path) -> None:
    """Its members are binary ([0, 1] each, behind a Concat); its label output names the four classes."""
    x, _, scenario = data
    model = _fit(OneVsRestClassifier(_logistic()), x, scenario)
    packaged = _package(tmp_path, _export(model), spec, schema, task="multiclass", legitimate_class="legit")
    _assert_library_probabilities(packaged.manifest, model)
    assert packaged.manifest["legitimate_class"] == "legit"
    verify_model(packaged.manifest_path, schema, spec)


def test_one_vs_rest_on_integer_labels_is_packaged(data, spec, schema, tmp_path) -> None:
    x, _, scenario = data
    integers = np.array([list(SCENARIO_NAMES).index(name) for name in scenario])
    model = _fit(OneVsRestClassifier(_logistic()), x, integers)
    packaged = _package(tmp_path, _export(model), spec, schema, task="multiclass")
    assert [c["id"] for c in packaged.manifest["classes"]] == [0, 1, 2, 3]
    verify_model(packaged.manifest_path, schema, spec)


def test_a_schema_1_manifest_of_a_string_labelled_model_is_refused_with_how_to_fix_it(
    data, spec, schema, tmp_path
) -> None:
    """Version 1 takes class id 0 as legitimate: column 0 of [fraud, legit] is fraud."""
    x, binary, _ = data
    model = _fit(_forest(), x, binary)
    packaged = _package(tmp_path, _export(model), spec, schema, legitimate_class="legit")
    old = json.loads(packaged.manifest_path.read_text(encoding="utf-8"))
    old["schema_version"] = 1
    del old["legitimate_class"]
    packaged.manifest_path.write_bytes(manifest_bytes(old))
    refusal = (
        r"schema_version 1 manifest takes class id 0 \(fraud\) as legitimate.*"
        r"set \"schema_version\": 2 and \"legitimate_class\".*--legitimate-class"
    )
    with pytest.raises(ManifestError, match=refusal) as refused:
        verify_model(packaged.manifest_path, schema, spec)
    assert getattr(refused.value, "reason", None) == "manifest"


def test_an_input_of_no_fixed_width_needs_the_features_named(data, spec, schema, tmp_path) -> None:
    x, binary, _ = data
    onnx_bytes = _export(_fit(_forest(), x, binary), width=None)
    with pytest.raises(PackageError, match=r"input width is not fixed.*give --features"):
        _package(tmp_path / "a", onnx_bytes, spec, schema, features=None, legitimate_class="legit")
    packaged = _package(tmp_path / "b", onnx_bytes, spec, schema, legitimate_class="legit")
    assert packaged.manifest["features"] == list(STATELESS)


def test_integer_labels_other_than_the_class_ids_say_how_to_fix_them(data, spec, schema, tmp_path) -> None:
    x, binary, _ = data
    model = _fit(_forest(), x, np.where(binary == "fraud", 2, 1))
    with pytest.raises(
        PackageError, match=r"has \[1, 2\]: train it again on labels 0 to 1, 0 the legitimate class"
    ):
        _package(tmp_path, _export(model), spec, schema)
