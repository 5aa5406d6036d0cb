"""`build-models`: the two models shipped in `models/`, the served files' evaluation
on unseen seeds, and `models/REPORT.md`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraud_training.benchmark import time_model
from fraud_training.evaluation import FOREST, ProtocolConfig, ServedModel, evaluate_served
from fraud_training.features import FeatureSpec
from fraud_training.manifest import write_atomic
from fraud_training.pipeline import BuiltModel, DataConfig, ModelRequest, build_model, prepare_data
from fraud_training.report import evaluation_folder, write_report
from fraud_training.split import TimeSplit
from fraud_training.train import ForestConfig

# Chosen on the validation periods (`training/run tune`, models/REPORT.md).
BUNDLE_FOREST: ForestConfig = FOREST
BUNDLE_SPLIT = TimeSplit(train_days=28, delay_days=7, test_days=14)
EVAL_SEEDS = (1, 2, 3)


@dataclass(frozen=True)
class BundleConfig:
    """Everything `build-models` can be told."""

    data: DataConfig = field(default_factory=lambda: DataConfig(split=BUNDLE_SPLIT))
    forest: ForestConfig = BUNDLE_FOREST
    version: str = "2.1.0"
    threshold: float = 0.5
    eval_seeds: tuple[int, ...] = EVAL_SEEDS

    def requests(self) -> tuple[ModelRequest, ModelRequest]:
        return (
            ModelRequest("binary", "fraud-binary", self.version, self.forest, threshold=self.threshold),
            ModelRequest("multiclass", "fraud-scenario", self.version, self.forest),
        )


@dataclass(frozen=True)
class BundleResult:
    models: tuple[BuiltModel, ...]
    timings: dict[str, dict[str, dict[str, float]]]
    served: dict[str, Any] | None
    seconds: float
    report_path: Path


def write_json(path: Path, value: object) -> None:
    write_atomic(path, (json.dumps(value, indent=2) + "\n").encode("utf-8"))


def build_bundle(
    config: BundleConfig,
    spec: FeatureSpec,
    schema: dict[str, Any],
    out_dir: Path,
    created_at: str,
    log: Callable[[str], None] = print,
) -> BundleResult:
    """Simulate once, build both models on the same split, time them, evaluate the
    exported files on the evaluation seeds, write the report."""
    started = time.perf_counter()
    load_average = round(os.getloadavg()[0], 1)
    data = prepare_data(config.data, spec)
    log(
        f"simulated {data.summary['n_transactions']:,} transactions (fraud rate "
        f"{data.summary['fraud_rate']:.4%}) and computed {len(data.feature_names)} features "
        f"in {time.perf_counter() - started:.1f} s"
    )
    models = []
    for request in config.requests():
        built = build_model(data, request, created_at, schema, out_dir)
        log(
            f"wrote {built.model_path} ({len(built.model_bytes):,} bytes) and {built.manifest_path.name}; "
            f"ONNX vs scikit-learn max |diff| on {len(data.test):,} test rows: {built.parity_difference:.3g} "
            f"({time.perf_counter() - started:.0f} s)"
        )
        models.append(built)
    batch = data.test_features[:1_000]
    timings = {
        built.request.name: time_model(built.model_bytes, batch, built.request.export.element_type)
        for built in models
    }
    served = None
    folder = evaluation_folder(out_dir)
    if config.eval_seeds:
        protocol = ProtocolConfig(
            seeds=config.eval_seeds,
            simulation=config.data.simulation,
            features=data.feature_names,
            outcome_delay_days=config.data.outcome_delay_days,
            later_split=config.data.split,
        )
        served_models = [
            ServedModel(m.request.task, m.model_bytes, data.feature_names, m.request.threshold)
            for m in models
        ]
        served = evaluate_served(served_models, protocol, spec, log)
        write_json(folder / "served.json", served)
    seconds = time.perf_counter() - started
    write_json(
        folder / "build.json",
        {
            "timings": timings,
            "seconds": round(seconds, 1),
            "eval_seeds": list(config.eval_seeds),
            "load_average": load_average,
        },
    )
    report_path = write_report(out_dir)
    log(f"wrote {report_path} (build-models {seconds:.1f} s)")
    return BundleResult(tuple(models), timings, served, seconds, report_path)
