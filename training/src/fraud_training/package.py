"""`package`: a manifest for an ONNX classifier someone exported themselves.

Everything the manifest states about the model is read from the model: the input's
name and element type, the probability and label outputs, and the class labels in
column order, by the rule the service checks them with (onnx_model: walking back from
the probability output to the first node naming its classes, such as a ZipMap or an
ai.onnx.ml classifier). The person says only what the model cannot: the task, the
features (spec names, in input order), which class is legitimate and the threshold;
and, for a model built from plain operators that names no classes, the labels of its
probability columns (--class-labels), which are then checked against the model's
label output where it has one. The smoke samples are real and synthetic feature
vectors of a small simulation, scored with Python onnxruntime; the written manifest
then goes through `verify`, the service's own checks, before it is reported as
packaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraud_training import onnx_model
from fraud_training.errors import PipelineError
from fraud_training.features import FeatureSpec, compute_features
from fraud_training.manifest import SAMPLE_TOLERANCE, sha256_hex, write_model
from fraud_training.samples import sample_inputs
from fraud_training.simulate import SimulationConfig, simulate
from fraud_training.train import TASK_SPECS, TaskName
from fraud_training.verify import VerifiedModel, check_consistency, check_model

# Small enough to take a second, long enough (40 days) for the windows to fill and
# for every scenario to occur.
SAMPLE_SIMULATION = SimulationConfig(n_customers=400, n_terminals=800, n_days=40, seed=7)
SAMPLE_DAYS = 7  # samples come from the last week


class PackageError(PipelineError):
    """The model cannot be packaged as asked; says why, in one line."""


@dataclass(frozen=True)
class PackageRequest:
    model_path: Path
    task: TaskName
    features: tuple[str, ...] | None = None
    legitimate_class: str | None = None
    class_labels: tuple[str, ...] | None = None  # names for integer classes 0, 1, ...
    threshold: float | None = None
    name: str | None = None
    version: str | None = None
    created_at: str = "1970-01-01T00:00:00Z"
    out_dir: Path | None = None


@dataclass(frozen=True)
class PackagedModel:
    manifest: dict[str, Any]
    model_path: Path
    manifest_path: Path
    max_sample_difference: float

    @property
    def verified(self) -> VerifiedModel:
        return VerifiedModel(
            self.manifest_path,
            self.model_path,
            self.manifest,
            self.model_path.read_bytes(),
            self.max_sample_difference,
        )


@dataclass(frozen=True)
class Signature:
    input_name: str
    element_type: onnx_model.ElementType
    width: int | None
    probabilities: str
    label: str | None
    labels: onnx_model.ClassLabels | None  # None: the model names no classes


def read_signature(model_bytes: bytes) -> Signature:
    """Input, outputs and class labels, from the model alone."""
    try:
        model = onnx_model.load(model_bytes)
    except onnx_model.OnnxModelError as error:
        raise PackageError(str(error)) from error
    inputs = onnx_model.graph_inputs(model)
    if len(inputs) != 1 or inputs[0].kind != "tensor" or inputs[0].shape is None or len(inputs[0].shape) != 2:
        shown = ", ".join(f"{i.name} {i.kind} {i.shape}" for i in inputs)
        raise PackageError(f"the model needs one tensor input [N, features]; it has: {shown}")
    (graph_input,) = inputs
    if graph_input.element_type not in ("float32", "float64"):
        raise PackageError(
            f"input {graph_input.name} is {graph_input.element_type}; float32 or float64 is needed"
        )
    width = (
        graph_input.shape[1] if isinstance(graph_input.shape[1], int) and graph_input.shape[1] > 0 else None
    )
    probabilities, label = _outputs(model)
    declared = onnx_model.model_class_labels(model, probabilities, label)
    if len(declared) > 1:
        raise PackageError(
            f"the model gives output {probabilities} several class orders: "
            + ", ".join(entry.shown() for entry in declared)
        )
    element_type: onnx_model.ElementType = "float32" if graph_input.element_type == "float32" else "float64"
    labels = declared[0].labels if declared else None
    return Signature(graph_input.name, element_type, width, probabilities, label, labels)


def _outputs(model: Any) -> tuple[str, str | None]:
    """(probabilities, label): the output a ZipMap produces, else the one float
    tensor of rank 2; the label is a rank-1 int64 or string tensor, if any."""
    outputs = onnx_model.graph_outputs(model)
    zipmapped = [o.name for o in outputs if onnx_model.zipmap_for(model, o.name) is not None]
    tensors = [
        o.name
        for o in outputs
        if o.kind == "tensor"
        and o.element_type in ("float32", "float64")
        and o.shape is not None
        and len(o.shape) == 2
    ]
    candidates = zipmapped or tensors
    if len(candidates) != 1:
        raise PackageError(
            "cannot tell the probability output: expected one ZipMap output or one float tensor "
            "[N, classes], "
            f"the model has {[(o.name, o.kind, o.element_type) for o in outputs]}"
        )
    labels = [
        o.name
        for o in outputs
        if o.kind == "tensor"
        and o.element_type in ("int64", "string")
        and o.shape is not None
        and len(o.shape) == 1
    ]
    return candidates[0], labels[0] if len(labels) == 1 else None


def manifest_classes(
    request: PackageRequest, labels: onnx_model.ClassLabels | None
) -> tuple[list[dict[str, Any]], str]:
    """Classes in column order and the legitimate class's label."""
    if labels is None:
        return _given_classes(request)
    _check_class_count(request, len(labels), labels)
    task = TASK_SPECS[request.task]
    if isinstance(labels[0], str):
        names = [str(label) for label in labels]
        if request.class_labels is not None and list(request.class_labels) != names:
            raise PackageError(
                f"the model names its classes {onnx_model.format_labels(names)} in column order; "
                f"--class-labels {','.join(request.class_labels)} would relabel them: leave it out"
            )
        if request.legitimate_class is None:
            raise PackageError(f"--legitimate-class is required for string class labels (one of {names})")
        legitimate = request.legitimate_class
    else:
        if list(labels) != list(range(len(labels))):
            raise PackageError(
                f"integer class labels must be 0, 1, ... in column order (the manifest's class ids); "
                f"this model has {onnx_model.format_labels(labels)}: train it again on labels 0 to "
                f"{len(labels) - 1}, 0 the legitimate class (sklearn's LabelEncoder maps sorted labels so), "
                "or on string labels and give --legitimate-class"
            )
        names = list(request.class_labels) if request.class_labels else list(task.class_labels)
        if len(names) != len(labels):
            raise PackageError(f"{len(names)} class labels given for {len(labels)} classes: {names}")
        legitimate = _legitimate_for_integers(request.legitimate_class, names)
    if legitimate not in names:
        raise PackageError(f"--legitimate-class {legitimate!r} is not one of the model's classes {names}")
    return [{"id": i, "label": label} for i, label in enumerate(names)], legitimate


def _check_class_count(request: PackageRequest, count: int, labels: object) -> None:
    if request.task == "binary" and count != 2:
        raise PackageError(f"a binary model has 2 classes; this one has {count}: {labels}")
    if request.task == "multiclass" and count < 3:
        raise PackageError(f"a multiclass model has at least 3 classes; this one has {count}: {labels}")


def _given_classes(request: PackageRequest) -> tuple[list[dict[str, Any]], str]:
    """A model that names no classes: the person names its columns (--class-labels, in
    column order) and the legitimate one; nothing in the model can say either."""
    if request.class_labels is None or request.legitimate_class is None:
        raise PackageError(
            "the model does not name its classes (no ZipMap or classifier node with classlabels_* feeds "
            "its probability output): give --class-labels (the labels of its probability columns, in "
            "order) and --legitimate-class"
        )
    names = list(request.class_labels)
    if len(set(names)) != len(names):
        raise PackageError(f"--class-labels lists a label twice: {', '.join(names)}")
    _check_class_count(request, len(names), names)
    legitimate = _legitimate_for_integers(request.legitimate_class, names)
    if legitimate not in names:
        raise PackageError(f"--legitimate-class {legitimate!r} is not one of --class-labels {names}")
    return [{"id": i, "label": label} for i, label in enumerate(names)], legitimate


def check_label_output(
    labels: list[str],
    probabilities: np.ndarray,
    label_values: np.ndarray | None,
    label_output: str | None,
    named: bool = False,
) -> None:
    """The model's label output, where it has one, must name the most probable column
    of each sample (its index for integer labels, its label for string ones): the
    class order read from the model, or given by --class-labels for a model that names
    no classes (`named` False), must be the columns'. Rows whose largest probability
    is shared are skipped (the label then depends on the exporter's tie rule)."""
    if label_values is None or label_output is None:
        return
    values = np.asarray(label_values).reshape(-1)
    if len(values) != len(probabilities):
        return
    for row, (scores, value) in enumerate(zip(probabilities, values, strict=True)):
        top = int(np.argmax(scores))
        if np.count_nonzero(scores == scores[top]) > 1:
            continue
        said = value.decode("utf-8") if isinstance(value, bytes) else value
        said = said.item() if isinstance(said, np.generic) else said
        expected: object = labels[top] if isinstance(said, str) else top
        if said != expected and named:
            raise PackageError(
                f"sample {row}: the model's label output {label_output} says {said!r}, but its largest "
                f"probability is column {top} ({labels[top]!r} in the class order the model declares): "
                "the model's probability columns are not in the order of its classes; it cannot be served"
            )
        if said != expected:
            raise PackageError(
                f"sample {row}: the model's label output {label_output} says {said!r}, but its largest "
                f"probability is column {top} ({labels[top]!r} by --class-labels, {expected!r} as the label "
                "output would name it): --class-labels must name the probability columns in order"
            )


def _legitimate_for_integers(given: str | None, names: list[str]) -> str:
    """For integer classes the legitimate class may be given as its label or its id."""
    if given is None:
        return names[0]
    if given in names:
        return given
    if given.isdigit() and int(given) < len(names):
        return names[int(given)]
    return given


def feature_names(request: PackageRequest, spec: FeatureSpec, width: int | None) -> tuple[str, ...]:
    names = request.features if request.features is not None else spec.names
    try:
        spec.check_names(names)
    except ValueError as error:
        raise PackageError(str(error)) from error
    if len(set(names)) != len(names):
        raise PackageError(f"--features lists a feature twice: {', '.join(names)}")
    if width is None and request.features is None:
        raise PackageError(
            "the model's input width is not fixed, so it cannot tell which features it takes: give "
            f"--features (spec names in input order; all {len(spec.names)} of the spec would be "
            f"{','.join(spec.names)})"
        )
    if width is not None and width != len(names):
        given = "--features gives" if request.features is not None else "the spec has (give --features)"
        raise PackageError(f"the model's input takes {width} columns; {given} {len(names)} features")
    return tuple(names)


def sample_frame(spec: FeatureSpec, names: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last week of a small simulation and its features (computed on the whole stream)."""
    stream = simulate(SAMPLE_SIMULATION).transactions
    features = compute_features(stream, spec, names)
    last_week = (stream["TX_TIME_DAYS"] >= SAMPLE_SIMULATION.n_days - SAMPLE_DAYS).to_numpy()
    return stream[last_week].reset_index(drop=True), features[last_week].reset_index(drop=True)


def package_model(request: PackageRequest, spec: FeatureSpec, schema: dict[str, Any]) -> PackagedModel:
    """Read the model, write its manifest beside it (or in out_dir, with a copy of the
    model), and check both as the service will."""
    try:
        model_bytes = request.model_path.read_bytes()
    except OSError as error:
        raise PackageError(f"cannot read {request.model_path}: {error.strerror}") from error
    signature = read_signature(model_bytes)
    names = feature_names(request, spec, signature.width)
    classes, legitimate = manifest_classes(request, signature.labels)
    test, features = sample_frame(spec, names)
    inputs = sample_inputs(test, features, names)
    matrix = pd.DataFrame(inputs)[list(names)].to_numpy()
    wanted = [signature.probabilities] + ([signature.label] if signature.label else [])
    outputs = onnx_model.run_outputs(
        model_bytes, signature.input_name, wanted, matrix, signature.element_type
    )
    probabilities = outputs[0].astype(np.float64)
    check_label_output(
        [c["label"] for c in classes],
        probabilities,
        outputs[1] if len(outputs) > 1 else None,
        signature.label,
        named=signature.labels is not None,
    )
    task = TASK_SPECS[request.task]
    digest = sha256_hex(model_bytes)
    manifest: dict[str, Any] = {
        "schema_version": 2,
        "name": request.name or task.model_name,
        "task": request.task,
        "version": request.version or digest[:12],
        "created_at": request.created_at,
        "model_file": request.model_path.name,
        "sha256": digest,
        "feature_spec_version": spec.version_for(names),
        "features": list(names),
        "input": {"name": signature.input_name, "element_type": signature.element_type},
        "outputs": {"probabilities": signature.probabilities}
        | ({"label": signature.label} if signature.label else {}),
        "classes": classes,
        "legitimate_class": legitimate,
    }
    if request.task == "binary":
        manifest["threshold"] = 0.5 if request.threshold is None else request.threshold
    manifest["training"] = {"packaged_by": "training/run package", "source_file": request.model_path.name}
    manifest["samples"] = [
        {"features": sample, "probabilities": [float(p) for p in row]}
        for sample, row in zip(inputs, probabilities, strict=True)
    ]
    manifest["sample_tolerance"] = SAMPLE_TOLERANCE
    try:
        check_consistency(manifest)
        difference = check_model(manifest, model_bytes, spec)
    except (ValueError, PipelineError) as error:
        raise PackageError(f"{request.model_path}: the service would refuse it: {error}") from error
    folder = request.out_dir or request.model_path.parent
    model_path, manifest_path = write_model(folder, manifest, model_bytes, schema)
    return PackagedModel(manifest, model_path, manifest_path, difference)
