"""Evaluation as the field does it: the handbook's protocol and the project's later
period, several simulator seeds, mean and spread, every figure from ONNX.

Two questions, two functions:
- `evaluate_protocol`: per seed, train on that seed's own training block, export to
  ONNX, score the test block with onnxruntime (the handbook's protocol, retrained per
  seed). With `validation=True` the periods move back by delay + test length: model
  choices are made there (`tune`), never on the test blocks.
- `evaluate_served`: the exported bundled models, unchanged, on other seeds' test
  blocks (what the served files do on data they never saw).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fraud_training.export import ExportOptions, to_onnx_bytes, verify_parity
from fraud_training.features import FeatureSpec
from fraud_training.forest_defaults import (
    BUNDLED_MAX_DEPTH,
    BUNDLED_MAX_FEATURES,
    BUNDLED_TREES,
    bundled_features,
)
from fraud_training.history import OUTCOME_AGGREGATES
from fraud_training.inference import onnx_probabilities, open_session
from fraud_training.metrics import (
    EvaluationSet,
    OutcomeHorizon,
    evaluate,
    extended_metrics,
    fraud_score,
    reachable_auc,
    rounded,
    unseen_terminal_frauds,
)
from fraud_training.pipeline import FeatureStream, featurize
from fraud_training.simulate import SimulationConfig
from fraud_training.split import Period, TimeSplit, handbook_period, later_period
from fraud_training.train import TASK_SPECS, ForestConfig, TaskName, fit_forest, target_vector

# The handbook's 15 features (chapter 3.4): its 3 stateless, 6 customer and 6 terminal ones.
HANDBOOK_FEATURES: tuple[str, ...] = (
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "TERMINAL_ID_NB_TX_1DAY_WINDOW",
    "TERMINAL_ID_RISK_1DAY_WINDOW",
    "TERMINAL_ID_NB_TX_7DAY_WINDOW",
    "TERMINAL_ID_RISK_7DAY_WINDOW",
    "TERMINAL_ID_NB_TX_30DAY_WINDOW",
    "TERMINAL_ID_RISK_30DAY_WINDOW",
)
HEADLINE = (
    "auc_roc",
    "average_precision",
    "card_precision_at_100_handbook",
    "card_precision_at_100",
    "auc_roc_reachable",
)
TASKS: tuple[TaskName, ...] = ("binary", "multiclass")
FOREST = ForestConfig(
    n_estimators=BUNDLED_TREES, max_depth=BUNDLED_MAX_DEPTH, max_features=BUNDLED_MAX_FEATURES
)


@dataclass(frozen=True)
class ProtocolConfig:
    """What `evaluate_protocol` runs."""

    seeds: tuple[int, ...] = (1, 2, 3)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    train_days: int = 28
    later_split: TimeSplit = field(default_factory=lambda: TimeSplit(28, 7, 14))
    forest: ForestConfig = field(default_factory=lambda: FOREST)
    features: tuple[str, ...] | None = None
    periods: tuple[str, ...] = ("handbook", "later")
    tasks: tuple[TaskName, ...] = TASKS
    validation: bool = False
    outcome_delay_days: int = 7
    threshold: float = 0.5

    def period(self, name: str) -> Period:
        """The named period (its validation twin with `validation`), checked to fit
        the simulated days."""
        sim = self.simulation
        if name == "handbook":
            chosen = handbook_period(sim.start_date, self.train_days)
        elif name == "later":
            chosen = later_period(sim.n_days, replace(self.later_split, train_days=self.train_days))
        else:
            raise ValueError(f"unknown period {name!r} (handbook, later)")
        chosen = chosen.validation() if self.validation else chosen
        chosen.check(sim.n_days)
        return chosen


def _period_blocks(stream: FeatureStream, period: Period) -> tuple[np.ndarray, np.ndarray]:
    frame = stream.transactions
    day = frame["TX_TIME_DAYS"].to_numpy()
    test = period.test_mask(day, frame["CUSTOMER_ID"].to_numpy(), frame["TX_FRAUD"].to_numpy())
    return period.train.mask(day), test


def outcome_horizon(spec: FeatureSpec) -> OutcomeHorizon | None:
    """The whole days of terminal outcomes the spec's features read (None: no feature
    reads outcomes). The latest fraud streak also reads the day the delay ends on,
    but only once all of it is confirmed: that day is not counted as seen."""
    windows = [w for w in spec.windows if w.aggregate in OUTCOME_AGGREGATES]
    if not windows:
        return None
    return OutcomeHorizon(
        first_age=min(w.delay_days for w in windows) + 1,
        last_age=max(w.delay_days + w.window_days for w in windows),
    )


def unseen_frauds(stream: FeatureStream, spec: FeatureSpec) -> np.ndarray:
    """Per stream row: a fraud no feature of the spec can tell from a legitimate
    transaction (`metrics.unseen_terminal_frauds`); every scenario-2 fraud when no
    feature reads outcomes."""
    frame = stream.transactions
    scenario = frame["TX_FRAUD_SCENARIO"].to_numpy()
    horizon = outcome_horizon(spec)
    if horizon is None:
        return scenario == 2
    return unseen_terminal_frauds(
        frame["TERMINAL_ID"].to_numpy(),
        frame["TX_TIME_DAYS"].to_numpy(),
        frame["TX_FRAUD"].to_numpy(),
        scenario,
        horizon,
    )


def _onnx_metrics(
    model_bytes: bytes,
    stream: FeatureStream,
    test: np.ndarray,
    task: TaskName,
    threshold: float,
    unseen: np.ndarray,
) -> tuple[dict[str, Any], np.ndarray]:
    probabilities = onnx_probabilities(open_session(model_bytes), stream.features[test], "float32")
    evaluation_set = EvaluationSet.from_frame(stream.transactions[test])
    spec = TASK_SPECS[task]
    metrics = evaluate(probabilities, evaluation_set, spec, threshold if task == "binary" else None)
    metrics.update(extended_metrics(probabilities, evaluation_set, spec))
    metrics.update(reachable_auc(evaluation_set.fraud, unseen[test]))
    metrics["n_test_transactions"] = int(test.sum())
    metrics["n_test_frauds"] = int(evaluation_set.fraud.sum())
    return metrics, probabilities


def evaluate_protocol(
    config: ProtocolConfig, spec: FeatureSpec, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Per seed, per period, per task: train, export, score with onnxruntime."""
    names = bundled_features(spec.names) if config.features is None else config.features
    runs: list[dict[str, Any]] = []
    for seed in config.seeds:
        started = time.perf_counter()
        stream = featurize(replace(config.simulation, seed=seed), spec, names, config.outcome_delay_days)
        unseen = unseen_frauds(stream, spec)
        for period_name in config.periods:
            period = config.period(period_name)
            train, test = _period_blocks(stream, period)
            for task in config.tasks:
                target = target_vector(stream.transactions[train], TASK_SPECS[task])
                model = fit_forest(stream.features[train], target, config.forest)
                model_bytes = to_onnx_bytes(
                    model, len(names), ExportOptions(), graph_name=TASK_SPECS[task].model_name
                )
                difference, _ = verify_parity(model, model_bytes, stream.features[test], "float32")
                metrics, _ = _onnx_metrics(model_bytes, stream, test, task, config.threshold, unseen)
                metrics["onnx_max_abs_difference_vs_sklearn"] = difference
                runs.append({"seed": seed, "period": period.name, "task": task, "metrics": rounded(metrics)})
                log(
                    f"seed {seed} {period.name} {task}: AUC {metrics['auc_roc']:.4f} "
                    f"AP {metrics['average_precision']:.4f} "
                    f"CP@100 {metrics['card_precision_at_100_handbook']:.4f} "
                    f"({time.perf_counter() - started:.0f} s)"
                )
    return {
        "config": _describe(config, names, spec),
        "runs": runs,
        "summary": summarize(runs),
    }


def _describe(config: ProtocolConfig, names: Sequence[str], spec: FeatureSpec) -> dict[str, Any]:
    start = config.simulation.start_date
    horizon = outcome_horizon(spec)
    return {
        "outcome_horizon_days": None
        if horizon is None
        else {
            "first_age": horizon.first_age,
            "last_age": horizon.last_age,
            "delay_day_read": any(w.aggregate == "fraud_streak_latest" for w in spec.windows),
        },
        "seeds": list(config.seeds),
        "validation": config.validation,
        "features": list(names),
        "forest": {"n_estimators": config.forest.n_estimators, "max_depth": config.forest.max_depth},
        "periods": {name: config.period(name).describe(start) for name in config.periods},
        "outcome_known_after_days": config.outcome_delay_days,
        "threshold": config.threshold,
    }


def _stats(values: list[float]) -> dict[str, float | int]:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if not finite:
        return {"n": 0}
    array = np.array(finite)
    return {
        "n": len(finite),
        "mean": round(float(array.mean()), 4),
        "std": round(float(array.std(ddof=1)), 4) if len(finite) > 1 else 0.0,
        "min": round(float(array.min()), 4),
        "max": round(float(array.max()), 4),
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean, sample standard deviation, min and max over seeds, per period and task."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(f"{run['period']}/{run['task']}", []).append(run["metrics"])
    summary: dict[str, dict[str, Any]] = {}
    for key, metrics in groups.items():
        entry: dict[str, Any] = {name: _stats([m[name] for m in metrics]) for name in HEADLINE}
        for k in (1, 2, 3):
            scenario = f"scenario_{k}"
            entry[f"{scenario}_average_precision"] = _stats(
                [m["by_scenario"][scenario]["average_precision"] for m in metrics]
            )
            entry[f"{scenario}_recall"] = _stats([m["recall_by_scenario"][scenario] for m in metrics])
        summary[key] = entry
    return summary


# --- the served files on other seeds ------------------------------------------------


@dataclass(frozen=True)
class ServedModel:
    task: TaskName
    model_bytes: bytes
    features: tuple[str, ...]
    threshold: float | None


def evaluate_served(
    models: Sequence[ServedModel],
    config: ProtocolConfig,
    spec: FeatureSpec,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The given ONNX files on every seed's test blocks (no retraining), plus the
    binary model's permutation importance on the first seed's handbook week."""
    names = models[0].features
    runs: list[dict[str, Any]] = []
    importance: dict[str, Any] = {}
    for seed in config.seeds:
        stream = featurize(replace(config.simulation, seed=seed), spec, names, config.outcome_delay_days)
        unseen = unseen_frauds(stream, spec)
        for period_name in config.periods:
            period = config.period(period_name)
            _, test = _period_blocks(stream, period)
            for model in models:
                metrics, _ = _onnx_metrics(
                    model.model_bytes, stream, test, model.task, model.threshold or 0.5, unseen
                )
                runs.append(
                    {"seed": seed, "period": period.name, "task": model.task, "metrics": rounded(metrics)}
                )
            if not importance and period.name == "handbook":
                binary = next(m for m in models if m.task == "binary")
                importance = permutation_importance(binary.model_bytes, stream, test, seed=seed)
        log(f"served models on seed {seed}: done")
    return {
        "config": _describe(config, names, spec),
        "runs": runs,
        "summary": summarize(runs),
        "importance": importance,
    }


def permutation_importance(
    model_bytes: bytes, stream: FeatureStream, test: np.ndarray, seed: int, repeats: int = 3
) -> dict[str, Any]:
    """Drop in average precision when one feature's test column is shuffled (mean of
    `repeats` shuffles), and when each group of features is shuffled together."""
    from sklearn.metrics import average_precision_score

    session = open_session(model_bytes)
    features = stream.features[test]
    fraud = stream.transactions["TX_FRAUD"].to_numpy()[test]
    base = float(
        average_precision_score(fraud, fraud_score(onnx_probabilities(session, features, "float32")))
    )
    rng = np.random.default_rng(seed)
    names = list(stream.names)

    def drop(columns: list[int]) -> float:
        losses = []
        for _ in range(repeats):
            shuffled = features.copy()
            rows = rng.permutation(len(shuffled))
            shuffled[:, columns] = features[rows][:, columns]
            score = fraud_score(onnx_probabilities(session, shuffled, "float32"))
            losses.append(base - float(average_precision_score(fraud, score)))
        return round(float(np.mean(losses)), 4)

    groups = {
        "stateless (amount, weekend, night)": [
            i for i, n in enumerate(names) if not n.startswith(("CUSTOMER", "TERMINAL"))
        ],
        "customer windows": [i for i, n in enumerate(names) if n.startswith("CUSTOMER_ID")],
        "terminal windows": [i for i, n in enumerate(names) if n.startswith("TERMINAL_ID")],
    }
    return {
        "metric": "average precision drop",
        "base_average_precision": round(base, 4),
        "seed": seed,
        "features": {name: drop([i]) for i, name in enumerate(names)},
        "groups": {group: drop(columns) for group, columns in groups.items() if columns},
    }


# --- model choice on the validation periods -----------------------------------------


@dataclass(frozen=True)
class Candidate:
    label: str
    features: tuple[str, ...] | None
    forest: ForestConfig


def default_candidates(spec: FeatureSpec) -> list[Candidate]:
    """The small grid `tune` compares: the handbook's 15 features, the version-2 18
    (with the v2 fraud streak), the bundled 18 (the latest streak in its place) at
    three depths, and all the spec's features (both streaks)."""
    spec_names = spec.names
    version_2 = tuple(n for n in spec_names if spec.since_versions[n] <= 2)
    grid = [Candidate("handbook 15, depth 8", HANDBOOK_FEATURES, FOREST)]
    grid.append(Candidate(f"spec v2 {len(version_2)}, depth 8", version_2, FOREST))
    bundled = bundled_features(spec_names)
    for depth in (6, 8, 10):
        label = f"bundled {len(bundled)} (latest streak), depth {depth}"
        grid.append(Candidate(label, None, replace(FOREST, max_depth=depth)))
    grid.append(Candidate(f"spec {len(spec_names)} (both streaks), depth 8", tuple(spec_names), FOREST))
    return grid


def tune(
    base: ProtocolConfig,
    spec: FeatureSpec,
    candidates: Sequence[Candidate],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Binary models of every candidate on the validation periods of `base.seeds`."""
    results = []
    for candidate in candidates:
        config = replace(
            base, features=candidate.features, forest=candidate.forest, validation=True, tasks=("binary",)
        )
        outcome = evaluate_protocol(config, spec, log=lambda line, c=candidate: log(f"[{c.label}] {line}"))
        results.append(
            {"candidate": candidate.label, "summary": outcome["summary"], "config": outcome["config"]}
        )
    return {"seeds": list(base.seeds), "results": results}
