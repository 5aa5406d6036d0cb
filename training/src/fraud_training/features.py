"""The features of `models/feature-spec.json`, implemented twice on purpose.

The spec file gives the feature names, their order and the clock (epoch); the
stateless formulas are code, keyed by feature name, and the history features
(`customer_window`, `terminal_window`) are built from their structured fields
(window_days, delay_days, aggregate) in `history` (event by event, the reference)
and `history_offline` (a whole stream at once). `compute_features` works on whole
DataFrames (training: integer arithmetic on epoch seconds, no Python loop);
`features_for_transaction` works on one request-shaped dict with the standard
library's datetime (what the service does per call). Two independent
implementations checked against the same test vectors catch an error in either.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraud_training.history import WindowFeature, parse_window_feature

SECONDS_PER_DAY = 86_400
NIGHT_LAST_HOUR = 6  # 00:00:00 .. 06:59:59 is night (the handbook's `hour <= 6`)
SATURDAY, SUNDAY = 5, 6  # datetime.weekday() numbering, Monday = 0
UNIX_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday


@dataclass(frozen=True)
class FeatureSpec:
    """What the pipeline needs from the spec file: version, epoch, ordered names,
    the history features' definitions and both kinds of test vectors."""

    spec_version: int
    epoch: datetime
    names: tuple[str, ...]
    test_vectors: tuple[Mapping[str, Any], ...]
    windows: tuple[WindowFeature, ...] = ()
    history_vectors: tuple[Mapping[str, Any], ...] = ()
    since_versions: Mapping[str, int] = field(default_factory=dict)

    @property
    def epoch_seconds(self) -> int:
        return int(self.epoch.timestamp())

    @property
    def stateless_names(self) -> tuple[str, ...]:
        history = {window.name for window in self.windows}
        return tuple(name for name in self.names if name not in history)

    def window(self, name: str) -> WindowFeature:
        for window in self.windows:
            if window.name == name:
                return window
        raise KeyError(name)

    def version_for(self, names: Sequence[str]) -> int:
        """The feature_spec_version a model using `names` declares: the newest version
        that introduced one of them (each version keeps the earlier ones' features
        unchanged, so a service implementing that version or later can serve it)."""
        return max((self.since_versions[name] for name in names), default=1)

    def check_names(self, names: Sequence[str]) -> None:
        unknown = [name for name in names if name not in self.names]
        if unknown:
            raise ValueError(f"features not in the feature spec: {', '.join(unknown)}")


def load_feature_spec(path: Path) -> FeatureSpec:
    """Read the spec and refuse it if it names a feature this package cannot compute."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    names = tuple(feature["name"] for feature in raw["features"])
    windows = []
    unknown = []
    for feature in raw["features"]:
        if feature["kind"] in ("customer_window", "terminal_window"):
            try:
                windows.append(parse_window_feature(feature))
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from error
        elif feature["name"] not in _COLUMN_FORMULAS:
            unknown.append(feature["name"])
    if unknown:
        raise ValueError(f"{path}: no implementation for feature(s) {', '.join(unknown)}")
    return FeatureSpec(
        spec_version=int(raw["spec_version"]),
        epoch=_parse_datetime(raw["clock"]["epoch"]),
        names=names,
        test_vectors=tuple(raw["test_vectors"]),
        windows=tuple(windows),
        history_vectors=tuple(raw.get("history_vectors", ())),
        since_versions={feature["name"]: _since_version(feature) for feature in raw["features"]},
    )


def _since_version(feature: Mapping[str, Any]) -> int:
    """The spec version that introduced `feature` (absent: 1 for stateless, 2 for history)."""
    return int(feature.get("since_version", 1 if feature["kind"] == "stateless" else 2))


# --- vectorised (DataFrame) implementation ------------------------------------------


def utc_epoch_seconds(frame: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """Unix seconds (floored) of each transaction: TX_DATETIME where present,
    else the spec's epoch + TX_TIME_SECONDS (the spec's clock rule).

    A naive TX_DATETIME (the simulator's) is taken as UTC. Seconds travel as
    float64, exact for whole seconds up to 2**53.
    """
    seconds = np.full(len(frame), np.nan)
    if "TX_TIME_SECONDS" in frame:
        offset = pd.to_numeric(frame["TX_TIME_SECONDS"]).to_numpy(dtype=np.float64)
        seconds = spec.epoch_seconds + offset
    if "TX_DATETIME" in frame:
        stamps = _as_utc(frame["TX_DATETIME"])
        ns = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        present = stamps.notna().to_numpy()
        seconds = np.where(present, np.floor_divide(ns, 1_000_000_000), seconds)
    if np.isnan(seconds).any():
        raise ValueError("a transaction has neither TX_DATETIME nor TX_TIME_SECONDS")
    return np.floor(seconds).astype(np.int64)


def _as_utc(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(column):
        return column
    return pd.to_datetime(column, utc=True, format="ISO8601").dt.tz_localize(None)


def _amount_column(frame: pd.DataFrame, _: np.ndarray) -> np.ndarray:
    return frame["TX_AMOUNT"].to_numpy(dtype=np.float64)


def _weekend_column(_: pd.DataFrame, seconds: np.ndarray) -> np.ndarray:
    weekday = (np.floor_divide(seconds, SECONDS_PER_DAY) + UNIX_EPOCH_WEEKDAY) % 7
    return (weekday >= SATURDAY).astype(np.float64)


def _night_column(_: pd.DataFrame, seconds: np.ndarray) -> np.ndarray:
    hour = np.mod(seconds, SECONDS_PER_DAY) // 3600
    return (hour <= NIGHT_LAST_HOUR).astype(np.float64)


_COLUMN_FORMULAS: dict[str, Callable[[pd.DataFrame, np.ndarray], np.ndarray]] = {
    "TX_AMOUNT": _amount_column,
    "TX_DURING_WEEKEND": _weekend_column,
    "TX_DURING_NIGHT": _night_column,
}


def compute_stateless_features(
    frame: pd.DataFrame, spec: FeatureSpec, names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Stateless feature columns (float64, in the order of `names`, default: every
    stateless feature of the spec) of a transactions frame with TX_AMOUNT and
    TX_DATETIME and/or TX_TIME_SECONDS. Rows are independent: any subset works."""
    wanted = spec.stateless_names if names is None else tuple(names)
    seconds = utc_epoch_seconds(frame, spec)
    columns = {name: _COLUMN_FORMULAS[name](frame, seconds) for name in wanted}
    return pd.DataFrame(columns, index=frame.index)


def compute_features(
    stream: pd.DataFrame,
    spec: FeatureSpec,
    names: Sequence[str] | None = None,
    outcome_delay_seconds: int | None = None,
    corrections: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Feature matrix (float64 columns in the order of `names`, default: the spec's)
    of a whole transaction stream.

    History features need the whole time-ordered stream (CUSTOMER_ID, TERMINAL_ID,
    TX_FRAUD too): compute them first, split into blocks afterwards, never the other
    way round (a block's first days would see empty windows). Stateless-only
    requests work on any frame. `corrections` (TRANSACTION_ID, OUTCOME,
    KNOWN_AT_SECONDS) supersede TX_FRAUD outcomes from their known_at on
    (history_corrections.py).
    """
    wanted = spec.names if names is None else tuple(names)
    spec.check_names(wanted)
    stateless = [name for name in wanted if name in spec.stateless_names]
    columns = dict(compute_stateless_features(stream, spec, stateless).items())
    history = [spec.window(name) for name in wanted if name not in spec.stateless_names]
    if history:
        from fraud_training.history_offline import history_features

        columns.update(history_features(stream, spec, history, outcome_delay_seconds, corrections).items())
    return pd.DataFrame({name: columns[name] for name in wanted}, index=stream.index)


# --- single-transaction implementation ------------------------------------------------


def _parse_datetime(text: str) -> datetime:
    """RFC 3339 / ISO 8601; a value without an offset is taken as UTC."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def transaction_time(transaction: Mapping[str, Any], spec: FeatureSpec) -> datetime:
    """The spec's clock rule: tx_datetime wins; otherwise epoch + tx_time_seconds."""
    if transaction.get("tx_datetime") is not None:
        return _parse_datetime(str(transaction["tx_datetime"])).astimezone(UTC)
    if transaction.get("tx_time_seconds") is None:
        raise ValueError("a transaction needs tx_datetime or tx_time_seconds")
    return spec.epoch + timedelta(seconds=float(transaction["tx_time_seconds"]))


def _single_value(name: str, amount: float, when: datetime) -> float:
    if name == "TX_AMOUNT":
        return amount
    if name == "TX_DURING_WEEKEND":
        return 1.0 if when.weekday() in (SATURDAY, SUNDAY) else 0.0
    if name == "TX_DURING_NIGHT":
        return 1.0 if when.hour <= NIGHT_LAST_HOUR else 0.0
    raise ValueError(f"no implementation for feature {name}")


def features_for_transaction(transaction: Mapping[str, Any], spec: FeatureSpec) -> dict[str, float]:
    """Named stateless features of one request-shaped transaction (keys tx_amount,
    tx_time_seconds, tx_datetime), in the spec's order. History features come from
    `history.HistoryState`, which needs the events before it."""
    amount = float(transaction["tx_amount"])
    if not math.isfinite(amount):
        raise ValueError("tx_amount must be a finite number")
    when = transaction_time(transaction, spec)
    return {name: _single_value(name, amount, when) for name in spec.stateless_names}


def request_frame(transactions: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Request-shaped dicts (lower-case keys) as a frame for `compute_features`."""
    return pd.DataFrame(
        {
            "TX_AMOUNT": [float(t["tx_amount"]) for t in transactions],
            "TX_TIME_SECONDS": [t.get("tx_time_seconds", np.nan) for t in transactions],
            "TX_DATETIME": [t.get("tx_datetime") for t in transactions],
        }
    )
