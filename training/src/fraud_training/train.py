"""The two classifiers: what they predict and how they are fitted.

Both are small random forests. With the three stateless features the signal is
almost entirely in TX_AMOUNT (the simulator's frauds do not depend on the time of
day or week), so a bigger model buys no accuracy, only inference time: the service
must score >= 1 M transactions/s on 2 cores, and 25 trees of depth 6 cost about a
microsecond per row in onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

from fraud_training.errors import PipelineError

TaskName = Literal["binary", "multiclass"]
TASKS: tuple[TaskName, ...] = ("binary", "multiclass")


@dataclass(frozen=True)
class TaskSpec:
    """What one task predicts and how its classes are shown to users."""

    name: TaskName
    model_name: str
    target: str
    class_labels: tuple[str, ...]


TASK_SPECS: dict[TaskName, TaskSpec] = {
    "binary": TaskSpec("binary", "fraud-binary", "TX_FRAUD", ("simple_transaction", "FRAUD")),
    "multiclass": TaskSpec(
        "multiclass",
        "fraud-scenario",
        "TX_FRAUD_SCENARIO",
        ("simple_transaction", "scenario_1", "scenario_2", "scenario_3"),
    ),
}


@dataclass(frozen=True)
class ForestConfig:
    """Hyper-parameters of a random forest; random_state fixed for reproducibility."""

    n_estimators: int = 25
    max_depth: int = 6
    min_samples_leaf: int = 1
    # Every split may look at every feature: with only TX_AMOUNT carrying signal,
    # sqrt(3) = 1 random feature per split wastes depth on the two noise features.
    max_features: float | str | None = None
    random_state: int = 0
    n_jobs: int = 2

    def build(self) -> RandomForestClassifier:
        return RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )


class MissingClassError(PipelineError):
    """The training block lacks a class, so the model could not output all of them."""


def target_vector(transactions: pd.DataFrame, task: TaskSpec) -> np.ndarray:
    return transactions[task.target].to_numpy(dtype=np.int64)


def check_classes(target: np.ndarray, task: TaskSpec) -> None:
    """Refuse to train when a class is absent: the model's probability columns would
    no longer match the manifest's classes."""
    present = set(np.unique(target).tolist())
    missing = [label for i, label in enumerate(task.class_labels) if i not in present]
    if missing:
        raise MissingClassError(
            f"{task.model_name}: the training block has no {', '.join(missing)} "
            "transaction; simulate more customers or days"
        )


def fit_forest(features: np.ndarray, target: np.ndarray, config: ForestConfig) -> RandomForestClassifier:
    """Fit on float32 features: the trees compare float32 values, as ONNX will."""
    model = config.build()
    model.fit(features.astype(np.float32), target)
    return model


def estimator_description(model: RandomForestClassifier, feature_names: list[str]) -> dict[str, Any]:
    """Class, parameters and feature importances, JSON-ready, for the manifest."""
    cls = type(model)
    importances = {
        name: round(float(value), 4)
        for name, value in zip(feature_names, model.feature_importances_, strict=True)
    }
    return {
        "class": f"{cls.__module__.split('._')[0]}.{cls.__name__}",
        "params": model.get_params(),
        "feature_importances": importances,
    }
