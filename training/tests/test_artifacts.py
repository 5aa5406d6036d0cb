"""The committed artifacts: bundled models in models/ and the service's fixtures in
test/fixtures/models/. Checked as they are on disk (not retrained), except the
fixtures, which are small enough to rebuild and compare byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest

from fraud_training.features import FeatureSpec
from fraud_training.fixtures import FIXTURE_CREATED_AT, FIXTURES, REORDERED, build_fixtures
from fraud_training.forest_defaults import bundled_features
from fraud_training.inference import zipmap_class_labels
from fraud_training.manifest import sha256_hex, validate_manifest
from fraud_training.paths import RepoPaths, repo_paths
from fraud_training.verify import verify_model
from support import artifact_differences, names_its_model

BUNDLED = {"fraud-binary": "binary", "fraud-scenario": "multiclass"}
CLASS_LABELS = {
    "binary": ["simple_transaction", "FRAUD"],
    "multiclass": ["simple_transaction", "scenario_1", "scenario_2", "scenario_3"],
}


def _manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _graph(path: Path) -> onnx.GraphProto:
    return onnx.load(str(path)).graph


# --- bundled models -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_manifest_validates_and_matches_its_model(
    name: str, paths: RepoPaths, schema: dict[str, Any], spec: FeatureSpec
) -> None:
    manifest_path = paths.models / f"{name}.json"
    manifest = _manifest(manifest_path)
    validate_manifest(manifest, schema)
    assert manifest["name"] == name and manifest["task"] == BUNDLED[name]
    assert manifest["model_file"] == f"{name}.onnx"
    assert manifest["sha256"] == sha256_hex((paths.models / manifest["model_file"]).read_bytes())
    assert [c["label"] for c in manifest["classes"]] == CLASS_LABELS[manifest["task"]]
    assert manifest["features"] == list(bundled_features(spec.names))
    assert (manifest["schema_version"], manifest["feature_spec_version"]) == (2, 3)
    assert manifest["legitimate_class"] == "simple_transaction"
    assert manifest["input"] == {"name": "input", "element_type": "float32"}
    assert manifest["outputs"] == {"label": "output_label", "probabilities": "output_probability"}
    assert manifest["sample_tolerance"] == 1e-5
    assert 8 <= len(manifest["samples"]) <= 13
    assert manifest["metrics"]["onnx_max_abs_difference_vs_sklearn"] <= 1e-5
    if manifest["task"] == "binary":
        assert manifest["threshold"] == 0.5
    verify_model(manifest_path, schema, spec)  # signature + samples through onnxruntime


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_graph_ends_in_a_zipmap(name: str, paths: RepoPaths) -> None:
    model_bytes = (paths.models / f"{name}.onnx").read_bytes()
    graph = onnx.load_from_string(model_bytes).graph
    assert "ZipMap" in [node.op_type for node in graph.node]
    assert [o.name for o in graph.output] == ["output_label", "output_probability"]
    assert graph.output[1].type.WhichOneof("value") == "sequence_type"
    assert [i.name for i in graph.input] == ["input"]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert zipmap_class_labels(model_bytes) == list(range(len(CLASS_LABELS[BUNDLED[name]])))


def test_bundled_models_are_small(paths: RepoPaths) -> None:
    total = sum((paths.models / f"{name}.onnx").stat().st_size for name in BUNDLED)
    assert total < 5 * 1024 * 1024


def test_bundled_models_catch_every_scenario(paths: RepoPaths) -> None:
    """The history features find compromised terminals and cards, not only big amounts."""
    binary = _manifest(paths.models / "fraud-binary.json")["metrics"]
    assert binary["recall_by_scenario"]["scenario_1"] > 0.95
    assert binary["auc_roc"] > 0.85 and binary["average_precision"] > 0.7
    scenario = _manifest(paths.models / "fraud-scenario.json")["metrics"]
    assert scenario["recall_by_scenario"]["scenario_2"] > 0.2  # v1 models never predicted it
    matrix = scenario["confusion_matrix"]
    assert [sum(row) for row in matrix] == list(scenario["class_counts"]["test"].values())


def test_report_covers_both_models(paths: RepoPaths) -> None:
    report = (paths.models / "REPORT.md").read_text(encoding="utf-8")
    for needle in (
        "fraud-binary",
        "fraud-scenario",
        "CP@100 (handbook: found cards removed)",
        "2 (compromised terminal)",
        "reachable (computed)",
        "ceiling (estimated)",
        "Permutation importance",
        "training/run build-models",
    ):
        assert needle in report


# --- fixtures for the TypeScript service ------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_fixture_is_valid_and_small(
    fixture: Any, paths: RepoPaths, schema: dict[str, Any], spec: FeatureSpec
) -> None:
    manifest_path = paths.fixtures / f"{fixture.stem}.json"
    model_path = paths.fixtures / f"{fixture.stem}.onnx"
    assert model_path.stat().st_size < 200 * 1024
    verified = verify_model(manifest_path, schema, spec)
    manifest = verified.manifest
    assert manifest["model_file"] == model_path.name
    assert manifest["name"] == ("fraud-binary" if fixture.task == "binary" else "fraud-scenario")
    assert manifest["version"] == fixture.version
    assert manifest["input"]["element_type"] == fixture.export.element_type
    graph = _graph(model_path)
    has_zipmap = "ZipMap" in [node.op_type for node in graph.node]
    assert has_zipmap == fixture.export.zipmap
    assert manifest["outputs"]["probabilities"] == ("output_probability" if has_zipmap else "probabilities")


def test_fixture_set_is_complete(paths: RepoPaths) -> None:
    expected = {
        "binary-zipmap-f32",
        "binary-tensor-f32",
        "binary-zipmap-f64",
        "scenario-zipmap-f32",
        "scenario-tensor-f64",
        "binary-zipmap-f32-v2",
        "binary-strings-zipmap-f32",
        "binary-strings-tensor-f64",
        "scenario-strings-zipmap-f32",
        "scenario-strings-tensor-f32",
        "binary-graph-tensor-f32",
    }
    assert {f.stem for f in FIXTURES} == expected
    assert expected <= {p.stem for p in paths.fixtures.glob("*.onnx")}


def test_v2_fixture_gives_other_probabilities(paths: RepoPaths) -> None:
    v1 = _manifest(paths.fixtures / "binary-zipmap-f32.json")
    v2 = _manifest(paths.fixtures / "binary-zipmap-f32-v2.json")
    assert (v1["version"], v2["version"]) == ("1.0.0", "2.0.0")
    assert v1["sha256"] != v2["sha256"]
    assert [s["probabilities"] for s in v1["samples"]] != [s["probabilities"] for s in v2["samples"]]


def test_fixtures_regenerate_to_the_committed_ones(
    tmp_path: Path, spec: FeatureSpec, schema: dict[str, Any]
) -> None:
    """Deterministic, and the committed fixtures are up to date with the code: the same
    graphs, names, shapes, labels, manifests and answers, floats within a tolerance (trained
    thresholds and onnxruntime's outputs may differ in their last bits across CPUs)."""
    build_fixtures(spec, schema, tmp_path, FIXTURE_CREATED_AT)
    committed = repo_paths().fixtures
    names = [fixture.stem + suffix for fixture in FIXTURES for suffix in (".onnx", ".json")]
    names += [f"answers/{fixture.stem}.json" for fixture in FIXTURES]
    names += [f"{stem}-reordered.json" for stem in REORDERED]
    differences = [
        difference
        for name in names
        for difference in artifact_differences(
            name, (tmp_path / name).read_bytes(), (committed / name).read_bytes()
        )
    ]
    assert differences == []
    for fixture in FIXTURES:
        assert names_its_model(committed, committed / f"{fixture.stem}.json"), fixture.stem
        assert names_its_model(tmp_path, tmp_path / f"{fixture.stem}.json"), fixture.stem
