"""Check a manifest and its model file the way the service will before serving:
schema, sha256, graph signature, features, and the smoke samples through onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from fraud_training.features import FeatureSpec
from fraud_training.inference import onnx_probabilities, open_session
from fraud_training.manifest import ManifestError, load_manifest, sha256_hex, validate_manifest

_ELEMENT_TYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.DOUBLE: "float64"}


@dataclass(frozen=True)
class VerifiedModel:
    """A manifest that passed every check, with what was measured."""

    manifest_path: Path
    model_path: Path
    manifest: dict[str, Any]
    model_bytes: bytes
    max_sample_difference: float


def read_checked_model(manifest_path: Path, schema: dict[str, Any]) -> tuple[dict[str, Any], Path, bytes]:
    """Schema-valid manifest, its model file beside it, and matching sha256."""
    manifest = load_manifest(manifest_path)
    try:
        validate_manifest(manifest, schema)
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


def check_signature(manifest: dict[str, Any], model_bytes: bytes) -> None:
    """Input name, element type and width, and output names, as the manifest says."""
    graph = onnx.load_from_string(model_bytes).graph
    inputs = {i.name: i for i in graph.input}
    declared = manifest["input"]
    if declared["name"] not in inputs:
        raise ManifestError(f"the graph has no input {declared['name']!r} (has {sorted(inputs)})")
    tensor = inputs[declared["name"]].type.tensor_type
    element = _ELEMENT_TYPES.get(tensor.elem_type, str(tensor.elem_type))
    if element != declared["element_type"]:
        raise ManifestError(f"input element type is {element}, manifest says {declared['element_type']}")
    width = tensor.shape.dim[1].dim_value
    if width != len(manifest["features"]):
        raise ManifestError(f"input has {width} columns, manifest lists {len(manifest['features'])} features")
    outputs = {o.name for o in graph.output}
    for role, name in manifest["outputs"].items():
        if name not in outputs:
            raise ManifestError(f"the graph has no {role} output {name!r} (has {sorted(outputs)})")


def check_features(manifest: dict[str, Any], spec: FeatureSpec) -> None:
    if manifest["feature_spec_version"] != spec.spec_version:
        raise ManifestError(
            f"feature_spec_version {manifest['feature_spec_version']} != spec {spec.spec_version}"
        )
    unknown = [name for name in manifest["features"] if name not in spec.names]
    if unknown:
        raise ManifestError(f"features not in the feature spec: {', '.join(unknown)}")


def check_samples(manifest: dict[str, Any], model_bytes: bytes) -> float:
    """Run the samples; return the largest difference, raise above sample_tolerance."""
    names = manifest["features"]
    matrix = np.array([[s["features"][n] for n in names] for s in manifest["samples"]], dtype=np.float64)
    expected = np.array([s["probabilities"] for s in manifest["samples"]], dtype=np.float64)
    actual = onnx_probabilities(open_session(model_bytes), matrix, manifest["input"]["element_type"])
    if actual.shape != expected.shape or actual.shape[1] != len(manifest["classes"]):
        raise ManifestError(
            f"samples give probabilities of shape {actual.shape}, expected {expected.shape} "
            f"with {len(manifest['classes'])} classes"
        )
    difference = float(np.abs(actual - expected).max())
    tolerance = float(manifest.get("sample_tolerance", 1e-5))
    if difference > tolerance:
        raise ManifestError(f"sample probabilities differ by {difference:.3g} > {tolerance:g}")
    return difference


def verify_model(manifest_path: Path, schema: dict[str, Any], spec: FeatureSpec) -> VerifiedModel:
    manifest, model_path, model_bytes = read_checked_model(manifest_path, schema)
    try:
        check_features(manifest, spec)
        check_signature(manifest, model_bytes)
        difference = check_samples(manifest, model_bytes)
    except ManifestError as error:
        raise ManifestError(f"{manifest_path}: {error}") from error
    return VerifiedModel(manifest_path, model_path, manifest, model_bytes, difference)
