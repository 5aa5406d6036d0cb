"""`fixtures`: small models for the TypeScript service's tests.

Each variant exercises one thing the service's loader must handle: ZipMap or a
plain probability tensor, float32 or float64 input, binary or multiclass, string
class labels (which scikit-learn sorts, so the legitimate class is not column 0),
a hand-built graph that declares no class labels, and a second version with
different probabilities for live-swap tests. All are trained on small
simulations (seconds, not minutes) and carry a fixed created_at, so that
regenerating them gives the same bytes.

Beside them: manifests that list the classes in another order than the model
(`<stem>-reordered.json`, which the service must refuse), and for every fixture
the answers the service must give (`answers/<stem>.json`), computed here with
Python onnxruntime and the service's documented rules.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper

from fraud_training.export import ExportOptions, to_onnx_bytes, verify_parity
from fraud_training.features import FeatureSpec, features_for_transaction
from fraud_training.inference import NUMPY_TYPES, ElementType, open_session
from fraud_training.manifest import ModelIdentity, build_manifest, manifest_bytes, write_atomic, write_model
from fraud_training.metrics import EvaluationSet, class_counts, evaluate, rounded
from fraud_training.pipeline import (
    BuiltModel,
    DataConfig,
    ModelRequest,
    PreparedData,
    build_model,
    prepare_data,
    training_description,
)
from fraud_training.samples import sample_inputs
from fraud_training.simulate import SimulationConfig
from fraud_training.split import TimeSplit
from fraud_training.train import (
    TASK_SPECS,
    ForestConfig,
    TaskName,
    check_classes,
    estimator_description,
    fit_forest,
    target_vector,
)

FIXTURE_CREATED_AT = "2026-01-01T00:00:00Z"
# The fixtures take the version-1 (stateless) features: the service's loader tests
# need no state store.
STATELESS_FEATURES = ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT")
SMALL_DATA = DataConfig(
    SimulationConfig(n_customers=600, n_terminals=2_000, n_days=42, seed=0),
    TimeSplit(train_days=28, delay_days=7, test_days=7),
    features=STATELESS_FEATURES,
)
SMALL_FOREST = ForestConfig(n_estimators=5, max_depth=4)
V2_DATA = DataConfig(
    SimulationConfig(n_customers=600, n_terminals=2_000, n_days=42, seed=1),
    SMALL_DATA.split,
    features=STATELESS_FEATURES,
)
V2_FOREST = ForestConfig(n_estimators=7, max_depth=5, random_state=1)
BINARY_STRINGS = ("legit", "fraud")
SCENARIO_STRINGS = ("simple_transaction", "scenario_1", "scenario_2", "scenario_3")


@dataclass(frozen=True)
class Fixture:
    """One fixture: its file stem, the model request, and which data it trains on."""

    stem: str
    task: TaskName
    export: ExportOptions
    version: str = "1.0.0"
    forest: ForestConfig = SMALL_FOREST
    data: DataConfig = SMALL_DATA
    purpose: str = ""
    # String class labels to train on, indexed by the task's class id (legitimate
    # first). scikit-learn sorts them, so the model's columns come in alphabetical
    # order and the manifest (schema version 2) names the legitimate class. None:
    # integer class ids, legitimate = column 0 (schema version 1).
    labels: tuple[str, ...] | None = None
    # forest: a scikit-learn RandomForest; graph: a hand-built logistic graph that
    # declares no class labels (like a network exported from a deep-learning framework).
    kind: Literal["forest", "graph"] = "forest"

    def request(self) -> ModelRequest:
        threshold = 0.5 if self.task == "binary" else None
        return ModelRequest(self.task, self.stem, self.version, self.forest, self.export, threshold)


FIXTURES: tuple[Fixture, ...] = (
    Fixture(
        "binary-zipmap-f32",
        "binary",
        ExportOptions("float32", zipmap=True),
        purpose="default skl2onnx export, like the bundled models",
    ),
    Fixture(
        "binary-tensor-f32",
        "binary",
        ExportOptions("float32", zipmap=False),
        purpose="probabilities as a plain float tensor (zipmap=False)",
    ),
    Fixture(
        "binary-zipmap-f64",
        "binary",
        ExportOptions("float64", zipmap=True),
        purpose="float64 input (DoubleTensorType)",
    ),
    Fixture(
        "scenario-zipmap-f32",
        "multiclass",
        ExportOptions("float32", zipmap=True),
        purpose="multiclass, default export",
    ),
    Fixture(
        "scenario-tensor-f64",
        "multiclass",
        ExportOptions("float64", zipmap=False),
        purpose="multiclass, plain tensor, float64 input",
    ),
    Fixture(
        "binary-zipmap-f32-v2",
        "binary",
        ExportOptions("float32", zipmap=True),
        version="2.0.0",
        forest=V2_FOREST,
        data=V2_DATA,
        purpose="same shape as binary-zipmap-f32, other seed and trees: other probabilities (live swaps)",
    ),
    Fixture(
        "binary-strings-zipmap-f32",
        "binary",
        ExportOptions("float32", zipmap=True),
        labels=BINARY_STRINGS,
        purpose="string labels legit/fraud: columns [fraud, legit], the legitimate class is column 1",
    ),
    Fixture(
        "binary-strings-tensor-f64",
        "binary",
        ExportOptions("float64", zipmap=False),
        labels=BINARY_STRINGS,
        purpose="string labels, plain tensor (classlabels_strings on the TreeEnsembleClassifier)",
    ),
    Fixture(
        "scenario-strings-zipmap-f32",
        "multiclass",
        ExportOptions("float32", zipmap=True),
        labels=SCENARIO_STRINGS,
        purpose="string labels: columns [scenario_1, scenario_2, scenario_3, simple_transaction]",
    ),
    Fixture(
        "scenario-strings-tensor-f32",
        "multiclass",
        ExportOptions("float32", zipmap=False),
        labels=SCENARIO_STRINGS,
        purpose="string labels, plain tensor: the legitimate class is the last column",
    ),
    Fixture(
        "binary-graph-tensor-f32",
        "binary",
        ExportOptions("float32", zipmap=False),
        labels=("simple_transaction", "FRAUD"),
        kind="graph",
        purpose="hand-built Softmax graph, no classifier node: columns [FRAUD, simple_transaction]",
    ),
)

# Manifests that list a fixture's classes in another order than its model: the
# order the labels were given in training, the mistake a person would make. The
# samples stay those onnxruntime computed, so only the class check can catch them.
REORDERED: tuple[str, ...] = ("binary-strings-zipmap-f32", "scenario-strings-tensor-f32")

# Transactions the answer files cover: amounts across the models' ranges (the
# scenario-1 limit is 220) at the four combinations of weekday/weekend and day/night.
ANSWER_AMOUNTS: tuple[float, ...] = (
    0.0,
    1.5,
    5.48,
    16.25,
    35.5,
    57.16,
    120.0,
    219.99,
    220.0,
    220.01,
    236.21,
    250.0,
    667.0,
    1500.0,
    1_000_000.0,
)
# Seconds since the spec's epoch (2018-04-01, a Sunday): Sunday 03:00 and 12:00, Monday 03:00 and 12:00.
ANSWER_TIMES: tuple[int, ...] = (10_800, 43_200, 97_200, 129_600)


@dataclass
class _DataCache:
    """Simulate each distinct data configuration once."""

    spec: FeatureSpec
    prepared: dict[DataConfig, PreparedData] = field(default_factory=dict)

    def get(self, config: DataConfig) -> PreparedData:
        if config not in self.prepared:
            self.prepared[config] = prepare_data(config, self.spec)
        return self.prepared[config]


def build_fixtures(
    spec: FeatureSpec, schema: dict[str, Any], out_dir: Path, created_at: str = FIXTURE_CREATED_AT
) -> list[BuiltModel]:
    """Write every fixture (`<stem>.onnx` + `<stem>.json`), the reordered manifests,
    the answer files and a README listing them."""
    cache = _DataCache(spec)
    built = [_build_fixture(cache.get(f.data), f, created_at, schema, out_dir) for f in FIXTURES]
    for model in built:
        stem = model.request.file_stem
        write_atomic(
            out_dir / "answers" / f"{stem}.json",
            _json_bytes(answer_file(model.manifest, model.model_bytes, spec)),
        )
        if stem in REORDERED:
            write_atomic(
                out_dir / f"{stem}-reordered.json", manifest_bytes(reordered_manifest(model.manifest))
            )
    write_atomic(out_dir / "README.md", render_fixture_readme(built).encode("utf-8"))
    return built


def _build_fixture(
    data: PreparedData, fixture: Fixture, created_at: str, schema: dict[str, Any], out_dir: Path
) -> BuiltModel:
    if fixture.kind == "graph":
        return _build_graph_model(data, fixture, created_at, schema, out_dir)
    if fixture.labels is not None:
        return _build_labelled_forest(data, fixture, created_at, schema, out_dir)
    return build_model(data, fixture.request(), created_at, schema, out_dir)


def _build_labelled_forest(
    data: PreparedData, fixture: Fixture, created_at: str, schema: dict[str, Any], out_dir: Path
) -> BuiltModel:
    """A forest trained on string labels; its manifest lists the classes in the
    model's (sorted) column order and names the legitimate one."""
    assert fixture.labels is not None
    task = TASK_SPECS[fixture.task]
    request = fixture.request()
    ids = target_vector(data.train, task)
    check_classes(ids, task)
    model = fit_forest(data.train_features, np.array(fixture.labels)[ids], fixture.forest)
    columns = tuple(str(label) for label in model.classes_)
    model_bytes = to_onnx_bytes(model, len(data.feature_names), fixture.export, graph_name=task.model_name)
    difference, probabilities = verify_parity(
        model, model_bytes, data.test_features, fixture.export.element_type
    )
    named = replace(task, class_labels=fixture.labels)  # class id order, for the metrics
    by_id = probabilities[:, [columns.index(label) for label in fixture.labels]]
    metrics = evaluate(by_id, EvaluationSet.from_frame(data.test), named, request.threshold)
    metrics["class_counts"] = {
        "train": class_counts(ids, named),
        "test": class_counts(target_vector(data.test, task), named),
    }
    reported = rounded(metrics)
    assert isinstance(reported, dict)
    reported["onnx_max_abs_difference_vs_sklearn"] = float(f"{difference:.3g}")
    estimator = estimator_description(model, list(data.feature_names))
    return _write_fixture(
        data,
        fixture,
        created_at,
        schema,
        out_dir,
        model_bytes,
        classes=columns,
        metrics=reported,
        training=training_description(data, request, estimator),
    )


# The hand-built graph: fraud logit = 0.05 * (amount - 220) + 0.3 * weekend + 0.5 * night,
# legitimate logit 0, softmax over [fraud, legitimate].
_GRAPH_WEIGHTS = ((0.05, 0.0), (0.3, 0.0), (0.5, 0.0))
_GRAPH_BIAS = (-11.0, 0.0)


def _build_graph_model(
    data: PreparedData, fixture: Fixture, created_at: str, schema: dict[str, Any], out_dir: Path
) -> BuiltModel:
    """A MatMul-Add-Softmax graph (plus an ArgMax label, as deep-learning exports have)
    whose columns are [fraud, legitimate]: it has no classifier node, so nothing in
    the model says which column is which."""
    assert fixture.labels is not None and fixture.export.element_type == "float32"
    legitimate, fraud = fixture.labels
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "weights"], ["logits_raw"]),
            helper.make_node("Add", ["logits_raw", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
            helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
        ],
        TASK_SPECS[fixture.task].model_name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, len(data.feature_names)])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
        [
            helper.make_tensor(
                "weights", TensorProto.FLOAT, [3, 2], [w for row in _GRAPH_WEIGHTS for w in row]
            ),
            helper.make_tensor("bias", TensorProto.FLOAT, [2], list(_GRAPH_BIAS)),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="fraud_training.fixtures"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return _write_fixture(
        data,
        fixture,
        created_at,
        schema,
        out_dir,
        model.SerializeToString(),
        classes=(fraud, legitimate),
        metrics={},
        training={
            "generator": "hand-built ONNX graph (fraud_training.fixtures)",
            "weights": _GRAPH_WEIGHTS,
            "bias": _GRAPH_BIAS,
        },
    )


def _write_fixture(
    data: PreparedData,
    fixture: Fixture,
    created_at: str,
    schema: dict[str, Any],
    out_dir: Path,
    model_bytes: bytes,
    *,
    classes: tuple[str, ...],
    metrics: dict[str, Any],
    training: dict[str, Any],
) -> BuiltModel:
    """Samples (through onnxruntime), a schema-2 manifest naming the legitimate class, both files."""
    assert fixture.labels is not None
    request = fixture.request()
    names = data.feature_names
    features_frame = pd.DataFrame(data.test_features, columns=list(names))
    inputs = sample_inputs(data.test.reset_index(drop=True), features_frame, names)
    output = request.export.output_names[1]
    matrix = np.array([[sample[name] for name in names] for sample in inputs], dtype=np.float64)
    outputs = column_probabilities(model_bytes, output, matrix, request.export.element_type)
    samples = [
        {"features": sample, "probabilities": [float(p) for p in row]}
        for sample, row in zip(inputs, outputs, strict=True)
    ]
    task = TASK_SPECS[fixture.task]
    manifest = build_manifest(
        identity=ModelIdentity(request.name, request.version, created_at, f"{request.file_stem}.onnx"),
        task=replace(task, class_labels=classes),
        model_bytes=model_bytes,
        feature_spec_version=data.feature_spec_version,
        feature_names=list(names),
        export=request.export,
        threshold=request.threshold,
        metrics=metrics,
        training=training,
        samples=samples,
        legitimate_class=fixture.labels[0],
    )
    model_path, manifest_path = write_model(out_dir, manifest, model_bytes, schema)
    return BuiltModel(request, manifest, model_bytes, 0.0, model_path, manifest_path)


def column_probabilities(
    model_bytes: bytes, output: str, matrix: np.ndarray, element_type: ElementType
) -> np.ndarray:
    """onnxruntime's probabilities [N, columns] in the model's column order. A
    ZipMap's maps are read in the order of the ZipMap's own class labels (the
    order of the tensor it was fed), not in the manifest's."""
    (raw,) = open_session(model_bytes).run([output], {"input": matrix.astype(NUMPY_TYPES[element_type])})
    if isinstance(raw, np.ndarray):
        return raw.astype(np.float64)
    labels = zipmap_labels(model_bytes, output)
    return np.array([[row[label] for label in labels] for row in raw], dtype=np.float64)


def zipmap_labels(model_bytes: bytes, output: str) -> list[int] | list[str]:
    """classlabels_int64s or classlabels_strings of the ZipMap node producing `output`."""
    for node in onnx.load_from_string(model_bytes).graph.node:
        if node.op_type == "ZipMap" and output in node.output:
            for attribute in node.attribute:
                if attribute.name == "classlabels_int64s":
                    return list(attribute.ints)
                if attribute.name == "classlabels_strings":
                    return [label.decode("utf-8") for label in attribute.strings]
    raise ValueError(f"no ZipMap with class labels produces {output}")


def reordered_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The same manifest with the class labels in another order (sorted by the
    legitimate class first, as they were given in training); ids stay 0, 1, ..."""
    labels = [entry["label"] for entry in manifest["classes"]]
    legitimate = manifest["legitimate_class"]
    order = [legitimate] + [label for label in labels if label != legitimate]
    if order == labels:
        raise ValueError(
            f"{manifest['model_file']}: the legitimate class is already first; nothing to reorder"
        )
    return {**manifest, "classes": [{"id": i, "label": label} for i, label in enumerate(order)]}


# --- the answers the service must give ------------------------------------------------


def service_classes(manifest: dict[str, Any]) -> list[tuple[str, int]]:
    """(label, model column) in the service's class-id order: the legitimate class
    first (id 0), then the other classes in column order. Schema version 1: the
    legitimate class is column 0."""
    labels = [entry["label"] for entry in manifest["classes"]]
    legitimate = labels.index(manifest["legitimate_class"]) if "legitimate_class" in manifest else 0
    return [(labels[legitimate], legitimate)] + [
        (label, column) for column, label in enumerate(labels) if column != legitimate
    ]


def expected_answer(manifest: dict[str, Any], row: Sequence[float]) -> dict[str, Any]:
    """What Predict / PredictScenario answer for one row of model probabilities:
    probabilities in service order clamped to [0, 1]; binary: fraud (id 1) when the
    non-legitimate column reaches the threshold, fraud_probability its probability;
    multiclass: the most probable class (lowest id on a tie), fraud_probability
    1 - P(legitimate)."""
    classes = service_classes(manifest)
    probabilities = [min(1.0, max(0.0, float(row[column]))) for _, column in classes]
    if manifest["task"] == "binary":
        class_id = 1 if float(row[classes[1][1]]) >= manifest["threshold"] else 0
        fraud_probability = probabilities[1]
    else:
        class_id = int(np.argmax(probabilities))
        fraud_probability = 1.0 - probabilities[0]
    return {
        "prediction": classes[class_id][0],
        "class_id": class_id,
        "class_probability": probabilities[class_id],
        "fraud_probability": fraud_probability,
        "probabilities": probabilities,
    }


def answer_transactions() -> list[dict[str, Any]]:
    return [
        {
            "transaction_id": index + 1,
            "customer_id": 42,
            "terminal_id": 7,
            "tx_amount": amount,
            "tx_time_seconds": seconds,
        }
        for index, (amount, seconds) in enumerate((a, t) for a in ANSWER_AMOUNTS for t in ANSWER_TIMES)
    ]


def answer_file(manifest: dict[str, Any], model_bytes: bytes, spec: FeatureSpec) -> dict[str, Any]:
    """Every answer transaction with its features, onnxruntime's model output and the expected answer."""
    transactions = answer_transactions()
    features = [features_for_transaction(t, spec) for t in transactions]
    names = manifest["features"]
    matrix = np.array([[f[name] for name in names] for f in features], dtype=np.float64)
    outputs = column_probabilities(
        model_bytes, manifest["outputs"]["probabilities"], matrix, manifest["input"]["element_type"]
    )
    return {
        "fixture": manifest["model_file"].removesuffix(".onnx"),
        "task": manifest["task"],
        "computed_by": "Python onnxruntime and fraud_training.fixtures.expected_answer",
        "service_classes": [
            {"id": i, "label": label, "column": column}
            for i, (label, column) in enumerate(service_classes(manifest))
        ],
        "cases": [
            {
                "transaction": transaction,
                "features": {name: feature[name] for name in names},
                "model_output": [float(p) for p in row],
                "answer": expected_answer(manifest, row),
            }
            for transaction, feature, row in zip(transactions, features, outputs, strict=True)
        ],
    }


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def render_fixture_readme(built: list[BuiltModel]) -> str:
    purposes = {f.stem: f.purpose for f in FIXTURES}
    lines = [
        "# Model fixtures for the service's tests",
        "",
        "Generated by `training/run fixtures`; do not edit by hand. Small random forests trained on "
        "small simulations, and one hand-built graph; each `<fixture>.json` is a manifest valid against "
        "`models/manifest.schema.json` (its `name` is the model name, `model_file` the fixture's file).",
        "",
        "| fixture | name | task | version | input | outputs (label, probabilities) | classes (column order) "
        "| size | purpose |",
        "| --- | --- | --- | --- | --- | --- | --- | ---: | --- |",
    ]
    for model in built:
        m = model.manifest
        stem = m["model_file"].removesuffix(".onnx")
        shape = "ZipMap" if model.request.export.zipmap else "tensor [N, classes]"
        outputs = ", ".join(
            f"`{m['outputs'][role]}`" for role in ("label", "probabilities") if role in m["outputs"]
        )
        classes = ", ".join(entry["label"] for entry in m["classes"])
        legitimate = m.get("legitimate_class", m["classes"][0]["label"])
        lines.append(
            f"| `{stem}` | {m['name']} | {m['task']} | {m['version']} | "
            f"`{m['input']['name']}` {m['input']['element_type']} [N, {len(m['features'])}] | "
            f"{outputs} ({shape}) | [{classes}], legitimate {legitimate} (schema {m['schema_version']}) | "
            f"{len(model.model_bytes) / 1024:.1f} KiB | {purposes[stem]} |"
        )
    lines += [
        "",
        "Whatever the input type, the probabilities are float32 (a tensor, or the values of the ZipMap's "
        "maps). A forest's class labels are its TreeEnsembleClassifier's (and ZipMap's) "
        "`classlabels_int64s` (0, 1 or 0, 1, 2, 3) or, for the `strings` fixtures, `classlabels_strings` "
        "in scikit-learn's sorted order; the manifest's `classes` list them in that column order. "
        "`binary-graph-tensor-f32` declares no labels at all. In a ZipMap graph the ZipMap's input is the "
        "tensor `probabilities` [N, classes] (the TreeEnsembleClassifier's output): drop the ZipMap node "
        "and expose that tensor as the graph output to read it with onnxruntime-node.",
        "",
        "Refused on purpose: "
        + ", ".join(f"`{stem}-reordered.json`" for stem in REORDERED)
        + " list the classes of their model in another order than the model's (legitimate class first, "
        "as the labels were given in training), with the samples onnxruntime computed.",
        "",
        "`answers/<fixture>.json`: for "
        f"{len(ANSWER_AMOUNTS) * len(ANSWER_TIMES)} transactions, the features, onnxruntime's probabilities "
        "in the model's column order and the answer the service must give (`prediction`, `class_id`, "
        "`class_probability`, `fraud_probability`, `probabilities` in the service's class order: the "
        "legitimate class first, then the others in column order).",
        "",
    ]
    return "\n".join(lines)
