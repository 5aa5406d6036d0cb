"""Check a manifest and its model file exactly as the service does before serving
(src/models/manifest.ts and modelLoader.ts), in the same order: schema and the
manifest's own consistency, sha256, features, class order (ZipMap or the
classifier's classlabels_*), the input/output signature, and the smoke samples
(finite, summing to 1, within the tolerance) through onnxruntime with the ZipMap
rewritten as the service rewrites it. A model this accepts is one the service
accepts, and the other way round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from fraud_training import onnx_model
from fraud_training.features import FeatureSpec
from fraud_training.manifest import ManifestError, load_manifest, sha256_hex, validate_manifest

DEFAULT_SAMPLE_TOLERANCE = 1e-5
PROBABILITY_SUM_TOLERANCE = 1e-4


@dataclass(frozen=True)
class VerifiedModel:
    """A manifest that passed every check, with what was measured."""

    manifest_path: Path
    model_path: Path
    manifest: dict[str, Any]
    model_bytes: bytes
    max_sample_difference: float


def check_consistency(manifest: dict[str, Any]) -> None:
    """What the schema cannot say (the service's findInconsistency, plus the
    legitimate class naming one of the classes)."""
    try:
        datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
    except ValueError as error:
        raise ManifestError(f"created_at {manifest['created_at']} is not a date-time") from error
    names = set(manifest["features"])
    for index, sample in enumerate(manifest["samples"]):
        if set(sample["features"]) != names:
            raise ManifestError(
                f"samples[{index}].features must give exactly the features {', '.join(manifest['features'])}"
            )
        if len(sample["probabilities"]) != len(manifest["classes"]):
            raise ManifestError(
                f"samples[{index}].probabilities must have {len(manifest['classes'])} values, one per class"
            )
    labels = [c["label"] for c in manifest["classes"]]
    if "legitimate_class" in manifest and manifest["legitimate_class"] not in labels:
        raise ManifestError(
            f"legitimate_class {manifest['legitimate_class']!r} is not one of the classes {labels}"
        )


def read_checked_model(manifest_path: Path, schema: dict[str, Any]) -> tuple[dict[str, Any], Path, bytes]:
    """Schema-valid, consistent manifest, its model file beside it, and matching sha256."""
    manifest = load_manifest(manifest_path)
    try:
        validate_manifest(manifest, schema)
        check_consistency(manifest)
    except ManifestError as error:
        raise ManifestError(f"{manifest_path}: {error}") from error
    model_path = manifest_path.parent / manifest["model_file"]
    try:
        model_bytes = model_path.read_bytes()
    except OSError as error:
        raise ManifestError(f"{manifest_path}: cannot read model_file {model_path}: {error}") from error
    actual = sha256_hex(model_bytes)
    if actual != manifest["sha256"]:
        raise ManifestError(
            f"{manifest_path}: sha256 {manifest['sha256']} does not match {model_path.name} ({actual})"
        )
    return manifest, model_path, model_bytes


def check_features(manifest: dict[str, Any], spec: FeatureSpec) -> None:
    """Known features of a spec version this package implements; a version-1
    manifest may only use version-1 (stateless) features."""
    declared = manifest["feature_spec_version"]
    if declared > spec.spec_version:
        raise ManifestError(
            f"feature_spec_version {declared} is newer than the feature spec ({spec.spec_version})"
        )
    unknown = [name for name in manifest["features"] if name not in spec.names]
    if unknown:
        raise ManifestError(f"features not in the feature spec: {', '.join(unknown)}")
    if spec.version_for(manifest["features"]) > declared:
        history = [name for name in manifest["features"] if name not in spec.stateless_names]
        raise ManifestError(
            f"feature_spec_version {declared} has no feature {', '.join(history)} "
            f"(spec version {spec.spec_version})"
        )


def expected_labels(manifest: dict[str, Any], model_labels: onnx_model.ClassLabels) -> list[int] | list[str]:
    """Integer model labels are compared with the class ids, string ones with the labels."""
    if model_labels and isinstance(model_labels[0], str):
        return [c["label"] for c in manifest["classes"]]
    return [c["id"] for c in manifest["classes"]]


def check_classes(manifest: dict[str, Any], model_bytes: bytes) -> None:
    model = onnx_model.load(model_bytes)
    source = onnx_model.class_source(model, manifest["outputs"]["probabilities"])
    if source is None:
        raise ManifestError(
            "the model does not name its classes: no ZipMap produces the probability output "
            f"{manifest['outputs']['probabilities']!r} and the graph has no single classifier node with "
            "classlabels_int64s or classlabels_strings"
        )
    expected = expected_labels(manifest, source.labels)
    if list(source.labels) != expected:
        raise ManifestError(
            f"the model's {source.node} classes are {source.labels}, the manifest's classes are {expected}"
        )


def check_signature(manifest: dict[str, Any], model_bytes: bytes) -> None:
    """One tensor input [N, features] of the manifest's name and element type; the
    probability output a float tensor [N, classes] (after the ZipMap rewrite)."""
    model = onnx_model.load(onnx_model.zipmap_as_identity(model_bytes, manifest["outputs"]["probabilities"]))
    inputs = onnx_model.graph_inputs(model)
    declared = manifest["input"]
    if len(inputs) != 1:
        raise ManifestError(
            f"the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); one is expected"
        )
    (graph_input,) = inputs
    if graph_input.name != declared["name"]:
        raise ManifestError(f"the model's input is {graph_input.name}, the manifest says {declared['name']}")
    if graph_input.kind != "tensor":
        raise ManifestError(f"input {graph_input.name} is not a tensor")
    if graph_input.element_type != declared["element_type"]:
        raise ManifestError(
            f"input {graph_input.name} is {graph_input.element_type}, "
            f"the manifest says {declared['element_type']}"
        )
    width = len(manifest["features"])
    if (
        graph_input.shape is None
        or len(graph_input.shape) != 2
        or _fixed_other_than(graph_input.shape[1], width)
    ):
        raise ManifestError(
            f"input {graph_input.name} has shape {_shape(graph_input.shape)}, "
            f"the manifest's {width} features "
            f"need [N, {width}]"
        )
    outputs = {o.name: o for o in onnx_model.graph_outputs(model)}
    for role, name in manifest["outputs"].items():
        if name not in outputs:
            raise ManifestError(f"the model has no {role} output {name} (has {', '.join(sorted(outputs))})")
    output = outputs[manifest["outputs"]["probabilities"]]
    if output.kind != "tensor":
        raise ManifestError(f"output {output.name} is not a tensor (nor a ZipMap that can be read as one)")
    if output.element_type not in ("float32", "float64"):
        raise ManifestError(f"output {output.name} is {output.element_type}, not float probabilities")
    classes = len(manifest["classes"])
    if output.shape is None or len(output.shape) != 2 or _fixed_other_than(output.shape[1], classes):
        raise ManifestError(
            f"output {output.name} has shape {_shape(output.shape)}, the manifest's {classes} classes need "
            f"[N, {classes}]"
        )


def _fixed_other_than(dimension: int | str | None, wanted: int) -> bool:
    return isinstance(dimension, int) and dimension != 0 and dimension != wanted


def _shape(shape: tuple[int | str | None, ...] | None) -> str:
    return (
        "unknown"
        if shape is None
        else "[" + ", ".join("?" if d in (None, 0) else str(d) for d in shape) + "]"
    )


def sample_probabilities(manifest: dict[str, Any], model_bytes: bytes) -> np.ndarray:
    names = manifest["features"]
    matrix = np.array([[s["features"][n] for n in names] for s in manifest["samples"]], dtype=np.float64)
    try:
        return onnx_model.probabilities(
            model_bytes,
            manifest["input"]["name"],
            manifest["outputs"]["probabilities"],
            matrix,
            manifest["input"]["element_type"],
        )
    except Exception as error:  # onnxruntime raises its own exception types
        raise ManifestError(f"the sample inputs do not run: {str(error).splitlines()[0]}") from error


def check_samples(manifest: dict[str, Any], model_bytes: bytes) -> float:
    """Run the samples; each row finite, summing to 1 and within sample_tolerance of
    the manifest's. Returns the largest difference."""
    actual = sample_probabilities(manifest, model_bytes)
    expected = np.array([s["probabilities"] for s in manifest["samples"]], dtype=np.float64)
    if actual.shape != expected.shape:
        raise ManifestError(
            f"{actual.size} probabilities for {len(expected)} samples x {len(manifest['classes'])} classes"
        )
    tolerance = float(manifest.get("sample_tolerance", DEFAULT_SAMPLE_TOLERANCE))
    for row, (got, want) in enumerate(zip(actual, expected, strict=True)):
        if not np.isfinite(got).all() or abs(math.fsum(got) - 1) > PROBABILITY_SUM_TOLERANCE:
            raise ManifestError(
                f"sample {row} gives probabilities {got.tolist()}, not finite values summing to 1"
            )
        if (np.abs(got - want) > tolerance).any():
            raise ManifestError(
                f"sample {row} gives {got.tolist()}, the manifest expects {want.tolist()} "
                f"(tolerance {tolerance})"
            )
    return float(np.abs(actual - expected).max()) if actual.size else 0.0


def check_model(manifest: dict[str, Any], model_bytes: bytes, spec: FeatureSpec) -> float:
    """Every check after the manifest and sha256, in the service's order."""
    check_features(manifest, spec)
    check_classes(manifest, model_bytes)
    try:
        from fraud_training.inference import open_session

        open_session(onnx_model.zipmap_as_identity(model_bytes, manifest["outputs"]["probabilities"]))
    except onnx_model.OnnxModelError as error:
        raise ManifestError(str(error)) from error
    except Exception as error:
        raise ManifestError(f"onnxruntime cannot load the model: {str(error).splitlines()[0]}") from error
    check_signature(manifest, model_bytes)
    return check_samples(manifest, model_bytes)


def verify_model(manifest_path: Path, schema: dict[str, Any], spec: FeatureSpec) -> VerifiedModel:
    manifest, model_path, model_bytes = read_checked_model(manifest_path, schema)
    try:
        difference = check_model(manifest, model_bytes, spec)
    except (ManifestError, onnx_model.OnnxModelError) as error:
        raise ManifestError(f"{manifest_path}: {error}") from error
    return VerifiedModel(manifest_path, model_path, manifest, model_bytes, difference)
