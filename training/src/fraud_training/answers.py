"""`answers`: what the service must answer, transaction by transaction, for a model.

Given packaged manifests and an event stream (the `replay` format: one JSON object a
line, `{"transaction": {...}}` or `{"outcome": {...}}`, in arrival order), this
replays the stream through the reference history (`history.HistoryState`, the rules
the service implements), computes each transaction's features, scores them with
Python onnxruntime as the service would (the ZipMap rewritten, the input by name) and
applies the service's answer rules (`fixtures.expected_answer`: the legitimate class
first, the threshold, argmax). A model `verify` refuses gets no answers.

Each model gets one JSON file: the service's classes and, per transaction, its
features, the model's probabilities in column order, and the answer (prediction,
class_id, class_probability, fraud_probability, probabilities).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fraud_training import onnx_model
from fraud_training.errors import PipelineError
from fraud_training.features import FeatureSpec, features_for_transaction
from fraud_training.history import MICROS_PER_SECOND, HistoryState
from fraud_training.manifest import write_atomic
from fraud_training.verify import VerifiedModel

# The service's default FRAUD_LATENESS_SECONDS: a transaction more than a day older
# than its customer's newest is refused, not scored.
DEFAULT_LATENESS_SECONDS = 86_400


class EventsError(PipelineError):
    """The event file cannot be read or replayed; says where."""


@dataclass(frozen=True)
class ScoredTransaction:
    transaction: dict[str, Any]
    features: dict[str, float]  # every spec feature, as the service computes it


def read_events(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, body) of every event, in file order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise EventsError(f"cannot read {path}: {error.strerror}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            ((kind, body),) = event.items()
        except (json.JSONDecodeError, ValueError, AttributeError) as error:
            raise EventsError(f"{path}:{number}: not one {{kind: body}} JSON object") from error
        if kind not in ("transaction", "outcome"):
            raise EventsError(f"{path}:{number}: unknown event kind {kind!r}")
        yield kind, body


def replay(
    events: Iterable[tuple[str, dict[str, Any]]], spec: FeatureSpec, lateness_seconds: int
) -> list[ScoredTransaction]:
    """Every transaction the service would score, with its features, in arrival order
    (late ones are refused by the service and left out)."""
    state = HistoryState(spec.windows, lateness_seconds * MICROS_PER_SECOND)
    epoch = spec.epoch_seconds * MICROS_PER_SECOND
    scored: list[ScoredTransaction] = []
    for kind, body in events:
        if kind == "outcome":
            state.outcome(
                body["transaction_id"],
                body["outcome"],
                epoch + body["known_at_seconds"] * MICROS_PER_SECOND,
                bool(body.get("supersedes", False)),
            )
            continue
        result = state.transaction(
            body["transaction_id"],
            body["customer_id"],
            body["terminal_id"],
            body["tx_amount"],
            epoch + body["tx_time_seconds"] * MICROS_PER_SECOND,
        )
        if not result.late:
            scored.append(ScoredTransaction(body, features_for_transaction(body, spec) | result.features))
    return scored


def model_answers(model: VerifiedModel, scored: list[ScoredTransaction]) -> dict[str, Any]:
    from fraud_training.fixtures import expected_answer, service_classes

    manifest = model.manifest
    names = manifest["features"]
    matrix = np.array([[entry.features[name] for name in names] for entry in scored], dtype=np.float64)
    label = manifest["outputs"].get("label")
    graph_outputs = {o.name for o in onnx_model.graph_outputs(onnx_model.load(model.model_bytes))}
    wanted = [manifest["outputs"]["probabilities"]] + ([label] if label in graph_outputs else [])
    raw = onnx_model.run_outputs(
        model.model_bytes, manifest["input"]["name"], wanted, matrix, manifest["input"]["element_type"]
    )
    outputs = raw[0].astype(np.float64)
    labels = [_plain(value) for value in raw[1].reshape(-1)] if len(raw) > 1 else None
    return {
        "manifest": model.manifest_path.name,
        "name": manifest["name"],
        "version": manifest["version"],
        "task": manifest["task"],
        "computed_by": "Python onnxruntime, history.HistoryState and fixtures.expected_answer",
        "service_classes": [
            {"id": i, "label": label, "column": column}
            for i, (label, column) in enumerate(service_classes(manifest))
        ],
        "cases": [
            {
                "transaction_id": entry.transaction["transaction_id"],
                "features": {name: entry.features[name] for name in names},
                "model_output": [float(p) for p in row],
                "answer": expected_answer(manifest, row),
            }
            # What the model itself names the transaction (its label output), to hold the
            # manifest's class order to: the answer's prediction must agree but for ties.
            | ({"model_label": labels[index]} if labels is not None else {})
            for index, (entry, row) in enumerate(zip(scored, outputs, strict=True))
        ],
    }


def _plain(value: Any) -> str | int:
    """A label output value as JSON: str for string labels, int for integer ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value) if isinstance(value, str) else int(value)


def write_answers(
    models: list[VerifiedModel], events: Path, spec: FeatureSpec, out_dir: Path, lateness_seconds: int
) -> list[tuple[Path, int]]:
    """`<manifest stem>.answers.json` per model in out_dir; (path, transactions) each."""
    scored = replay(read_events(events), spec, lateness_seconds)
    written: list[tuple[Path, int]] = []
    for model in models:
        path = out_dir / f"{model.manifest_path.stem}.answers.json"
        write_atomic(path, (json.dumps(model_answers(model, scored), indent=1) + "\n").encode("utf-8"))
        written.append((path, len(scored)))
    return written
