"""Bring your own model: `package` reads what it needs from the ONNX file, writes a
schema-2 manifest and accepts it only if the service's checks (`verify`) do; the
probabilities it records are the training library's, in the manifest's class order."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from fraud_training.features import FeatureSpec, compute_features
from fraud_training.manifest import ManifestError, manifest_bytes
from fraud_training.package import SAMPLE_SIMULATION, PackageError, PackageRequest, package_model
from fraud_training.simulate import simulate
from fraud_training.verify import verify_model
from support import error_lines, run_cli

CREATED_AT = "2026-02-03T04:05:06Z"
STATELESS = ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT")
OPSETS = {"": 17, "ai.onnx.ml": 3}
SCENARIO_NAMES = np.array(
    ["legit", "over_220", "terminal", "card"]
)  # sorted: card, legit, over_220, terminal


@pytest.fixture(scope="module")
def training_data(spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All the spec's features of a small simulation (whole stream), binary and scenario targets."""
    stream = simulate(replace(SAMPLE_SIMULATION, seed=21)).transactions
    features = compute_features(stream, spec).to_numpy()
    return features, stream["TX_FRAUD"].to_numpy(), stream["TX_FRAUD_SCENARIO"].to_numpy()


@dataclass(frozen=True)
class Exported:
    model: Any  # the training library's model (predict_proba, classes_)
    onnx_bytes: bytes
    task: str
    legitimate: str | None
    element_type: str = "float32"


def _skl2onnx(model: Any, element_type: str = "float32", zipmap: bool = True, name: str = "input") -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    tensor = FloatTensorType if element_type == "float32" else DoubleTensorType
    options = None if zipmap else {id(model): {"zipmap": False}}
    return convert_sklearn(
        model,
        initial_types=[(name, tensor([None, model.n_features_in_]))],
        target_opset=OPSETS,
        options=options,
    ).SerializeToString()


def _forest(x: np.ndarray, y: np.ndarray) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0).fit(x.astype(np.float32), y)


def rf_zipmap(data: tuple[np.ndarray, ...]) -> Exported:
    model = _forest(data[0], data[1])
    return Exported(model, _skl2onnx(model), "binary", None)


def rf_tensor(data: tuple[np.ndarray, ...]) -> Exported:
    model = _forest(data[0], data[1])
    return Exported(model, _skl2onnx(model, zipmap=False, name="features"), "binary", "0")


def _logistic(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """Few iterations: the round trip needs a fitted model, not a converged one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(max_iter=50).fit(x, y)


def logistic_float64(data: tuple[np.ndarray, ...]) -> Exported:
    model = _logistic(data[0], data[1])
    return Exported(model, _skl2onnx(model, "float64", name="x"), "binary", "simple_transaction", "float64")


def logistic_tensor(data: tuple[np.ndarray, ...]) -> Exported:
    """LinearClassifier names its classes in classlabels_ints (not _int64s)."""
    model = _logistic(data[0].astype(np.float32), data[1])
    return Exported(model, _skl2onnx(model, zipmap=False), "binary", None)


def xgboost_binary(data: tuple[np.ndarray, ...]) -> Exported:
    import onnxmltools
    import xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = xgboost.XGBClassifier(n_estimators=20, max_depth=4, random_state=0).fit(
        data[0].astype(np.float32), data[1]
    )
    exported = onnxmltools.convert_xgboost(
        model, initial_types=[("features", FloatTensorType([None, data[0].shape[1]]))], target_opset=15
    )
    return Exported(model, exported.SerializeToString(), "binary", None)


def strings_zipmap(data: tuple[np.ndarray, ...]) -> Exported:
    model = _forest(data[0], SCENARIO_NAMES[data[2]])
    return Exported(model, _skl2onnx(model), "multiclass", "legit")


def strings_tensor(data: tuple[np.ndarray, ...]) -> Exported:
    model = _forest(data[0], SCENARIO_NAMES[data[2]])
    return Exported(model, _skl2onnx(model, zipmap=False), "multiclass", "legit")


ROUND_TRIPS: dict[str, Callable[[tuple[np.ndarray, ...]], Exported]] = {
    "skl2onnx-forest-zipmap": rf_zipmap,
    "skl2onnx-forest-zipmap-false": rf_tensor,
    "logistic-regression-float64": logistic_float64,
    "logistic-regression-float32-zipmap-false": logistic_tensor,
    "xgboost-onnxmltools": xgboost_binary,
    "string-labels-multiclass-zipmap": strings_zipmap,
    "string-labels-multiclass-zipmap-false": strings_tensor,
}


def _write(tmp_path: Path, exported: Exported, stem: str = "model") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{stem}.onnx"
    path.write_bytes(exported.onnx_bytes)
    return path


def _package(tmp_path: Path, exported: Exported, spec: FeatureSpec, schema: dict[str, Any], **changes: Any):
    request = PackageRequest(
        model_path=_write(tmp_path, exported),
        task=exported.task,  # type: ignore[arg-type]
        legitimate_class=exported.legitimate,
        created_at=CREATED_AT,
    )
    return package_model(replace(request, **changes), spec, schema)


@pytest.mark.parametrize("make", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_round_trip(
    make: Callable[[tuple[np.ndarray, ...]], Exported],
    training_data: tuple[np.ndarray, ...],
    spec: FeatureSpec,
    schema: dict[str, Any],
    tmp_path: Path,
) -> None:
    exported = make(training_data)
    packaged = _package(tmp_path, exported, spec, schema)
    manifest = packaged.manifest
    graph = onnx.load_from_string(exported.onnx_bytes).graph
    # Read from the model, not assumed:
    assert manifest["input"] == {"name": graph.input[0].name, "element_type": exported.element_type}
    assert manifest["outputs"]["probabilities"] in {o.name for o in graph.output}
    assert manifest["schema_version"] == 2 and manifest["feature_spec_version"] == spec.spec_version
    assert manifest["features"] == list(spec.names)
    # The service's checks accept what was written.
    verified = verify_model(packaged.manifest_path, schema, spec)
    assert verified.max_sample_difference <= 1e-5
    # The samples are the library's own probabilities, column for column in class order.
    labels = [c["label"] for c in manifest["classes"]]
    library_classes = [str(c) for c in exported.model.classes_]
    matrix = np.array([[s["features"][n] for n in manifest["features"]] for s in manifest["samples"]])
    cast = matrix.astype(np.float32 if exported.element_type == "float32" else np.float64)
    expected = exported.model.predict_proba(cast)
    recorded = np.array([s["probabilities"] for s in manifest["samples"]])
    assert np.abs(recorded - expected).max() <= 1e-5
    # The legitimate class is the one the person named, wherever its column is.
    legitimate = manifest["legitimate_class"]
    if isinstance(exported.model.classes_[0], str):
        assert labels == library_classes and legitimate == "legit" and labels.index("legit") == 1
    else:
        assert library_classes == [str(i) for i in range(len(labels))]
        assert legitimate == labels[0]
    legitimate_column = library_classes.index(legitimate) if labels == library_classes else 0
    fraud = 1 - recorded[:, labels.index(legitimate)]
    assert np.abs(fraud - (1 - expected[:, legitimate_column])).max() <= 1e-5


def test_packaging_is_deterministic(
    training_data: tuple[np.ndarray, ...], spec: FeatureSpec, schema: dict[str, Any], tmp_path: Path
) -> None:
    exported = rf_zipmap(training_data)
    first = _package(tmp_path / "a", exported, spec, schema)
    second = _package(tmp_path / "b", exported, spec, schema)
    assert first.manifest_path.read_bytes() == second.manifest_path.read_bytes()
    assert first.manifest["version"] == first.manifest["sha256"][:12]


# --- what is refused, and why ---------------------------------------------------------


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_string_labels_need_the_legitimate_class(training_data, spec, schema, tmp_path) -> None:
    with pytest.raises(PackageError, match="--legitimate-class is required"):
        _package(_mkdir(tmp_path / "a"), strings_zipmap(training_data), spec, schema, legitimate_class=None)
    with pytest.raises(PackageError, match="'fraud' is not one of"):
        _package(
            _mkdir(tmp_path / "b"), strings_zipmap(training_data), spec, schema, legitimate_class="fraud"
        )


def test_integer_labels_must_be_the_class_ids(training_data, spec, schema, tmp_path) -> None:
    x, _, scenario = training_data
    model = _forest(x, np.where(scenario > 0, 2, 1))  # classes 1 and 2
    exported = Exported(model, _skl2onnx(model), "binary", None)
    with pytest.raises(PackageError, match=r"must be 0, 1, \.\.\. .*\[1, 2\]"):
        _package(tmp_path, exported, spec, schema)


def _plain_logistic(data: tuple[np.ndarray, ...], labels: np.ndarray | None = None) -> Exported:
    """skl2onnx's float64 logistic regression with zipmap=False: plain operators
    (MatMul, Sigmoid, Div); its classes are only in the initializer its label output
    is looked up in (ArrayFeatureExtractor)."""
    target = data[1] if labels is None else labels[data[1]]
    model = _logistic(data[0], target)
    return Exported(model, _skl2onnx(model, "float64", zipmap=False), "binary", None, "float64")


def _without_label_output(exported: Exported) -> Exported:
    """The same graph with only its probability output: nothing in it names the classes."""
    model = onnx.load_from_string(exported.onnx_bytes)
    kept = [o for o in model.graph.output if o.name == "probabilities"]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    return replace(exported, onnx_bytes=model.SerializeToString())


def test_a_model_without_class_labels_needs_them_given(training_data, spec, schema, tmp_path) -> None:
    exported = _without_label_output(_plain_logistic(training_data))
    with pytest.raises(PackageError, match=r"does not name its classes.*give --class-labels"):
        _package(_mkdir(tmp_path / "a"), exported, spec, schema)
    with pytest.raises(PackageError, match=r"give --class-labels .* and --legitimate-class"):
        _package(_mkdir(tmp_path / "b"), exported, spec, schema, class_labels=("legit", "fraud"))
    packaged = _package(
        _mkdir(tmp_path / "c"),
        exported,
        spec,
        schema,
        class_labels=("legit", "fraud"),
        legitimate_class="legit",
    )
    assert packaged.manifest["classes"] == [{"id": 0, "label": "legit"}, {"id": 1, "label": "fraud"}]
    assert packaged.manifest["legitimate_class"] == "legit"
    verify_model(packaged.manifest_path, schema, spec)
    recorded = np.array([s["probabilities"] for s in packaged.manifest["samples"]])
    matrix = np.array(
        [[s["features"][n] for n in packaged.manifest["features"]] for s in packaged.manifest["samples"]]
    )
    assert np.abs(recorded - exported.model.predict_proba(matrix)).max() <= 1e-9


def test_a_string_label_output_names_the_classes(training_data, spec, schema, tmp_path) -> None:
    """String classes sort to [fraud, legit]; the label output picks them from a
    constant by the argmax, so the model names its columns and --class-labels in
    another order is refused rather than trusted."""
    exported = _plain_logistic(training_data, np.array(["legit", "fraud"]))
    assert list(exported.model.classes_) == ["fraud", "legit"]
    with pytest.raises(PackageError, match=r"names its classes \[fraud, legit\].*would relabel them"):
        _package(
            _mkdir(tmp_path / "a"),
            exported,
            spec,
            schema,
            class_labels=("legit", "fraud"),
            legitimate_class="legit",
        )
    packaged = _package(_mkdir(tmp_path / "b"), exported, spec, schema, legitimate_class="legit")
    assert [c["label"] for c in packaged.manifest["classes"]] == ["fraud", "legit"]


def test_a_model_with_conflicting_class_labels_is_refused(paths, spec, schema, tmp_path) -> None:
    source = paths.acceptance / "ensemble-conflicting.onnx"
    path = tmp_path / "model.onnx"
    path.write_bytes(source.read_bytes())
    with pytest.raises(PackageError, match=r"several class orders: \[1, 0\] .*, \[0, 1\] "):
        package_model(PackageRequest(path, "binary", features=STATELESS), spec, schema)


def test_the_features_must_fit_the_input(training_data, spec, schema, tmp_path) -> None:
    with pytest.raises(PackageError, match=f"takes {len(spec.names)} columns; --features gives 3"):
        _package(
            tmp_path,
            rf_zipmap(training_data),
            spec,
            schema,
            features=("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"),
        )
    with pytest.raises(PackageError, match="NOT_A_FEATURE"):
        _package(
            tmp_path, rf_zipmap(training_data), spec, schema, features=("NOT_A_FEATURE",) * len(spec.names)
        )


def test_the_task_must_fit_the_classes(training_data, spec, schema, tmp_path) -> None:
    with pytest.raises(PackageError, match="a binary model has 2 classes; this one has 4"):
        _package(tmp_path, strings_zipmap(training_data), spec, schema, task="binary")


def test_a_file_that_is_not_onnx_is_refused(spec, schema, tmp_path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(PackageError, match="not a readable ONNX model"):
        package_model(PackageRequest(path, "binary"), spec, schema)


# --- verify: the service's checks catch what a hand-edited manifest gets wrong ------------


@pytest.fixture
def packaged_strings(training_data, spec, schema, tmp_path):
    return _package(tmp_path, strings_zipmap(training_data), spec, schema)


def _tamper(packaged: Any, change: Callable[[dict[str, Any]], None]) -> Path:
    manifest = json.loads(packaged.manifest_path.read_text(encoding="utf-8"))
    change(manifest)
    packaged.manifest_path.write_bytes(manifest_bytes(manifest))
    return packaged.manifest_path


TAMPERING: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "class order swapped": (
        lambda m: m.update(
            classes=[{"id": i, "label": c["label"]} for i, c in enumerate(reversed(m["classes"]))]
        ),
        r"the model's classes are \[card, legit, over_220, terminal\] \(classlabels_strings of ZipMap",
    ),
    "input name": (lambda m: m["input"].update(name="x"), "the model's input is input, the manifest says x"),
    "element type": (
        lambda m: m["input"].update(element_type="float64"),
        "is float32, the manifest says float64",
    ),
    "probability output": (
        lambda m: m["outputs"].update(probabilities="output_label"),
        "not float probabilities",
    ),
    "a sample's probabilities": (
        lambda m: m["samples"][0].update(probabilities=[0.25, 0.25, 0.25, 0.25]),
        "sample 0 gives",
    ),
    "legitimate class not a class": (
        lambda m: m.update(legitimate_class="simple_transaction"),
        "is not one of",
    ),
    "a feature missing": (
        lambda m: m.update(features=m["features"][:-1]),
        "must give exactly the features",
    ),
}


@pytest.mark.parametrize("case", TAMPERING, ids=TAMPERING.keys())
def test_verify_refuses_what_the_service_refuses(case: str, packaged_strings, spec, schema) -> None:
    change, message = TAMPERING[case]
    path = _tamper(packaged_strings, change)
    with pytest.raises(ManifestError, match=message):
        verify_model(path, schema, spec)


def test_verify_reads_tensor_probabilities_by_name_not_position(
    training_data, spec, schema, tmp_path
) -> None:
    """XGBoost's graph has its input named `features`: the old verify fed `input`."""
    packaged = _package(tmp_path, xgboost_binary(training_data), spec, schema)
    assert packaged.manifest["input"]["name"] == "features"
    verify_model(packaged.manifest_path, schema, spec)


# --- the command ---------------------------------------------------------------------------


def test_package_command(training_data, tmp_path) -> None:
    path = _write(tmp_path, strings_tensor(training_data))
    out = tmp_path / "out"
    result = run_cli(
        "package",
        str(path),
        "--task",
        "multiclass",
        "--legitimate-class",
        "legit",
        "--name",
        "my-scenarios",
        "--out",
        str(out),
        "--created-at",
        CREATED_AT,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "my-scenarios" and manifest["legitimate_class"] == "legit"
    assert (out / "model.onnx").read_bytes() == path.read_bytes()
    verify = run_cli("verify", str(out / "model.json"))
    assert verify.returncode == 0, verify.stderr


def test_package_command_fails_in_one_line(training_data, tmp_path) -> None:
    path = _write(tmp_path, strings_zipmap(training_data))
    result = run_cli("package", str(path), "--task", "multiclass")
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "--legitimate-class is required" in lines[0]


def test_probabilities_that_do_not_sum_to_one_are_refused(training_data, spec, schema, tmp_path) -> None:
    """A linear classifier left on raw scores (post_transform NONE) is no probability model."""
    x, fraud, _ = training_data
    model = _logistic(x, fraud)
    graph = onnx.load_from_string(_skl2onnx(model, zipmap=False))
    (node,) = [n for n in graph.graph.node if n.op_type == "LinearClassifier"]
    (transform,) = [a for a in node.attribute if a.name == "post_transform"]
    transform.s = b"NONE"
    exported = Exported(model, graph.SerializeToString(), "binary", None)
    with pytest.raises(PackageError, match="not finite values summing to 1"):
        _package(tmp_path, exported, spec, schema)
