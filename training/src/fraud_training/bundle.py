"""`build-models`: the two models shipped in `models/`, plus `models/REPORT.md`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraud_training.benchmark import time_model
from fraud_training.features import FeatureSpec
from fraud_training.manifest import write_atomic
from fraud_training.pipeline import BuiltModel, DataConfig, ModelRequest, build_model, prepare_data
from fraud_training.report import render_report
from fraud_training.train import ForestConfig


@dataclass(frozen=True)
class BundleConfig:
    """Everything `build-models` can be told."""

    data: DataConfig = field(default_factory=DataConfig)
    forest: ForestConfig = field(default_factory=ForestConfig)
    version: str = "1.0.0"
    threshold: float = 0.5

    def requests(self) -> tuple[ModelRequest, ModelRequest]:
        return (
            ModelRequest("binary", "fraud-binary", self.version, self.forest, threshold=self.threshold),
            ModelRequest("multiclass", "fraud-scenario", self.version, self.forest),
        )


@dataclass(frozen=True)
class BundleResult:
    models: tuple[BuiltModel, ...]
    timings: dict[str, dict[str, dict[str, float]]]
    seconds: float
    report_path: Path


def build_bundle(
    config: BundleConfig,
    spec: FeatureSpec,
    schema: dict[str, Any],
    out_dir: Path,
    created_at: str,
    log: Callable[[str], None] = print,
) -> BundleResult:
    """Simulate once, build both models on the same split, time them, write the report."""
    started = time.perf_counter()
    data = prepare_data(config.data, spec)
    log(
        f"simulated {data.summary['n_transactions']:,} transactions "
        f"(fraud rate {data.summary['fraud_rate']:.4%}) in {time.perf_counter() - started:.1f} s"
    )
    models = []
    for request in config.requests():
        built = build_model(data, request, created_at, schema, out_dir)
        log(
            f"wrote {built.model_path} ({len(built.model_bytes):,} bytes) and {built.manifest_path.name}; "
            f"ONNX vs scikit-learn max |diff| on {len(data.test):,} test rows: {built.parity_difference:.3g}"
        )
        models.append(built)
    batch = data.test_features[:1_000]
    timings = {
        built.request.name: time_model(built.model_bytes, batch, built.request.export.element_type)
        for built in models
    }
    seconds = time.perf_counter() - started
    report_path = out_dir / "REPORT.md"
    write_atomic(report_path, render_report(data, tuple(models), timings, seconds).encode("utf-8"))
    log(f"wrote {report_path} (pipeline {seconds:.1f} s)")
    return BundleResult(tuple(models), timings, seconds, report_path)
