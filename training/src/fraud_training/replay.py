"""Replay files: the event stream a service is fed, and the features it must use.

For a simulated period, `events.jsonl` holds every transaction at its event time and
every fraud outcome at known_at = event time + the outcome delay, interleaved in
arrival order (time; at the same second outcomes before transactions, as
`history_offline` assumes; then the stream's order). `features.jsonl` holds, per
transaction id, the feature vector the offline pipeline computes for it. A service
that records the events in that order and answers with the features it used must
give the same vectors (the parity check of the online-features issue).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraud_training.features import FeatureSpec, compute_features, utc_epoch_seconds
from fraud_training.history import MICROS_PER_SECOND, HistoryState
from fraud_training.history_corrections import read_corrections

FORMAT_VERSION = 1
_OUTCOME, _CORRECTION, _TRANSACTION = 0, 1, 2  # order of kinds at the same second


@dataclass(frozen=True)
class ReplayEvent:
    """One event of the stream, request-shaped (the keys of the history vectors)."""

    kind: str  # "transaction" or "outcome"
    body: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {self.kind: self.body}


def event_order(
    seconds: np.ndarray, outcome_delay_seconds: int, correction_seconds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(index, kind) of every event in arrival order: transactions at their second,
    outcomes at second + delay, corrections at their known_at (unix seconds; index
    into the corrections); at the same second outcomes, then corrections, then
    transactions; then row (or correction) order. The delay is at least a second, so
    an outcome always follows its transaction."""
    if outcome_delay_seconds < 1:
        raise ValueError("the outcome delay must be at least 1 second")
    corrected = (
        np.zeros(0, dtype=np.int64) if correction_seconds is None else correction_seconds.astype(np.int64)
    )
    rows = np.arange(len(seconds))
    times = np.concatenate([seconds, seconds + outcome_delay_seconds, corrected])
    kinds = np.concatenate(
        [np.full(len(rows), _TRANSACTION), np.full(len(rows), _OUTCOME), np.full(len(corrected), _CORRECTION)]
    )
    indexes = np.concatenate([rows, rows, np.arange(len(corrected))])
    order = np.lexsort((indexes, kinds, times))
    return indexes[order], kinds[order]


def replay_events(
    stream: pd.DataFrame,
    spec: FeatureSpec,
    outcome_delay_seconds: int,
    until_seconds: int | None = None,
    corrections: pd.DataFrame | None = None,
) -> Iterator[ReplayEvent]:
    """The events of a time-ordered stream (simulator columns), in arrival order, with
    `corrections` (history_corrections.py) sent as outcomes marked supersedes at their
    known_at. Outcomes known after `until_seconds` (unix) are left out: they are in
    the future."""
    seconds = utc_epoch_seconds(stream, spec)
    relative = seconds - spec.epoch_seconds
    ids = stream["TRANSACTION_ID"].to_numpy()
    customers = stream["CUSTOMER_ID"].to_numpy()
    terminals = stream["TERMINAL_ID"].to_numpy()
    amounts = stream["TX_AMOUNT"].to_numpy(dtype=np.float64)
    fraud = stream["TX_FRAUD"].to_numpy()
    fixes = read_corrections(corrections) if corrections is not None else []
    fix_seconds = np.asarray([spec.epoch_seconds + fix.known_at_seconds for fix in fixes], dtype=np.int64)
    rows, kinds = event_order(seconds, outcome_delay_seconds, fix_seconds)
    for row, kind in zip(rows.tolist(), kinds.tolist(), strict=True):
        if kind == _CORRECTION:
            fix = fixes[row]
            if until_seconds is None or fix_seconds[row] <= until_seconds:
                yield ReplayEvent(
                    "outcome",
                    {
                        "transaction_id": fix.transaction_id,
                        "outcome": fix.outcome,
                        "known_at_seconds": fix.known_at_seconds,
                        "supersedes": True,
                    },
                )
        elif kind == _TRANSACTION:
            yield ReplayEvent(
                "transaction",
                {
                    "transaction_id": int(ids[row]),
                    "customer_id": int(customers[row]),
                    "terminal_id": int(terminals[row]),
                    "tx_amount": float(amounts[row]),
                    "tx_time_seconds": int(relative[row]),
                },
            )
        elif until_seconds is None or seconds[row] + outcome_delay_seconds <= until_seconds:
            yield ReplayEvent(
                "outcome",
                {
                    "transaction_id": int(ids[row]),
                    "outcome": "fraud" if fraud[row] == 1 else "legitimate",
                    "known_at_seconds": int(relative[row] + outcome_delay_seconds),
                },
            )


def simulated_corrections(
    stream: pd.DataFrame, spec: FeatureSpec, share: float, outcome_delay_seconds: int, seed: int
) -> pd.DataFrame:
    """Corrections for a `share` of the stream's transactions (chargebacks after a first
    report of legitimate, fraud reports withdrawn): each outcome flipped 0-14 days after
    its first report, and a quarter of them flipped back 0-3 days later (a chain), as
    history_corrections.py takes them."""
    if not 0 <= share <= 1:
        raise ValueError(f"the share of corrected transactions must be within 0..1, got {share}")
    rng = np.random.default_rng(seed)
    relative = utc_epoch_seconds(stream, spec) - spec.epoch_seconds
    ids = stream["TRANSACTION_ID"].to_numpy()
    fraud = stream["TX_FRAUD"].to_numpy()
    rows: list[tuple[int, str, int]] = []
    for row in np.flatnonzero(rng.random(len(stream)) < share).tolist():
        flipped = "legitimate" if fraud[row] == 1 else "fraud"
        at = int(relative[row]) + outcome_delay_seconds + int(rng.integers(0, 14 * 86_400))
        rows.append((int(ids[row]), flipped, at))
        if rng.random() < 0.25:
            back = "fraud" if flipped == "legitimate" else "legitimate"
            rows.append((int(ids[row]), back, at + int(rng.integers(0, 3 * 86_400))))
    rows.sort(key=lambda correction: correction[2])
    return pd.DataFrame(rows, columns=["TRANSACTION_ID", "OUTCOME", "KNOWN_AT_SECONDS"])


def reference_features(
    events: Sequence[ReplayEvent] | Iterator[ReplayEvent], spec: FeatureSpec, lateness_seconds: int = 0
) -> dict[int, dict[str, float]]:
    """The event-by-event reference over a replay stream: history features per
    transaction id (for the parity test between the two Python implementations)."""
    state = HistoryState(spec.windows, lateness_seconds * MICROS_PER_SECOND)
    epoch_micros = spec.epoch_seconds * MICROS_PER_SECOND
    features: dict[int, dict[str, float]] = {}
    corrected: set[int] = set()
    for event in events:
        body = event.body
        if event.kind == "transaction":
            scored = state.transaction(
                body["transaction_id"],
                body["customer_id"],
                body["terminal_id"],
                body["tx_amount"],
                epoch_micros + body["tx_time_seconds"] * MICROS_PER_SECOND,
            )
            if scored.late:
                raise ValueError(f"replay transaction {body['transaction_id']} refused as late")
            features[body["transaction_id"]] = scored.features
        else:
            known_at = epoch_micros + body["known_at_seconds"] * MICROS_PER_SECOND
            supersedes = bool(body.get("supersedes", False))
            status = state.outcome(body["transaction_id"], body["outcome"], known_at, supersedes)
            # A first report is applied, unless a correction came first; a correction may be refused.
            if not supersedes and status != "applied" and body["transaction_id"] not in corrected:
                raise ValueError(f"replay outcome for {body['transaction_id']}: {status}")
            if supersedes:
                corrected.add(body["transaction_id"])
    return features


@dataclass(frozen=True)
class ReplayFiles:
    events: Path
    features: Path
    meta: Path
    n_transactions: int
    n_outcomes: int


def write_replay(
    stream: pd.DataFrame,
    spec: FeatureSpec,
    out_dir: Path,
    outcome_delay_seconds: int,
    description: Mapping[str, Any],
    names: Sequence[str] | None = None,
    corrections: pd.DataFrame | None = None,
) -> ReplayFiles:
    """events.jsonl, features.jsonl and replay.json (what was simulated, the format).
    `corrections` are sent as outcomes marked supersedes, and the features count them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = list(spec.names if names is None else names)
    matrix = compute_features(stream, spec, wanted, outcome_delay_seconds, corrections).to_numpy()
    ids = stream["TRANSACTION_ID"].to_numpy()
    features_path = out_dir / "features.jsonl"
    with features_path.open("w", encoding="utf-8") as handle:
        for transaction_id, row in zip(ids.tolist(), matrix.tolist(), strict=True):
            handle.write(
                json.dumps(
                    {"transaction_id": transaction_id, "features": dict(zip(wanted, row, strict=True))}
                )
            )
            handle.write("\n")
    last_second = int(utc_epoch_seconds(stream, spec).max()) if len(stream) else 0
    events_path = out_dir / "events.jsonl"
    counts = {"transaction": 0, "outcome": 0, "correction": 0}
    with events_path.open("w", encoding="utf-8") as handle:
        events = replay_events(stream, spec, outcome_delay_seconds, last_second, corrections)
        for event in events:
            counts[event.kind] += 1
            counts["correction"] += int(event.body.get("supersedes", False))
            handle.write(json.dumps(event.as_json()))
            handle.write("\n")
    meta_path = out_dir / "replay.json"
    meta = {
        "format_version": FORMAT_VERSION,
        "feature_spec_version": spec.spec_version,
        "epoch": spec.epoch.isoformat().replace("+00:00", "Z"),
        "outcome_delay_seconds": outcome_delay_seconds,
        "n_transactions": counts["transaction"],
        "n_outcomes": counts["outcome"],
        "n_corrections": counts["correction"],
        "features": wanted,
        "tolerance": 1e-6,
        **description,
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return ReplayFiles(events_path, features_path, meta_path, counts["transaction"], counts["outcome"])
