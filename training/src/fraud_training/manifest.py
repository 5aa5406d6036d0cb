"""Model manifests: built, validated against `models/manifest.schema.json`, written.

A manifest is only ever written after it validates, and the `.onnx` it points to is
written before it (atomically, via a temporary file and a rename), so a reader that
sees a manifest can trust its model file is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, FormatChecker

from fraud_training.errors import PipelineError

if TYPE_CHECKING:  # not imported at run time: verify and publish need no scikit-learn
    from fraud_training.export import ExportOptions
    from fraud_training.train import TaskSpec

SCHEMA_VERSION = 1
SAMPLE_TOLERANCE = 1e-5


class ManifestError(PipelineError):
    """A manifest breaks the schema or does not match its model file."""


@dataclass(frozen=True)
class ModelIdentity:
    """Who a model is: the manifest fields a person chooses."""

    name: str
    version: str
    created_at: str
    model_file: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def resolve_created_at(explicit: str | None, environ: dict[str, str] | None = None) -> str:
    """UTC ISO-8601 timestamp (seconds, `Z`): the explicit value, else
    SOURCE_DATE_EPOCH (reproducible builds), else now."""
    env = os.environ if environ is None else environ
    if explicit:
        moment = datetime.fromisoformat(explicit)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    elif env.get("SOURCE_DATE_EPOCH"):
        moment = datetime.fromtimestamp(int(env["SOURCE_DATE_EPOCH"]), tz=UTC)
    else:
        moment = datetime.now(tz=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_manifest(
    *,
    identity: ModelIdentity,
    task: TaskSpec,
    model_bytes: bytes,
    feature_spec_version: int,
    feature_names: list[str],
    export: ExportOptions,
    threshold: float | None,
    metrics: dict[str, Any],
    training: dict[str, Any],
    samples: list[dict[str, Any]],
    legitimate_class: str | None = None,
) -> dict[str, Any]:
    """The manifest of one exported model, keys in the schema's order. With
    `legitimate_class` (a class label) it is a schema-version-2 manifest."""
    label_output, probability_output = export.output_names
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": identity.name,
        "task": task.name,
        "version": identity.version,
        "created_at": identity.created_at,
        "model_file": identity.model_file,
        "sha256": sha256_hex(model_bytes),
        "feature_spec_version": feature_spec_version,
        "features": list(feature_names),
        "input": {"name": "input", "element_type": export.element_type},
        "outputs": {"label": label_output, "probabilities": probability_output},
        "classes": [{"id": i, "label": label} for i, label in enumerate(task.class_labels)],
    }
    if legitimate_class is not None:
        manifest["schema_version"] = 2
        manifest["legitimate_class"] = legitimate_class
    if task.name == "binary":
        manifest["threshold"] = threshold
    manifest.update(metrics=metrics, training=training, samples=samples, sample_tolerance=SAMPLE_TOLERANCE)
    return manifest


def load_schema(path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return schema


def validate_manifest(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    """Raise ManifestError naming every violation (path: message)."""
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)
        raise ManifestError(f"manifest does not match the schema: {details}")
    ids = [c["id"] for c in manifest["classes"]]
    if ids != list(range(len(ids))):
        raise ManifestError(f"class ids must be 0, 1, 2, ... in order, got {ids}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        temporary.chmod(0o644)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_model(
    folder: Path, manifest: dict[str, Any], model_bytes: bytes, schema: dict[str, Any]
) -> tuple[Path, Path]:
    """Validate, then write the .onnx first and the manifest (`<name>`.json) last."""
    validate_manifest(manifest, schema)
    if manifest["sha256"] != sha256_hex(model_bytes):
        raise ManifestError("sha256 in the manifest does not match the model bytes")
    model_path = folder / manifest["model_file"]
    manifest_path = folder / f"{Path(manifest['model_file']).stem}.json"
    write_atomic(model_path, model_bytes)
    write_atomic(manifest_path, manifest_bytes(manifest))
    return model_path, manifest_path


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: cannot read the manifest: {error}") from error
    return manifest
