"""`acceptance-fixtures`: shared vectors for "a model `verify` accepts is one the
service accepts, and the other way round".

Small ONNX models and manifests, each with the verdict both sides must reach:
accepted, or refused with the service's rejection reason and a message pattern both
sides' messages match. pytest runs every case through `verify`
(tests/test_acceptance.py), mocha through the service's loader
(test/unit/acceptanceVectors.test.ts); neither may be changed without the other.

The models are tiny (three stateless features, a few trees or one linear layer): the
forests are trained on a seeded synthetic table, the linear layers' weights are set.
Regenerating them gives the same graphs, with floats equal within a tolerance on any
CPU (tests/test_acceptance.py compares them so, never byte for byte).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
from onnx import helper

from fraud_training import onnx_model
from fraud_training.manifest import manifest_bytes, sha256_hex, validate_manifest, write_atomic

CREATED_AT = "2026-01-01T00:00:00Z"
FEATURES = ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT")
TOLERANCE = 1e-5
# Feature rows of the smoke samples: amounts on both sides of the scenario-1 limit
# (220), at day and night, weekday and weekend.
SAMPLE_ROWS: tuple[tuple[float, float, float], ...] = (
    (12.5, 0.0, 0.0),
    (57.16, 1.0, 0.0),
    (150.0, 0.0, 1.0),
    (219.99, 1.0, 1.0),
    (236.21, 0.0, 0.0),
    (667.0, 1.0, 1.0),
)
BINARY_LABELS = ("legit", "fraud")
SCENARIO_LABELS = ("legit", "over_220", "at_night")  # sorted: at_night, legit, over_220

Verdict = Literal["accepted", "refused"]
Change = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Model:
    """One .onnx file of the folder, and the manifest facts that describe it truly."""

    stem: str
    onnx_bytes: bytes
    task: Literal["binary", "multiclass"]
    element_type: Literal["float32", "float64"]
    outputs: dict[str, str]
    classes: tuple[str, ...]  # labels in column order
    legitimate: str
    description: str


@dataclass(frozen=True)
class Case:
    """A manifest for one of the models (the true one, changed by `change`) and the
    verdict on it. `task` is the service's slot it is loaded into."""

    name: str
    model: str
    verdict: Verdict
    what: str
    reason: str | None = None
    message: str | None = None  # a pattern (same syntax in Python and JavaScript)
    change: Change | None = None
    task: str | None = None  # default: the manifest's task
    valid: bool = True  # False: the manifest breaks the schema or its own rules on purpose


# --- training data and models -------------------------------------------------------------


def training_table(rows: int = 3_000, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three stateless features and two targets: binary (amount over 220, or a night
    transaction with a small chance) and three string scenarios."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(4.0, 0.9, rows), 2)
    weekend = (rng.random(rows) < 2 / 7).astype(np.float64)
    night = (rng.random(rows) < 0.3).astype(np.float64)
    over = amount > 220
    at_night = (night == 1) & (rng.random(rows) < 0.15) & ~over
    binary = (over | at_night).astype(np.int64)
    scenario = np.where(over, "over_220", np.where(at_night, "at_night", "legit"))
    return np.column_stack([amount, weekend, night]), binary, scenario


def _skl2onnx(model: Any, element_type: str, zipmap: bool, name: str) -> bytes:
    """skl2onnx with the pipeline's pinned opsets and reproducible bytes."""
    from fraud_training.export import ExportOptions, to_onnx_bytes

    options = ExportOptions(element_type, zipmap)  # type: ignore[arg-type]
    return to_onnx_bytes(model, len(FEATURES), options, graph_name=name)


def _forest(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(x.astype(np.float32), y)


# The logistic regressions' weights, set rather than fitted: lbfgs's result depends on the
# CPU's floating-point kernels (BLAS), so fitted weights, and the files, would differ from one
# machine to the next. These are what lbfgs finds on `training_table`, rounded.
LINEAR_COEFFICIENTS = (0.0223, -0.3045, 2.18)
LINEAR_INTERCEPT = -5.72


def _logistic(classes: tuple[int, int]) -> Any:
    """A fitted-looking LogisticRegression (what skl2onnx reads) with the set weights."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression()
    model.classes_ = np.array(classes)
    model.coef_ = np.array([LINEAR_COEFFICIENTS])
    model.intercept_ = np.array([LINEAR_INTERCEPT])
    model.n_features_in_ = len(FEATURES)
    return model


def _voting(x: np.ndarray, y: np.ndarray) -> Any:
    """Soft voting of two forests (forests, not fitted logistic regressions: their trees
    are the same on every CPU, so the file is too)."""
    from sklearn.ensemble import RandomForestClassifier, VotingClassifier

    members = [
        (f"forest{seed}", RandomForestClassifier(n_estimators=2, max_depth=3, random_state=seed))
        for seed in (0, 1)
    ]
    return VotingClassifier(members, voting="soft", flatten_transform=False).fit(x.astype(np.float32), y)


def _one_vs_rest(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.multiclass import OneVsRestClassifier

    forest = RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0)
    return OneVsRestClassifier(forest).fit(x.astype(np.float32), y)


def _io(zipmap: bool) -> dict[str, str]:
    return (
        {"label": "output_label", "probabilities": "output_probability"}
        if zipmap
        else {"label": "label", "probabilities": "probabilities"}
    )


def _ensemble(linear: bytes, second_labels: list[int], name: str) -> bytes:
    """Two copies of a LinearClassifier averaged by Mean: the first names its classes
    [0, 1], the second `second_labels`. Both paths back from the probability output
    reach a classifier, so both declarations count."""
    model = onnx.load_from_string(linear)
    (node,) = [n for n in model.graph.node if n.op_type == "LinearClassifier"]
    first = onnx.NodeProto()
    first.CopyFrom(node)
    first.name, first.output[:] = "first", ["label", "first_probabilities"]
    second = onnx.NodeProto()
    second.CopyFrom(node)
    second.name, second.output[:] = "second", ["second_label", "second_probabilities"]
    for attribute in second.attribute:
        if attribute.name == "classlabels_ints":
            attribute.ints[:] = second_labels
    mean = helper.make_node(
        "Mean", ["first_probabilities", "second_probabilities"], ["probabilities"], name="mean"
    )
    del model.graph.node[:]
    model.graph.node.extend([first, second, mean])
    model.graph.name = name
    return model.SerializeToString()


def _empty_strings_first(forest: bytes) -> bytes:
    """The TreeEnsembleClassifier given an empty classlabels_strings before its
    classlabels_int64s (some exporters write every attribute): an empty list names
    nothing, so the integer labels declare the classes."""
    model = onnx.load_from_string(forest)
    for node in model.graph.node:
        if node.op_type == "TreeEnsembleClassifier":
            empty = helper.make_attribute("classlabels_strings", [], attr_type=onnx.AttributeProto.STRINGS)
            attributes = [empty, *node.attribute]
            del node.attribute[:]
            node.attribute.extend(attributes)
    return model.SerializeToString()


def _raw_scores(linear: bytes) -> bytes:
    """The LinearClassifier left on raw scores (post_transform NONE): no probabilities."""
    model = onnx.load_from_string(linear)
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name == "post_transform":
                attribute.s = b"NONE"
    return model.SerializeToString()


def _binary(stem: str, onnx_bytes: bytes, element_type: str, zipmap: bool, description: str) -> Model:
    return Model(
        stem,
        onnx_bytes,
        "binary",
        element_type,  # type: ignore[arg-type]
        _io(zipmap),
        BINARY_LABELS,
        "legit",
        description,
    )


def build_models() -> list[Model]:
    x, binary, scenario = training_table()
    forest_int = _forest(x, binary)
    forest_strings = _forest(x, scenario)
    columns = tuple(str(c) for c in forest_strings.classes_)
    linear = _skl2onnx(_logistic((0, 1)), "float32", False, "linear")
    linear_1_2 = _skl2onnx(_logistic((1, 2)), "float32", False, "linear")
    plain = _skl2onnx(_logistic((0, 1)), "float64", False, "plain")
    forest_tensor = _skl2onnx(forest_int, "float32", False, "forest")
    voting = _voting(x, np.array(BINARY_LABELS)[binary])
    one_vs_rest = _one_vs_rest(x, scenario)
    return [
        _binary(
            "forest-zipmap-int",
            _skl2onnx(forest_int, "float32", True, "forest"),
            "float32",
            True,
            "skl2onnx random forest, ZipMap with classlabels_int64s [0, 1]",
        ),
        _binary(
            "forest-tensor-int",
            forest_tensor,
            "float32",
            False,
            "the same forest, zipmap=False: TreeEnsembleClassifier with classlabels_int64s [0, 1]",
        ),
        _binary(
            "forest-tensor-int-empty-strings",
            _empty_strings_first(forest_tensor),
            "float32",
            False,
            "the same with an empty classlabels_strings before its classlabels_int64s",
        ),
        Model(
            "forest-zipmap-strings",
            _skl2onnx(forest_strings, "float32", True, "scenarios"),
            "multiclass",
            "float32",
            _io(True),
            columns,
            "legit",
            "forest on string labels, ZipMap with classlabels_strings (sorted: legit is column 1)",
        ),
        Model(
            "forest-tensor-strings",
            _skl2onnx(forest_strings, "float64", False, "scenarios"),
            "multiclass",
            "float64",
            _io(False),
            columns,
            "legit",
            "the same, zipmap=False, float64 input: TreeEnsembleClassifier with classlabels_strings",
        ),
        _binary(
            "linear-ints",
            linear,
            "float32",
            False,
            "float32 logistic regression, zipmap=False: LinearClassifier with classlabels_ints [0, 1]",
        ),
        _binary(
            "linear-ints-1-2",
            linear_1_2,
            "float32",
            False,
            "logistic regression on classes 1 and 2: LinearClassifier with classlabels_ints [1, 2]",
        ),
        _binary(
            "plain-f64",
            plain,
            "float64",
            False,
            "float64 logistic regression, zipmap=False: plain operators (MatMul, Sigmoid, Div), "
            "no class labels on the probability path",
        ),
        _binary(
            "ensemble-agreeing",
            _ensemble(linear, [0, 1], "agreeing"),
            "float32",
            False,
            "Mean of two LinearClassifiers that both name [0, 1]",
        ),
        _binary(
            "ensemble-conflicting",
            _ensemble(linear, [1, 0], "conflicting"),
            "float32",
            False,
            "Mean of two LinearClassifiers naming [0, 1] and [1, 0]",
        ),
        Model(
            "voting-strings",
            _skl2onnx(voting, "float32", False, "voting"),
            "binary",
            "float32",
            _io(False),
            tuple(str(c) for c in voting.classes_),
            "legit",
            "soft VotingClassifier of two forests on string labels, zipmap=False: the members name "
            "[0, 1], the label output picks [fraud, legit] from a constant (legit is column 1)",
        ),
        Model(
            "one-vs-rest-strings",
            _skl2onnx(one_vs_rest, "float32", False, "one_vs_rest"),
            "multiclass",
            "float32",
            _io(False),
            tuple(str(c) for c in one_vs_rest.classes_),
            "legit",
            "OneVsRestClassifier of forests on string scenarios, zipmap=False: binary members behind a "
            "Concat, the label output picks the classes from a constant",
        ),
        _binary(
            "linear-raw-scores",
            _raw_scores(linear),
            "float32",
            False,
            "LinearClassifier with post_transform NONE: raw scores, not probabilities",
        ),
    ]


# --- manifests ----------------------------------------------------------------------------


def true_manifest(model: Model) -> dict[str, Any]:
    """The manifest that describes the model truly, with samples from onnxruntime
    (through the service's ZipMap rewrite)."""
    matrix = np.array(SAMPLE_ROWS, dtype=np.float64)
    probabilities = onnx_model.probabilities(
        model.onnx_bytes, "input", model.outputs["probabilities"], matrix, model.element_type
    )
    manifest: dict[str, Any] = {
        "schema_version": 2,
        "name": f"acceptance-{model.stem}",
        "task": model.task,
        "version": "1.0.0",
        "created_at": CREATED_AT,
        "model_file": f"{model.stem}.onnx",
        "sha256": sha256_hex(model.onnx_bytes),
        "feature_spec_version": 1,
        "features": list(FEATURES),
        "input": {"name": "input", "element_type": model.element_type},
        "outputs": dict(model.outputs),
        "classes": [{"id": i, "label": label} for i, label in enumerate(model.classes)],
        "legitimate_class": model.legitimate,
    }
    if model.task == "binary":
        manifest["threshold"] = 0.5
    manifest["samples"] = [
        {"features": dict(zip(FEATURES, row, strict=True)), "probabilities": [float(p) for p in out]}
        for row, out in zip(SAMPLE_ROWS, probabilities, strict=True)
    ]
    manifest["sample_tolerance"] = TOLERANCE
    return manifest


def _reorder_legitimate_first(manifest: dict[str, Any]) -> None:
    labels = [c["label"] for c in manifest["classes"]]
    order = [manifest["legitimate_class"]] + [
        label for label in labels if label != manifest["legitimate_class"]
    ]
    manifest["classes"] = [{"id": i, "label": label} for i, label in enumerate(order)]


def _schema_version_1(manifest: dict[str, Any]) -> None:
    """As written before legitimate_class existed: class id 0 is legitimate."""
    manifest["schema_version"] = 1
    del manifest["legitimate_class"]


def _swap_labels(manifest: dict[str, Any]) -> None:
    manifest["classes"] = [
        {"id": i, "label": c["label"]} for i, c in enumerate(reversed(manifest["classes"]))
    ]


def _shift_sample(offset: float) -> Change:
    """Move `offset` of probability between the two largest columns of the sample whose
    smallest of them is largest (so that no value leaves [0, 1]); the sum stays 1."""

    def change(manifest: dict[str, Any]) -> None:
        def margin(sample: dict[str, Any]) -> float:
            return sorted(sample["probabilities"])[-2]

        probabilities = max(manifest["samples"], key=margin)["probabilities"]
        low, high = sorted(range(len(probabilities)), key=probabilities.__getitem__)[-2:]
        probabilities[low] += offset
        probabilities[high] -= offset

    return change


def _rename_feature(old: str, new: str, spec_version: int | None = None) -> Change:
    def change(manifest: dict[str, Any]) -> None:
        manifest["features"] = [new if name == old else name for name in manifest["features"]]
        for sample in manifest["samples"]:
            sample["features"][new] = sample["features"].pop(old)
        if spec_version is not None:
            manifest["feature_spec_version"] = spec_version

    return change


def _add_class(manifest: dict[str, Any]) -> None:
    """A third class (multiclass, no threshold) with probability 0 in every sample."""
    manifest["classes"].append({"id": 2, "label": "other"})
    manifest["task"] = "multiclass"
    del manifest["threshold"]
    for sample in manifest["samples"]:
        sample["probabilities"].append(0.0)


def _set(path: tuple[str, ...], value: Any) -> Change:
    def change(manifest: dict[str, Any]) -> None:
        target = manifest
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


CLASS_ORDER = r"the model's classes are "
CASES: tuple[Case, ...] = (
    # accepted: every way a model names (or does not name) its classes
    Case(
        "zipmap-int-labels", "forest-zipmap-int", "accepted", "ZipMap classlabels_int64s equal the class ids"
    ),
    Case(
        "tree-ensemble-int-labels",
        "forest-tensor-int",
        "accepted",
        "zipmap=False: TreeEnsembleClassifier classlabels_int64s equal the class ids",
    ),
    Case(
        "empty-label-attribute-names-nothing",
        "forest-tensor-int-empty-strings",
        "accepted",
        "an empty classlabels_strings is skipped: the classlabels_int64s beside it declare [0, 1]",
    ),
    Case(
        "zipmap-string-labels",
        "forest-zipmap-strings",
        "accepted",
        "ZipMap classlabels_strings equal the labels, legitimate class in column 1",
    ),
    Case(
        "tree-ensemble-string-labels",
        "forest-tensor-strings",
        "accepted",
        "TreeEnsembleClassifier classlabels_strings equal the labels (float64 input)",
    ),
    Case(
        "linear-classifier-ints",
        "linear-ints",
        "accepted",
        "LinearClassifier classlabels_ints equal the class ids",
    ),
    Case(
        "plain-ops-no-labels",
        "plain-f64",
        "accepted",
        "float64 logistic regression of plain operators: no labels, the manifest's order stands",
    ),
    Case(
        "plain-ops-no-labels-relabelled",
        "plain-f64",
        "accepted",
        "the same with the labels swapped: nothing in the model names its columns, so nothing can refuse it",
        change=_swap_labels,
    ),
    Case(
        "ensemble-agreeing-labels",
        "ensemble-agreeing",
        "accepted",
        "two classifiers on the probability path naming the same classes: one declaration",
    ),
    Case(
        "label-output-not-in-model",
        "forest-zipmap-int",
        "accepted",
        "outputs.label names no output: the label output is informational",
        change=_set(("outputs", "label"), "no_such_output"),
    ),
    Case(
        "samples-within-tolerance",
        "forest-zipmap-int",
        "accepted",
        "a sample's probabilities off by half the tolerance",
        change=_shift_sample(TOLERANCE / 2),
    ),
    Case(
        "history-features-in-a-version-1-manifest",
        "forest-zipmap-int",
        "accepted",
        "feature_spec_version 1 naming a history feature: the service serves every feature of its spec",
        change=_rename_feature("TX_DURING_NIGHT", "TERMINAL_ID_RISK_7DAY_WINDOW", 1),
    ),
    Case(
        "ensemble-label-output-names-the-classes",
        "voting-strings",
        "accepted",
        "members naming [0, 1] are indices: the label output's [fraud, legit] is the class order",
    ),
    Case(
        "one-vs-rest-label-output-names-the-classes",
        "one-vs-rest-strings",
        "accepted",
        "binary members behind a Concat: the label output names the three classes",
    ),
    # refused: class order
    Case(
        "ensemble-string-labels-in-the-members-order",
        "voting-strings",
        "refused",
        "[legit, fraud]: the members' [0, 1] read as the task's order, against the label output",
        reason="signature",
        message=CLASS_ORDER + r"\[fraud, legit\] \(constant \w+ of ArrayFeatureExtractor node \w+ "
        r"\(the label output's classes\)\)",
        change=_reorder_legitimate_first,
    ),
    Case(
        "string-labels-in-a-version-1-manifest",
        "forest-zipmap-strings",
        "refused",
        "schema_version 1 takes class id 0 as legitimate: column 0 of sorted string labels need not be",
        reason="manifest",
        message=r"a schema_version 1 manifest takes class id 0 \(at_night\) as legitimate.*"
        r"\"legitimate_class\".*--legitimate-class",
        change=_schema_version_1,
    ),
    Case(
        "zipmap-string-labels-reordered",
        "forest-zipmap-strings",
        "refused",
        "classes listed legitimate first, not in the ZipMap's column order",
        reason="signature",
        message=CLASS_ORDER + r"\[at_night, legit, over_220\] \(classlabels_strings of ZipMap node",
        change=_reorder_legitimate_first,
    ),
    Case(
        "tree-ensemble-string-labels-reordered",
        "forest-tensor-strings",
        "refused",
        "the same against a TreeEnsembleClassifier's classlabels_strings",
        reason="signature",
        message=CLASS_ORDER
        + r"\[at_night, legit, over_220\] \(classlabels_strings of TreeEnsembleClassifier",
        change=_reorder_legitimate_first,
    ),
    Case(
        "more-classes-than-the-model-names",
        "forest-tensor-int",
        "refused",
        "three classes for a TreeEnsembleClassifier that names [0, 1]",
        reason="signature",
        message=CLASS_ORDER + r"\[0, 1\] \(classlabels_int64s of TreeEnsembleClassifier node \w+\), "
        r"the manifest's classes are \[0, 1, 2\]",
        change=_add_class,
    ),
    Case(
        "linear-classifier-ints-not-class-ids",
        "linear-ints-1-2",
        "refused",
        "LinearClassifier classlabels_ints [1, 2] against class ids [0, 1]",
        reason="signature",
        message=CLASS_ORDER + r"\[1, 2\] \(classlabels_ints of LinearClassifier node \w+\), "
        r"the manifest's classes are \[0, 1\]",
    ),
    Case(
        "ensemble-conflicting-labels",
        "ensemble-conflicting",
        "refused",
        "two classifiers on the probability path naming [0, 1] and [1, 0]",
        reason="signature",
        # The walk is depth first from the last input: Mean's second input comes first.
        message=r"several class orders: \[1, 0\] \(classlabels_ints of LinearClassifier node second\), "
        r"\[0, 1\] \(classlabels_ints of LinearClassifier node first\)",
    ),
    # refused: signature
    Case(
        "wrong-input-name",
        "forest-zipmap-int",
        "refused",
        "input.name is not the graph's input",
        reason="signature",
        message=r"the model's input is input, the manifest says features",
        change=_set(("input", "name"), "features"),
    ),
    Case(
        "wrong-element-type",
        "forest-zipmap-int",
        "refused",
        "float64 declared for a float32 input",
        reason="signature",
        message=r"input input is float32, the manifest says float64",
        change=_set(("input", "element_type"), "float64"),
    ),
    Case(
        "probabilities-from-the-label-output",
        "forest-tensor-int",
        "refused",
        "outputs.probabilities names the int64 label output",
        reason="signature",
        message=r"output label is int64, not float probabilities",
        change=_set(("outputs", "probabilities"), "label"),
    ),
    # refused: samples
    Case(
        "samples-beyond-tolerance",
        "forest-zipmap-int",
        "refused",
        "a sample's probabilities off by twice the tolerance",
        reason="smoke",
        message=r"sample \d+ gives \[.*\], the manifest expects \[.*\] \(tolerance ",
        change=_shift_sample(2 * TOLERANCE),
    ),
    Case(
        "raw-scores-not-probabilities",
        "linear-raw-scores",
        "refused",
        "raw scores that do not sum to 1",
        reason="smoke",
        message=r"not finite values summing to 1",
    ),
    # refused: manifest, features, sha256, task
    Case(
        "legitimate-class-not-a-label",
        "forest-zipmap-int",
        "refused",
        "legitimate_class names no class",
        reason="manifest",
        message=r"legitimate_class '?legitimate'? is not one of the class labels",
        change=_set(("legitimate_class",), "legitimate"),
        valid=False,
    ),
    Case(
        "feature-not-in-the-spec",
        "forest-zipmap-int",
        "refused",
        "a feature the spec does not define",
        reason="features",
        message=r"feature TX_COLOUR is not in the feature specification",
        change=_rename_feature("TX_DURING_NIGHT", "TX_COLOUR"),
    ),
    Case(
        "sha256-mismatch",
        "forest-zipmap-int",
        "refused",
        "sha256 of other bytes",
        reason="sha256",
        message=r"has sha256 [0-9a-f]{64}, the manifest says 0{64}",
        change=_set(("sha256",), "0" * 64),
    ),
    Case(
        "multiclass-model-in-the-binary-slot",
        "forest-zipmap-strings",
        "refused",
        "a multiclass manifest loaded for the binary task",
        reason="task",
        message=r"is a multiclass model; the binary task needs a binary model",
        task="binary",
    ),
)


def case_manifest(case: Case, models: dict[str, Model]) -> dict[str, Any]:
    manifest = true_manifest(models[case.model])
    manifest["name"] = f"acceptance-{case.name}"[:63]
    if case.change is not None:
        case.change(manifest)
    return manifest


def build_acceptance(out_dir: Path, schema: dict[str, Any]) -> list[Path]:
    """Every model, one manifest per case (`<case>.json`), vectors.json and a README."""
    models = {model.stem: model for model in build_models()}
    written: list[Path] = []
    for model in models.values():
        path = out_dir / f"{model.stem}.onnx"
        write_atomic(path, model.onnx_bytes)
        written.append(path)
    entries: list[dict[str, Any]] = []
    for case in CASES:
        manifest = case_manifest(case, models)
        if case.valid:
            validate_manifest(manifest, schema)
        path = out_dir / f"{case.name}.json"
        write_atomic(path, manifest_bytes(manifest))
        written.append(path)
        entry: dict[str, Any] = {
            "case": case.name,
            "manifest": path.name,
            "task": case.task or manifest["task"],
            "verdict": case.verdict,
        }
        if case.verdict == "refused":
            entry |= {"reason": case.reason, "message": case.message}
        entries.append(entry | {"what": case.what})
    vectors = out_dir / "vectors.json"
    write_atomic(
        vectors, (json.dumps({"cases": entries}, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    )
    readme = out_dir / "README.md"
    write_atomic(readme, render_readme(list(models.values()), entries).encode("utf-8"))
    return [*written, vectors, readme]


def render_readme(models: list[Model], entries: list[dict[str, Any]]) -> str:
    lines = [
        "# Acceptance vectors: the service and `training/run verify` reach the same verdict",
        "",
        "Generated by `training/run acceptance-fixtures`; do not edit by hand. Each case is a manifest "
        "(`<case>.json`) for one of the small models below and the verdict both sides must reach: "
        "`training/tests/test_acceptance.py` runs it through `verify`, `test/unit/acceptanceVectors.test.ts` "
        "through the service's loader (`src/models/modelLoader.ts`), in the task slot `task`. A refusal must "
        "carry the service's rejection reason (the `reason` label of `fraud_model_load_failures_total`) and "
        "a message matching `message` on both sides. `vectors.json` is the machine-readable list.",
        "",
        "The class-order rule both implement (`src/models/onnxClassLabels.ts` and `onnxModelClasses.ts`, "
        "`training/src/fraud_training/onnx_model.py`): walk back from the probability output; on each path "
        "the first node with a non-empty `classlabels_int64s`, `classlabels_ints` or `classlabels_strings` "
        "declares the labels of the columns. Walk back from the label output too: the first node naming "
        "classes, or an ArrayFeatureExtractor picking them from a constant, names them; where it does, "
        "that list is the order and probability-path lists that are mere indices (0, 1, ... as ensemble "
        "members write them) are set aside. No declaration: the manifest's order stands (only the column "
        "count and the samples hold it to account). One: integer labels must equal the class ids, string "
        "labels the class labels, in order (and need manifest schema version 2). Several different ones: "
        "refused.",
        "",
        "| model | input | probabilities | columns | what it is |",
        "| --- | --- | --- | --- | --- |",
    ]
    for model in models:
        lines.append(
            f"| `{model.stem}.onnx` | `input` {model.element_type} [N, 3] | "
            f"`{model.outputs['probabilities']}` | [{', '.join(model.classes)}] | {model.description} |"
        )
    lines += ["", "| case | model | slot | verdict | what it checks |", "| --- | --- | --- | --- | --- |"]
    by_case = {case.name: case for case in CASES}
    for entry in entries:
        verdict = "accepted" if entry["verdict"] == "accepted" else f"refused ({entry['reason']})"
        lines.append(
            f"| `{entry['case']}` | `{by_case[entry['case']].model}` | {entry['task']} | {verdict} "
            f"| {entry['what']} |"
        )
    lines.append("")
    return "\n".join(lines)
