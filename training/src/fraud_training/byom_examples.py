"""`byom-examples`: classifiers exported the way a data scientist exports their own,
to try `package` on (the service's end-to-end test packages and serves them).

Each is trained on a small simulation's spec features (computed on the whole stream)
and exported with its library's usual converter and options, nothing tailored to the
service:

- forest.onnx: scikit-learn RandomForestClassifier, skl2onnx's default export (ZipMap,
  classlabels_int64s [0, 1]), on the three stateless features;
- logistic-float64.onnx: LogisticRegression on float64 input, skl2onnx with
  zipmap=False: plain operators, no class labels in the model;
- xgboost.onnx: XGBClassifier through onnxmltools, input `features`, on all 18 spec
  features (history included);
- scenarios.onnx: RandomForestClassifier on string scenario labels (sorted by
  scikit-learn, so the legitimate class is not the first column), ZipMap, stateless
  features;
- voting.onnx, bagging.onnx, stacking.onnx: soft VotingClassifier, BaggingClassifier
  and StackingClassifier on the string labels legit/fraud (columns [fraud, legit]),
  zipmap=False: their members name [0, 1], only the label output names the classes;
- one-vs-rest.onnx: OneVsRestClassifier on string scenario labels, zipmap=False:
  binary members behind a Concat, the classes in the label output only.

Beside them, events.jsonl: another seed's transactions and outcomes in arrival order
(the `replay` format), to score with the packaged models.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fraud_training.export import ExportOptions, to_onnx_bytes
from fraud_training.features import FeatureSpec, compute_features
from fraud_training.manifest import write_atomic
from fraud_training.replay import replay_events
from fraud_training.simulate import SimulationConfig, simulate

TRAINING = SimulationConfig(n_customers=300, n_terminals=600, n_days=35, seed=17)
EVENTS = SimulationConfig(n_customers=100, n_terminals=200, n_days=21, seed=18)
OUTCOME_DELAY_SECONDS = 7 * 86_400
STATELESS = ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT")
SCENARIO_NAMES = np.array(["legitimate", "over_220", "compromised_terminal", "compromised_card"])


@dataclass(frozen=True)
class Example:
    """One exported model and how to package it (what the model cannot say itself)."""

    file: str
    task: str
    package_options: tuple[str, ...]
    description: str


EXAMPLES: tuple[Example, ...] = (
    Example(
        "forest.onnx",
        "binary",
        ("--features", ",".join(STATELESS)),
        "skl2onnx random forest, ZipMap (classlabels_int64s [0, 1]), stateless features",
    ),
    Example(
        "logistic-float64.onnx",
        "binary",
        ("--features", ",".join(STATELESS), "--class-labels", "legit,fraud", "--legitimate-class", "legit"),
        "float64 logistic regression, zipmap=False: no class labels in the model",
    ),
    Example(
        "xgboost.onnx",
        "binary",
        (),
        "XGBoost through onnxmltools, input `features`, every spec feature (history included)",
    ),
    Example(
        "scenarios.onnx",
        "multiclass",
        ("--features", ",".join(STATELESS), "--legitimate-class", "legitimate"),
        "random forest on string scenario labels, ZipMap (classlabels_strings, legitimate is column 2)",
    ),
    *(
        Example(
            f"{kind}.onnx",
            "binary",
            ("--features", ",".join(STATELESS), "--legitimate-class", "legit"),
            f"{kind} ensemble on string labels legit/fraud, zipmap=False (classes in the label output only)",
        )
        for kind in ("voting", "bagging", "stacking")
    ),
    Example(
        "one-vs-rest.onnx",
        "multiclass",
        ("--features", ",".join(STATELESS), "--legitimate-class", "legitimate"),
        "one-vs-rest logistic regressions on string scenario labels, zipmap=False",
    ),
)
BINARY_NAMES = np.array(["legit", "fraud"])


def _forest(x: np.ndarray, y: np.ndarray) -> object:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(x.astype(np.float32), y)


def _logistic(x: np.ndarray, y: np.ndarray) -> object:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(max_iter=300).fit(x, y)


def _xgboost(x: np.ndarray, y: np.ndarray) -> bytes:
    import onnxmltools
    import xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=0, n_jobs=1)
    model.fit(x.astype(np.float32), y)
    exported = onnxmltools.convert_xgboost(
        model, initial_types=[("features", FloatTensorType([None, x.shape[1]]))], target_opset=15
    )
    return exported.SerializeToString()


def _ensembles(x: np.ndarray, y: np.ndarray) -> dict[str, object]:
    """The scikit-learn ensembles, fitted on float32 stateless features."""
    from sklearn.ensemble import (
        BaggingClassifier,
        RandomForestClassifier,
        StackingClassifier,
        VotingClassifier,
    )

    def forest() -> RandomForestClassifier:
        return RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0)

    features = x.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "voting.onnx": VotingClassifier(
                [("forest", forest()), ("logistic", _logistic_model())],
                voting="soft",
                flatten_transform=False,
            ).fit(features, y),
            "bagging.onnx": BaggingClassifier(forest(), n_estimators=3, random_state=0).fit(features, y),
            "stacking.onnx": StackingClassifier(
                [("forest", forest()), ("logistic", _logistic_model())], cv=3
            ).fit(features, y),
        }


def _logistic_model() -> object:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=300)


def _one_vs_rest(x: np.ndarray, y: np.ndarray) -> object:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OneVsRestClassifier(LogisticRegression(max_iter=300)).fit(x.astype(np.float32), y)


def export_models(spec: FeatureSpec) -> dict[str, bytes]:
    stream = simulate(TRAINING).transactions
    every = compute_features(stream, spec).to_numpy()
    stateless = compute_features(stream, spec, STATELESS).to_numpy()
    fraud = stream["TX_FRAUD"].to_numpy()
    scenario = SCENARIO_NAMES[stream["TX_FRAUD_SCENARIO"].to_numpy()]
    return {
        "forest.onnx": to_onnx_bytes(_forest(stateless, fraud), 3, ExportOptions("float32", zipmap=True)),  # type: ignore[arg-type]
        "logistic-float64.onnx": to_onnx_bytes(
            _logistic(stateless, fraud),
            3,
            ExportOptions("float64", zipmap=False),  # type: ignore[arg-type]
        ),
        "xgboost.onnx": _xgboost(every, fraud),
        "scenarios.onnx": to_onnx_bytes(
            _forest(stateless, scenario), 3, ExportOptions("float32", zipmap=True)
        ),  # type: ignore[arg-type]
        **{
            name: to_onnx_bytes(model, 3, ExportOptions("float32", zipmap=False))  # type: ignore[arg-type]
            for name, model in _ensembles(stateless, BINARY_NAMES[fraud]).items()
        },
        "one-vs-rest.onnx": to_onnx_bytes(
            _one_vs_rest(stateless, scenario),  # type: ignore[arg-type]
            3,
            ExportOptions("float32", zipmap=False),
        ),
    }


def write_examples(spec: FeatureSpec, out_dir: Path) -> list[Path]:
    """The example models and events.jsonl in out_dir."""
    written: list[Path] = []
    for name, model_bytes in export_models(spec).items():
        path = out_dir / name
        write_atomic(path, model_bytes)
        written.append(path)
    stream = simulate(EVENTS).transactions
    lines = [json.dumps(event.as_json()) for event in replay_events(stream, spec, OUTCOME_DELAY_SECONDS)]
    events = out_dir / "events.jsonl"
    write_atomic(events, ("\n".join(lines) + "\n").encode("utf-8"))
    return [*written, events]
