"""Test-period metrics, with the handbook's definitions.

The fraud score of a transaction is P(fraud): the class-1 probability for the
binary model, 1 - P(simple_transaction) for the multiclass one, so both models are
judged on the same footing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from fraud_training.train import TaskSpec

SCENARIOS = (1, 2, 3)


@dataclass(frozen=True)
class EvaluationSet:
    """What the metrics need from the test block."""

    day: np.ndarray
    customer: np.ndarray
    fraud: np.ndarray
    scenario: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> EvaluationSet:
        return cls(
            day=frame["TX_TIME_DAYS"].to_numpy(),
            customer=frame["CUSTOMER_ID"].to_numpy(),
            fraud=frame["TX_FRAUD"].to_numpy(),
            scenario=frame["TX_FRAUD_SCENARIO"].to_numpy(),
        )


def fraud_score(probabilities: np.ndarray) -> np.ndarray:
    """P(fraud) = 1 - P(class 0); for a binary model that is P(class 1)."""
    return 1.0 - probabilities[:, 0]


def _cards_by_day(
    day: np.ndarray, customer: np.ndarray, score: np.ndarray, fraud: np.ndarray
) -> pd.DataFrame:
    """One row per (day, card): its highest score and whether it had a fraud that
    day, sorted by day, then score (highest first), ties by customer id."""
    return (
        pd.DataFrame({"day": day, "customer": customer, "score": score, "fraud": fraud})
        .groupby(["day", "customer"], as_index=False)
        .agg(score=("score", "max"), fraud=("fraud", "max"))
        .sort_values(["day", "score", "customer"], ascending=[True, False, True])
    )


def card_precision_top_k(
    day: np.ndarray, customer: np.ndarray, score: np.ndarray, fraud: np.ndarray, k: int = 100
) -> float:
    """Plain per-day Card Precision@k: for each day, the k cards (customers) with the
    highest maximum fraud score that day; the share of them with at least one fraud
    that day; the mean over days. Ties are broken by customer id, for determinism."""
    top = _cards_by_day(day, customer, score, fraud).groupby("day").head(k)
    return float(top.groupby("day")["fraud"].mean().mean()) if len(top) else float("nan")


def card_precision_top_k_handbook(
    day: np.ndarray, customer: np.ndarray, score: np.ndarray, fraud: np.ndarray, k: int = 100
) -> float:
    """The handbook's Card Precision@k (chapter 4.2, remove_detected_compromised_cards):
    day by day, the cards already found compromised on an earlier day of the test are
    left out; of the k highest-scored remaining cards, the number with a fraud that
    day divided by k; the mean over days."""
    cards = _cards_by_day(day, customer, score, fraud)
    found: set[int] = set()
    precisions = []
    for _, today in cards.groupby("day", sort=True):
        top = today[~today["customer"].isin(found)].head(k)
        hits = top.loc[top["fraud"] == 1, "customer"].tolist()
        precisions.append(len(hits) / k)
        found.update(hits)
    return float(np.mean(precisions)) if precisions else float("nan")


def scenario_ranking(scenario: np.ndarray, score: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Per scenario: AUC and AP of the fraud score for that scenario's frauds against
    the legitimate transactions (the other scenarios' frauds left out)."""
    result: dict[str, dict[str, float | None]] = {}
    for k in SCENARIOS:
        rows = (scenario == 0) | (scenario == k)
        truth = (scenario[rows] == k).astype(np.int64)
        if truth.sum() == 0:
            result[f"scenario_{k}"] = {"auc_roc": None, "average_precision": None}
            continue
        result[f"scenario_{k}"] = {
            "auc_roc": _safe(roc_auc_score, truth, score[rows]),
            "average_precision": _safe(average_precision_score, truth, score[rows]),
        }
    return result


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> list[list[int]]:
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix.tolist()


def _safe(metric: Callable[[np.ndarray, np.ndarray], float], truth: np.ndarray, score: np.ndarray) -> float:
    """AUC and AP are undefined with one class only; report NaN then, not a crash."""
    try:
        return float(metric(truth, score))
    except ValueError:
        return float("nan")


def scenario_recall(scenario: np.ndarray, flagged: np.ndarray) -> dict[str, float | None]:
    """Per scenario: the share of its transactions that are flagged (None if absent)."""
    result: dict[str, float | None] = {}
    for k in SCENARIOS:
        rows = scenario == k
        result[f"scenario_{k}"] = float(flagged[rows].mean()) if rows.any() else None
    return result


def class_counts(target: np.ndarray, task: TaskSpec) -> dict[str, int]:
    counts = np.bincount(target, minlength=len(task.class_labels))
    return {label: int(counts[i]) for i, label in enumerate(task.class_labels)}


def evaluate(
    probabilities: np.ndarray,
    test: EvaluationSet,
    task: TaskSpec,
    threshold: float | None,
) -> dict[str, object]:
    """All test metrics of one model, from its (ONNX) class probabilities."""
    score = fraud_score(probabilities)
    metrics: dict[str, object] = {
        "auc_roc": _safe(roc_auc_score, test.fraud, score),
        "average_precision": _safe(average_precision_score, test.fraud, score),
        "card_precision_at_100": card_precision_top_k(test.day, test.customer, score, test.fraud),
    }
    if task.name == "binary":
        assert threshold is not None
        predicted_fraud = probabilities[:, 1] >= threshold
        metrics["recall_by_scenario"] = scenario_recall(test.scenario, predicted_fraud)
        metrics["precision"] = _precision(predicted_fraud, test.fraud)
    else:
        label = probabilities.argmax(axis=1)
        metrics["recall_by_scenario"] = scenario_recall(test.scenario, label == test.scenario)
        metrics["recall_by_scenario_any_fraud_class"] = scenario_recall(test.scenario, label != 0)
        metrics["precision"] = _precision(label != 0, test.fraud)
    return metrics


def extended_metrics(probabilities: np.ndarray, test: EvaluationSet, task: TaskSpec) -> dict[str, object]:
    """What the history models add to `evaluate`: the handbook's CP@100, ranking per
    scenario and, for the scenario model, its confusion matrix."""
    score = fraud_score(probabilities)
    metrics: dict[str, object] = {
        "card_precision_at_100_handbook": card_precision_top_k_handbook(
            test.day, test.customer, score, test.fraud
        ),
        "by_scenario": scenario_ranking(test.scenario, score),
    }
    if task.name == "multiclass":
        label = probabilities.argmax(axis=1)
        metrics["confusion_matrix"] = confusion_matrix(test.scenario, label, len(task.class_labels))
    return metrics


@dataclass(frozen=True)
class OutcomeHorizon:
    """Which days of a terminal's confirmed outcomes the features can see, counted
    back from the transaction's day: days D - last_age to D - first_age (the spec's
    terminal windows: the nearest day after the delay to the farthest window)."""

    first_age: int
    last_age: int


def unseen_terminal_frauds(
    terminal: np.ndarray, day: np.ndarray, fraud: np.ndarray, scenario: np.ndarray, horizon: OutcomeHorizon
) -> np.ndarray:
    """Per transaction (whole stream, any order): True for a compromised-terminal
    (scenario 2) fraud whose terminal has no fraud on any day the features can see.
    Nothing in the spec's features tells such a fraud from a legitimate transaction
    of a clean terminal: no causal model ranks it better than chance."""
    frauds = pd.DataFrame({"terminal": terminal[fraud == 1], "day": day[fraud == 1]}).drop_duplicates()
    frauds = frauds.assign(fraud_day=frauds["day"]).sort_values("day")
    rows = pd.DataFrame(
        {"day": day - horizon.first_age, "terminal": terminal, "row": np.arange(len(day))}
    ).sort_values("day")
    # The latest fraud day of the terminal at or before D - first_age, if any.
    latest = pd.merge_asof(rows, frauds, on="day", by="terminal", direction="backward")
    seen = latest["fraud_day"].notna() & (
        latest["day"] - latest["fraud_day"] <= horizon.last_age - horizon.first_age
    )
    unseen = np.zeros(len(day), dtype=bool)
    unseen[latest["row"].to_numpy()] = ~seen.to_numpy()
    return unseen & (scenario == 2)


def reachable_auc(fraud: np.ndarray, unseen: np.ndarray) -> dict[str, float]:
    """The AUC expected of a model that ranks every fraud above every legitimate
    transaction except the unseen ones, which it can only rank at random (AUC 0.5
    each): 1 - share / 2. An expectation, not a bound: chance can lift a model a
    little above it on one seed."""
    frauds = int(fraud.sum())
    share = float(unseen[fraud == 1].sum()) / frauds if frauds else float("nan")
    return {"unseen_fraud_share": share, "auc_roc_reachable": 1.0 - share / 2}


def _precision(flagged: np.ndarray, fraud: np.ndarray) -> float | None:
    """Share of flagged transactions that are fraud (None if nothing is flagged)."""
    return float(fraud[flagged].mean()) if flagged.any() else None


def rounded(value: object, digits: int = 6) -> object:
    """Metrics rounded for people; NaN becomes None so that the JSON stays valid."""
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, digits)
    return value
