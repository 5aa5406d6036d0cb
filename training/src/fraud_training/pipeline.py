"""simulate -> features -> split -> train -> export -> verify -> manifest, for one
model or for the bundled pair. Pure orchestration: each step lives in its module."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraud_training.export import TARGET_OPSET, ExportOptions, to_onnx_bytes, verify_parity
from fraud_training.features import FeatureSpec, compute_features
from fraud_training.forest_defaults import bundled_features
from fraud_training.history import SECONDS_PER_DAY
from fraud_training.manifest import ModelIdentity, build_manifest, write_model
from fraud_training.metrics import EvaluationSet, class_counts, evaluate, extended_metrics, rounded
from fraud_training.samples import sample_entries, sample_inputs
from fraud_training.simulate import SimulationConfig, simulate
from fraud_training.split import SplitDays, TimeSplit, split_days
from fraud_training.train import (
    TASK_SPECS,
    ForestConfig,
    TaskName,
    check_classes,
    estimator_description,
    fit_forest,
    target_vector,
)

GENERATOR = (
    "Fraud Detection Handbook transaction simulator (Le Borgne et al., chapter 3), "
    "vectorised numpy port in fraud_training.simulate"
)
LIBRARIES = ("numpy", "pandas", "scikit-learn", "skl2onnx", "onnx", "onnxruntime")


@dataclass(frozen=True)
class DataConfig:
    """The data every model of one run is trained and tested on.

    `features`: the spec features the models take, in input order (None: the
    bundled models' set, `forest_defaults.bundled_features`). `outcome_delay_days`:
    when a transaction's fraud outcome becomes known offline (known_at = event
    time + this), for the terminal risk features.
    """

    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    split: TimeSplit = field(default_factory=TimeSplit)
    features: tuple[str, ...] | None = None
    outcome_delay_days: int = 7

    def feature_names(self, spec: FeatureSpec) -> tuple[str, ...]:
        return bundled_features(spec.names) if self.features is None else self.features


@dataclass(frozen=True)
class FeatureStream:
    """A whole simulated stream with its feature matrix (rows in stream order)."""

    transactions: pd.DataFrame
    features: np.ndarray
    names: tuple[str, ...]


def featurize(
    simulation: SimulationConfig, spec: FeatureSpec, names: tuple[str, ...], outcome_delay_days: int
) -> FeatureStream:
    """Simulate, then compute the features on the whole time-ordered stream (history
    windows need the days before any block), before anything is split."""
    transactions = simulate(simulation).transactions
    matrix = compute_features(transactions, spec, names, outcome_delay_days * SECONDS_PER_DAY).to_numpy()
    return FeatureStream(transactions, matrix, names)


@dataclass(frozen=True)
class PreparedData:
    """Train and test blocks with their features, and a description for manifests."""

    config: DataConfig
    days: SplitDays
    train: pd.DataFrame
    test: pd.DataFrame
    train_features: np.ndarray
    test_features: np.ndarray
    feature_names: tuple[str, ...]
    feature_spec_version: int
    summary: dict[str, Any]


@dataclass(frozen=True)
class ModelRequest:
    """One model to build: what it predicts, how, and under which file stem/version."""

    task: TaskName
    file_stem: str
    version: str = "1.0.0"
    forest: ForestConfig = field(default_factory=ForestConfig)
    export: ExportOptions = field(default_factory=ExportOptions)
    threshold: float | None = None

    @property
    def name(self) -> str:
        return TASK_SPECS[self.task].model_name


@dataclass(frozen=True)
class BuiltModel:
    """An exported, verified model and where it was written."""

    request: ModelRequest
    manifest: dict[str, Any]
    model_bytes: bytes
    parity_difference: float
    model_path: Path
    manifest_path: Path


def prepare_data(config: DataConfig, spec: FeatureSpec) -> PreparedData:
    """Simulate, compute the features on the whole stream, then split by days."""
    names = config.feature_names(spec)
    stream = featurize(config.simulation, spec, names, config.outcome_delay_days)
    days = split_days(config.simulation.n_days, config.split)
    transactions = stream.transactions
    day = transactions["TX_TIME_DAYS"].to_numpy()
    train_mask, test_mask = days.train.mask(day), days.test.mask(day)
    train, test = transactions[train_mask], transactions[test_mask]
    train_features, test_features = stream.features[train_mask], stream.features[test_mask]
    summary = {
        "generator": GENERATOR,
        "seed": config.simulation.seed,
        "n_customers": config.simulation.n_customers,
        "n_terminals": config.simulation.n_terminals,
        "n_days": config.simulation.n_days,
        "start_date": config.simulation.start_date,
        "radius": config.simulation.radius,
        "fraud_rules": asdict(config.simulation.rules),
        "n_transactions": len(transactions),
        "fraud_rate": round(float(transactions["TX_FRAUD"].mean()), 6) if len(transactions) else 0.0,
        "scenario_counts": class_counts(
            transactions["TX_FRAUD_SCENARIO"].to_numpy(), TASK_SPECS["multiclass"]
        ),
        "split": days.describe(config.simulation.start_date),
        "n_train_transactions": len(train),
        "n_test_transactions": len(test),
    }
    version = spec.version_for(names)
    if version >= 2:
        summary["history"] = {
            "computed_on": "the whole simulated stream, before the split",
            "outcome_known_after_days": config.outcome_delay_days,
        }
    return PreparedData(config, days, train, test, train_features, test_features, names, version, summary)


def library_versions() -> dict[str, str]:
    versions = {name: version(name) for name in LIBRARIES}
    versions["python"] = ".".join(platform.python_version_tuple()[:2])
    return versions


def training_description(
    data: PreparedData, request: ModelRequest, estimator: dict[str, Any]
) -> dict[str, Any]:
    return {
        **data.summary,
        "estimator": estimator,
        "export": {
            "converter": "skl2onnx",
            "target_opset": dict(TARGET_OPSET),
            "zipmap": request.export.zipmap,
            "element_type": request.export.element_type,
        },
        "libraries": library_versions(),
    }


def build_model(
    data: PreparedData,
    request: ModelRequest,
    created_at: str,
    schema: dict[str, Any],
    out_dir: Path,
) -> BuiltModel:
    """Fit, export, check ONNX against scikit-learn on the whole test block, evaluate
    the ONNX probabilities, and write the model and its manifest."""
    task = TASK_SPECS[request.task]
    train_target = target_vector(data.train, task)
    check_classes(train_target, task)
    model = fit_forest(data.train_features, train_target, request.forest)
    model_bytes = to_onnx_bytes(model, len(data.feature_names), request.export, graph_name=task.model_name)
    difference, probabilities = verify_parity(
        model, model_bytes, data.test_features, request.export.element_type
    )
    evaluation_set = EvaluationSet.from_frame(data.test)
    metrics = evaluate(probabilities, evaluation_set, task, request.threshold)
    if data.feature_spec_version >= 2:
        metrics.update(extended_metrics(probabilities, evaluation_set, task))
    metrics["class_counts"] = {
        "train": class_counts(train_target, task),
        "test": class_counts(target_vector(data.test, task), task),
    }
    reported = rounded(metrics)
    assert isinstance(reported, dict)
    reported["onnx_max_abs_difference_vs_sklearn"] = float(f"{difference:.3g}")
    features_frame = pd.DataFrame(data.test_features, columns=list(data.feature_names))
    samples = sample_entries(
        model_bytes,
        sample_inputs(data.test.reset_index(drop=True), features_frame, data.feature_names),
        data.feature_names,
        request.export.element_type,
    )
    manifest = build_manifest(
        identity=ModelIdentity(request.name, request.version, created_at, f"{request.file_stem}.onnx"),
        task=task,
        model_bytes=model_bytes,
        feature_spec_version=data.feature_spec_version,
        feature_names=list(data.feature_names),
        export=request.export,
        threshold=request.threshold,
        metrics=reported,
        training=training_description(data, request, estimator_description(model, list(data.feature_names))),
        samples=samples,
        legitimate_class=task.class_labels[0] if data.feature_spec_version >= 2 else None,
    )
    model_path, manifest_path = write_model(out_dir, manifest, model_bytes, schema)
    return BuiltModel(request, manifest, model_bytes, difference, model_path, manifest_path)
