"""Check a manifest and its model file exactly as the service does before serving
(src/models/manifest.ts and modelLoader.ts), rule for rule and in the same order:

1. manifest: JSON, the schema, and what the schema cannot say (created_at a date,
   class ids 0, 1, ... in order, distinct labels, legitimate_class one of them, samples
   giving exactly the features and one probability per class);
2. task: the manifest's task is the one asked for (the service's slot), when one is;
3. sha256 of the model file;
4. features: feature_spec_version not newer than the spec, every feature in the spec;
5. class order: the labels the model declares for its probability output and the
   classes its label output is picked from (onnx_model.model_class_labels, the
   service's onnxModelClasses) must be the manifest's class ids (integer labels) or
   labels (string labels), in order; two different declarations are refused; none,
   and the manifest's order stands; string labels need schema version 2 (a version-1
   manifest would take the first, sorted, label as legitimate);
6. onnx: the ZipMap feeding the probability output turned into an Identity, as the
   service does, and the graph loaded by onnxruntime;
7. signature, as onnxruntime reports it: one tensor input of the manifest's name and
   element type, shape [N, features]; the probability output a float32 or float64
   tensor [N, classes] (the label output is informational and not checked);
8. smoke: the samples run, each row finite, summing to 1 within 1e-4, and within
   sample_tolerance (1e-5 by default) of the manifest's probabilities.

A refusal is a ModelRefused whose `reason` is the service's rejection reason (the
`reason` label of its failure metric), so a model this accepts is one the service
accepts and the other way round; test/fixtures/acceptance holds the two to that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort

from fraud_training import onnx_model
from fraud_training.features import FeatureSpec
from fraud_training.manifest import ManifestError, load_manifest, sha256_hex, validate_manifest

DEFAULT_SAMPLE_TOLERANCE = 1e-5
PROBABILITY_SUM_TOLERANCE = 1e-4

RejectionReason = Literal["manifest", "task", "sha256", "features", "onnx", "signature", "smoke"]
# onnxruntime's Python type names, as onnxruntime-node names them.
ORT_ELEMENT_TYPES = {
    "float": "float32",
    "double": "float64",
    "float16": "float16",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "bool": "bool",
    "string": "string",
}


class ModelRefused(ManifestError):
    """The service would refuse this model version; `reason` is the service's
    rejection reason (manifest, task, sha256, features, onnx, signature, smoke)."""

    def __init__(self, reason: RejectionReason, message: str) -> None:
        super().__init__(message)
        self.reason: RejectionReason = reason


@dataclass(frozen=True)
class VerifiedModel:
    """A manifest that passed every check, with what was measured."""

    manifest_path: Path
    model_path: Path
    manifest: dict[str, Any]
    model_bytes: bytes
    max_sample_difference: float


# --- 1-3: the manifest, the task, the bytes ---------------------------------------------


def check_consistency(manifest: dict[str, Any]) -> None:
    """What the schema cannot say, beyond validate_manifest (the rest of the service's
    findInconsistency)."""
    try:
        datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
    except ValueError as error:
        raise ModelRefused("manifest", f"created_at {manifest['created_at']} is not a date-time") from error
    names = set(manifest["features"])
    for index, sample in enumerate(manifest["samples"]):
        if set(sample["features"]) != names:
            raise ModelRefused(
                "manifest",
                f"samples[{index}].features must give exactly the features {', '.join(manifest['features'])}",
            )
        if len(sample["probabilities"]) != len(manifest["classes"]):
            raise ModelRefused(
                "manifest",
                f"samples[{index}].probabilities must have {len(manifest['classes'])} values, one per class",
            )


def check_manifest(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    try:
        validate_manifest(manifest, schema)
    except ModelRefused:
        raise
    except ManifestError as error:
        raise ModelRefused("manifest", str(error)) from error
    check_consistency(manifest)


def read_checked_model(
    manifest_path: Path, schema: dict[str, Any], task: str | None = None
) -> tuple[dict[str, Any], Path, bytes]:
    """Schema-valid, consistent manifest of the task asked for, its model file beside
    it, and matching sha256."""
    try:
        manifest = load_manifest(manifest_path)
        if not isinstance(manifest, dict):
            raise ManifestError("manifest does not match the schema: <root>: not an object")
        check_manifest(manifest, schema)
    except ModelRefused as error:
        raise ModelRefused(error.reason, f"{manifest_path}: {error}") from error
    except ManifestError as error:
        raise ModelRefused("manifest", str(error)) from error
    where = f"{manifest_path}: {manifest['name']} {manifest['version']}"
    if task is not None and manifest["task"] != task:
        raise ModelRefused(
            "task", f"{where} is a {manifest['task']} model; the {task} task needs a {task} model"
        )
    model_path = manifest_path.parent / manifest["model_file"]
    try:
        model_bytes = model_path.read_bytes()
    except OSError as error:
        raise ManifestError(f"{where}: cannot read model_file {model_path}: {error}") from error
    actual = sha256_hex(model_bytes)
    if actual != manifest["sha256"]:
        raise ModelRefused(
            "sha256",
            f"{where}: {manifest['model_file']} has sha256 {actual}, the manifest says {manifest['sha256']}",
        )
    return manifest, model_path, model_bytes


# --- 4-5: features and class order ------------------------------------------------------


def check_features(manifest: dict[str, Any], spec: FeatureSpec) -> None:
    """A spec version this service implements, and features the spec defines. (Each
    spec version keeps every feature of the earlier ones, so older models still serve;
    the service serves whatever features the spec defines, whatever version the
    manifest declares.)"""
    declared = manifest["feature_spec_version"]
    if declared > spec.spec_version:
        raise ModelRefused(
            "features",
            f"was built for feature spec version {declared}; this service implements versions up to "
            f"{spec.spec_version}",
        )
    for name in manifest["features"]:
        if name not in spec.names:
            raise ModelRefused("features", f"feature {name} is not in the feature specification")


def expected_labels(manifest: dict[str, Any], model_labels: onnx_model.ClassLabels) -> list[int] | list[str]:
    """Integer model labels are compared with the class ids, string ones with the labels."""
    if model_labels and isinstance(model_labels[0], str):
        return [c["label"] for c in manifest["classes"]]
    return [c["id"] for c in manifest["classes"]]


def check_classes(manifest: dict[str, Any], model_bytes: bytes) -> None:
    """The service's checkClassOrder: one declaration must match; none cannot be checked
    (the column count is, by the signature; the order is the manifest's)."""
    try:
        model = onnx_model.load(model_bytes)
    except onnx_model.OnnxModelError as error:
        raise ModelRefused("onnx", str(error)) from error
    output = manifest["outputs"]["probabilities"]
    declared = onnx_model.model_class_labels(model, output, manifest["outputs"].get("label"))
    if not declared:
        return
    if len(declared) > 1:
        lists = ", ".join(entry.shown() for entry in declared)
        raise ModelRefused("signature", f"the model gives output {output} several class orders: {lists}")
    (source,) = declared
    expected = expected_labels(manifest, source.labels)
    if list(source.labels) != expected:
        raise ModelRefused(
            "signature",
            f"the model's classes are {source.shown()}, the manifest's classes are "
            f"{onnx_model.format_labels(expected)}; the manifest must list them in the order of the model's "
            "probability columns",
        )
    if "legitimate_class" not in manifest and isinstance(source.labels[0], str):
        # Schema version 1 takes column 0 as legitimate, right only for integer labels
        # (0 = legitimate); string labels are sorted, so column 0 of legit/fraud is fraud.
        raise ModelRefused(
            "manifest",
            f"a schema_version 1 manifest takes class id 0 ({source.labels[0]}) as legitimate, but the "
            f"model names its classes {source.shown()}, which need not put the legitimate class first; "
            'set "schema_version": 2 and "legitimate_class" to the legitimate label, or package the model '
            "again (training/run package <model.onnx> --task <task> --legitimate-class <label>)",
        )


# --- 6-8: the session, its signature, the samples --------------------------------------


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0]


def open_served_session(manifest: dict[str, Any], model_bytes: bytes) -> ort.InferenceSession:
    """The session the service would build: ZipMap rewritten, loaded by onnxruntime."""
    from fraud_training.inference import open_session

    try:
        rewritten = onnx_model.zipmap_as_identity(model_bytes, manifest["outputs"]["probabilities"])
    except onnx_model.OnnxModelError as error:
        raise ModelRefused("onnx", str(error)) from error
    try:
        return open_session(rewritten)
    except Exception as error:  # onnxruntime raises its own exception types
        raise ModelRefused("onnx", f"onnxruntime cannot load the model: {_first_line(error)}") from error


def _element_type(type_name: str) -> str:
    """onnxruntime-node's name for an element type: tensor(float) -> float32."""
    inner = type_name.removeprefix("tensor(").removesuffix(")")
    return ORT_ELEMENT_TYPES.get(inner, inner)


def _shape(shape: list[int | str | None]) -> str:
    """A shape as the service prints it: unnamed dimensions as N."""
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


def _fits(shape: list[int | str | None], width: int) -> bool:
    """Rank 2 and, when the second dimension is fixed, equal to `width`."""
    return len(shape) == 2 and (not isinstance(shape[1], int) or shape[1] == width)


def check_signature(manifest: dict[str, Any], session: ort.InferenceSession) -> None:
    """The service's checkSignature, on onnxruntime's view of the rewritten graph."""

    def refuse(problem: str) -> ModelRefused:
        return ModelRefused("signature", problem)

    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise refuse(
            f"the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); one is expected"
        )
    (graph_input,) = inputs
    declared = manifest["input"]
    if graph_input.name != declared["name"]:
        raise refuse(f"the model's input is {graph_input.name}, the manifest says {declared['name']}")
    if not graph_input.type.startswith("tensor("):
        raise refuse(f"input {declared['name']} is not a tensor")
    if _element_type(graph_input.type) != declared["element_type"]:
        raise refuse(
            f"input {graph_input.name} is {_element_type(graph_input.type)}, "
            f"the manifest says {declared['element_type']}"
        )
    width = len(manifest["features"])
    if not _fits(list(graph_input.shape), width):
        raise refuse(
            f"input {graph_input.name} has shape {_shape(list(graph_input.shape))}, "
            f"the manifest's {width} features need [N, {width}]"
        )
    name = manifest["outputs"]["probabilities"]
    output = next((o for o in session.get_outputs() if o.name == name), None)
    if output is None:
        raise refuse(f"the model has no output {name}")
    if not output.type.startswith("tensor("):
        raise refuse(f"output {name} is not a tensor (nor a ZipMap that can be read as one)")
    if _element_type(output.type) not in ("float32", "float64"):
        raise refuse(f"output {name} is {_element_type(output.type)}, not float probabilities")
    classes = len(manifest["classes"])
    if not _fits(list(output.shape), classes):
        raise refuse(
            f"output {name} has shape {_shape(list(output.shape))}, the manifest's {classes} classes need "
            f"[N, {classes}]"
        )


def sample_matrix(manifest: dict[str, Any]) -> np.ndarray:
    names = manifest["features"]
    return np.array([[s["features"][n] for n in names] for s in manifest["samples"]], dtype=np.float64)


def check_samples(manifest: dict[str, Any], session: ort.InferenceSession) -> float:
    """Run the samples; each row finite, summing to 1 and within sample_tolerance of
    the manifest's. Returns the largest difference."""
    from fraud_training.inference import NUMPY_TYPES

    element_type = manifest["input"]["element_type"]
    try:
        (raw,) = session.run(
            [manifest["outputs"]["probabilities"]],
            {manifest["input"]["name"]: sample_matrix(manifest).astype(NUMPY_TYPES[element_type])},
        )
    except Exception as error:  # onnxruntime raises its own exception types
        raise ModelRefused("smoke", f"the sample inputs do not run: {_first_line(error)}") from error
    actual = np.asarray(raw, dtype=np.float64)
    expected = np.array([s["probabilities"] for s in manifest["samples"]], dtype=np.float64)
    classes = len(manifest["classes"])
    if actual.size != expected.size:
        raise ModelRefused(
            "smoke", f"{actual.size} probabilities for {len(expected)} samples x {classes} classes"
        )
    actual = actual.reshape(expected.shape)
    tolerance = float(manifest.get("sample_tolerance", DEFAULT_SAMPLE_TOLERANCE))
    for row, (got, want) in enumerate(zip(actual, expected, strict=True)):
        shown = ", ".join(repr(float(v)) for v in got)
        if not np.isfinite(got).all() or abs(math.fsum(got) - 1) > PROBABILITY_SUM_TOLERANCE:
            raise ModelRefused(
                "smoke", f"sample {row} gives probabilities [{shown}], not finite values summing to 1"
            )
        if (np.abs(got - want) > tolerance).any():
            raise ModelRefused(
                "smoke",
                f"sample {row} gives [{shown}], the manifest expects "
                f"[{', '.join(repr(float(v)) for v in want)}] (tolerance {tolerance:g})",
            )
    return float(np.abs(actual - expected).max()) if actual.size else 0.0


def check_model(manifest: dict[str, Any], model_bytes: bytes, spec: FeatureSpec) -> float:
    """Every check after the manifest, task and sha256, in the service's order;
    returns the largest sample difference."""
    check_features(manifest, spec)
    check_classes(manifest, model_bytes)
    session = open_served_session(manifest, model_bytes)
    check_signature(manifest, session)
    return check_samples(manifest, session)


def verify_model(
    manifest_path: Path, schema: dict[str, Any], spec: FeatureSpec, task: str | None = None
) -> VerifiedModel:
    """The service's verdict on a manifest file and the model beside it: the checked
    model, or ModelRefused naming the file, the model and the reason."""
    manifest, model_path, model_bytes = read_checked_model(manifest_path, schema, task)
    try:
        difference = check_model(manifest, model_bytes, spec)
    except ModelRefused as error:
        where = f"{manifest_path}: {manifest['name']} {manifest['version']}"
        raise ModelRefused(error.reason, f"{where}: {error}") from error
    return VerifiedModel(manifest_path, model_path, manifest, model_bytes, difference)
