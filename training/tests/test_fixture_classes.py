"""Class order in the fixtures: string-labelled models whose legitimate class is
not column 0, manifests that list the classes in another order than the model
(the service must refuse them), a graph that declares no labels, and the answer
files the service's tests compare with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from fraud_training.export import ExportOptions
from fraud_training.features import FeatureSpec, features_for_transaction
from fraud_training.fixtures import (
    FIXTURES,
    REORDERED,
    answer_transactions,
    column_probabilities,
    expected_answer,
    service_classes,
)
from fraud_training.manifest import ManifestError, ModelIdentity, build_manifest, validate_manifest
from fraud_training.paths import RepoPaths
from fraud_training.train import TASK_SPECS

LABELLED = [f for f in FIXTURES if f.labels is not None and f.kind == "forest"]


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _declared_labels(model_bytes: bytes) -> dict[str, list[str]]:
    """op_type -> classlabels_strings of every node that declares string labels."""
    found: dict[str, list[str]] = {}
    for node in onnx.load_from_string(model_bytes).graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings":
                found[node.op_type] = [label.decode("utf-8") for label in attribute.strings]
            if attribute.name == "classlabels_int64s":
                found[node.op_type] = [str(label) for label in attribute.ints]
    return found


@pytest.mark.parametrize("fixture", LABELLED, ids=[f.stem for f in LABELLED])
def test_string_labelled_manifest_lists_the_model_columns_and_names_the_legitimate_class(
    fixture: Any, paths: RepoPaths
) -> None:
    manifest = _read(paths.fixtures / f"{fixture.stem}.json")
    labels = [entry["label"] for entry in manifest["classes"]]
    assert labels == sorted(fixture.labels)  # scikit-learn's order, not the training order
    declared = _declared_labels((paths.fixtures / manifest["model_file"]).read_bytes())
    assert declared["TreeEnsembleClassifier"] == labels
    assert ("ZipMap" in declared) == fixture.export.zipmap
    assert declared.get("ZipMap", labels) == labels
    assert manifest["schema_version"] == 2
    assert manifest["legitimate_class"] == fixture.labels[0]
    assert labels.index(manifest["legitimate_class"]) != 0


def test_graph_fixture_declares_no_class_labels(paths: RepoPaths) -> None:
    manifest = _read(paths.fixtures / "binary-graph-tensor-f32.json")
    assert _declared_labels((paths.fixtures / manifest["model_file"]).read_bytes()) == {}
    assert manifest["outputs"] == {"label": "label", "probabilities": "probabilities"}
    assert [entry["label"] for entry in manifest["classes"]] == ["FRAUD", "simple_transaction"]
    assert manifest["legitimate_class"] == "simple_transaction"


@pytest.mark.parametrize("stem", REORDERED)
def test_reordered_manifest_differs_from_its_model_only_in_class_order(
    stem: str, paths: RepoPaths, schema: dict[str, Any]
) -> None:
    original = _read(paths.fixtures / f"{stem}.json")
    reordered = _read(paths.fixtures / f"{stem}-reordered.json")
    validate_manifest(reordered, schema)  # refused for its class order only, not for its form
    model_labels = [entry["label"] for entry in original["classes"]]
    labels = [entry["label"] for entry in reordered["classes"]]
    assert sorted(labels) == sorted(model_labels) and labels != model_labels
    assert labels[0] == reordered["legitimate_class"]
    assert {key: value for key, value in reordered.items() if key != "classes"} == {
        key: value for key, value in original.items() if key != "classes"
    }


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_answer_file_is_what_onnxruntime_gives_now(fixture: Any, paths: RepoPaths, spec: FeatureSpec) -> None:
    manifest = _read(paths.fixtures / f"{fixture.stem}.json")
    answers = _read(paths.fixtures / "answers" / f"{fixture.stem}.json")
    cases = answers["cases"]
    assert [case["transaction"] for case in cases] == answer_transactions()
    names = manifest["features"]
    features = [features_for_transaction(case["transaction"], spec) for case in cases]
    assert [case["features"] for case in cases] == [{name: f[name] for name in names} for f in features]
    matrix = np.array([[f[name] for name in names] for f in features])
    model_bytes = (paths.fixtures / manifest["model_file"]).read_bytes()
    outputs = column_probabilities(
        model_bytes, manifest["outputs"]["probabilities"], matrix, manifest["input"]["element_type"]
    )
    assert [case["model_output"] for case in cases] == outputs.tolist()
    assert [case["answer"] for case in cases] == [expected_answer(manifest, row) for row in outputs]
    predicted = {case["answer"]["class_id"] for case in cases}
    assert len(predicted) >= 2, "the answers should cover a legitimate and a fraud class"


def _manifest(task: str, labels: list[str], legitimate: str | None = None) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "task": task,
        "classes": [{"id": i, "label": label} for i, label in enumerate(labels)],
        "threshold": 0.5,
    }
    if legitimate is not None:
        manifest["legitimate_class"] = legitimate
    return manifest


def test_service_order_puts_the_legitimate_class_first_then_the_columns_in_order() -> None:
    labels = ["scenario_1", "scenario_2", "scenario_3", "simple_transaction"]
    assert service_classes(_manifest("multiclass", labels, "simple_transaction")) == [
        ("simple_transaction", 3),
        ("scenario_1", 0),
        ("scenario_2", 1),
        ("scenario_3", 2),
    ]
    # Schema version 1: no legitimate_class, the legitimate class is column 0.
    assert service_classes(_manifest("binary", ["simple_transaction", "FRAUD"])) == [
        ("simple_transaction", 0),
        ("FRAUD", 1),
    ]


def test_binary_answer_thresholds_the_probability_of_the_class_that_is_not_legitimate() -> None:
    manifest = _manifest("binary", ["fraud", "legit"], "legit")
    assert expected_answer(manifest, [0.7, 0.3]) == {
        "prediction": "fraud",
        "class_id": 1,
        "class_probability": 0.7,
        "fraud_probability": 0.7,
        "probabilities": [0.3, 0.7],
    }
    assert expected_answer(manifest, [0.25, 0.75])["prediction"] == "legit"
    assert expected_answer(manifest, [0.5, 0.5])["class_id"] == 1  # at the threshold: fraud


def test_multiclass_answer_is_one_minus_legitimate_and_ties_go_to_the_lowest_id() -> None:
    manifest = _manifest("multiclass", ["a", "b", "c", "legit"], "legit")
    answer = expected_answer(manifest, [0.25, 0.25, 0.0, 0.5])
    assert answer["prediction"] == "legit" and answer["fraud_probability"] == 0.5
    tie = expected_answer(manifest, [0.4, 0.4, 0.0, 0.2])
    assert (tie["prediction"], tie["class_id"]) == ("a", 1)
    clamped = expected_answer(manifest, [-1e-7, 0.0, 0.0, 1.0000001])
    assert clamped["probabilities"] == [1.0, 0.0, 0.0, 0.0] and clamped["fraud_probability"] == 0.0


def _built(legitimate: str | None) -> dict[str, Any]:
    return build_manifest(
        identity=ModelIdentity("fraud-binary", "1.0.0", "2026-01-01T00:00:00Z", "m.onnx"),
        task=TASK_SPECS["binary"],
        model_bytes=b"onnx",
        feature_spec_version=1,
        feature_names=["TX_AMOUNT"],
        export=ExportOptions(),
        threshold=0.5,
        metrics={},
        training={},
        samples=[{"features": {"TX_AMOUNT": 1.0}, "probabilities": [1.0, 0.0]}],
        legitimate_class=legitimate,
    )


def test_manifest_names_its_legitimate_class_in_schema_version_2(schema: dict[str, Any]) -> None:
    unnamed = _built(None)
    assert unnamed["schema_version"] == 1 and "legitimate_class" not in unnamed
    validate_manifest(unnamed, schema)
    named = _built("simple_transaction")
    assert named["schema_version"] == 2 and named["legitimate_class"] == "simple_transaction"
    validate_manifest(named, schema)
    with pytest.raises(ManifestError, match="legitimate_class 'legit' is not one of the class labels"):
        validate_manifest({**named, "legitimate_class": "legit"}, schema)
    duplicated = {**named, "classes": [{"id": 0, "label": "FRAUD"}, {"id": 1, "label": "FRAUD"}]}
    with pytest.raises(ManifestError, match="class labels must differ"):
        validate_manifest({**duplicated, "legitimate_class": "FRAUD"}, schema)
