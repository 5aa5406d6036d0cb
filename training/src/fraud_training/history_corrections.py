"""Outcome corrections in the offline world of `history_offline`.

Offline, every transaction's outcome (TX_FRAUD) is reported at its event time + the
outcome delay. Corrections come on top, as a frame of reports marked supersedes
(`history.rules`, corrections): TRANSACTION_ID, OUTCOME ('fraud' or 'legitimate') and
KNOWN_AT_SECONDS (seconds since the spec's epoch, the clock of TX_TIME_SECONDS). They
arrive at their known_at: at the same second after the first reports, in frame order,
and before the transactions of that second, as `replay` sends them.

Each corrected transaction's outcomes are replayed through `history.outcome_status`
(the same rules as the reference and the service: a correction before the first
report is a first report, an out-of-order or excess one changes nothing), and the
outcome features of the terminals they touch are recomputed exactly, row by row, with
the reference's aggregates. Corrections are rare, so this costs little; every other
terminal keeps the vectorised values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraud_training.history import (
    MICROS_PER_SECOND,
    OUTCOME_AGGREGATES,
    RecordedTransaction,
    WindowFeature,
    outcome_status,
    terminal_aggregate,
)

CORRECTION_COLUMNS = ("TRANSACTION_ID", "OUTCOME", "KNOWN_AT_SECONDS")

#: (outcome, known_at unix seconds) in turn; the last one is in force from its known_at.
Timeline = list[tuple[str, int]]


@dataclass(frozen=True)
class Correction:
    transaction_id: int
    outcome: str
    known_at_seconds: int  # since the spec's epoch


def read_corrections(frame: pd.DataFrame) -> list[Correction]:
    """The corrections of a frame, in its order; refuses missing columns and unknown outcomes."""
    missing = [name for name in CORRECTION_COLUMNS if name not in frame]
    if missing:
        raise ValueError(
            f"corrections need the columns {', '.join(CORRECTION_COLUMNS)}; missing {', '.join(missing)}"
        )
    corrections = []
    for transaction_id, outcome, known_at in zip(
        frame["TRANSACTION_ID"].tolist(),
        frame["OUTCOME"].tolist(),
        frame["KNOWN_AT_SECONDS"].tolist(),
        strict=True,
    ):
        if outcome not in ("fraud", "legitimate"):
            raise ValueError(
                f"correction of {transaction_id}: OUTCOME must be fraud or legitimate, got {outcome!r}"
            )
        corrections.append(Correction(int(transaction_id), str(outcome), int(known_at)))
    return corrections


def outcome_timelines(
    ids: np.ndarray,
    seconds: np.ndarray,
    fraud: np.ndarray,
    delay: int,
    corrections: Sequence[Correction],
    epoch_seconds: int,
) -> dict[int, Timeline]:
    """Per stream row with a correction (the first row of its id: outcomes name the first
    recording), the outcomes recorded in turn; corrections of unknown ids are dropped."""
    first_row: dict[int, int] = {}
    for row, transaction_id in enumerate(ids.tolist()):
        first_row.setdefault(int(transaction_id), row)
    by_row: dict[int, list[Correction]] = defaultdict(list)
    for correction in corrections:
        row = first_row.get(correction.transaction_id)
        if row is not None:
            by_row[row].append(correction)
    timelines: dict[int, Timeline] = {}
    for row, own in by_row.items():
        time = int(seconds[row])
        first = ("fraud" if fraud[row] else "legitimate", time + delay, False)
        reports = [first] + [(c.outcome, epoch_seconds + c.known_at_seconds, True) for c in own]
        # Arrival order: by known_at; at the same second the first report, then corrections in frame order.
        reports.sort(key=lambda report: report[1])
        timeline: Timeline = []
        for outcome, known_at, supersedes in reports:
            if outcome_status(time, timeline, outcome, known_at, supersedes) in ("applied", "corrected"):
                timeline.append((outcome, known_at))
        timelines[row] = timeline
    return timelines


def corrected_terminal_values(
    windows: Sequence[WindowFeature],
    terminals: np.ndarray,
    seconds: np.ndarray,
    fraud: np.ndarray,
    delay: int,
    timelines: dict[int, Timeline],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per outcome feature: (rows, values) for every row of a terminal with a corrected
    transaction, computed by the reference's aggregates over the outcomes in force."""
    wanted = [w for w in windows if w.kind == "terminal_window" and w.aggregate in OUTCOME_AGGREGATES]
    touched = {terminals[row] for row in timelines}
    results: dict[str, tuple[list[int], list[float]]] = {w.name: ([], []) for w in wanted}
    if not wanted or not touched:
        return {}
    for terminal in touched:
        rows = np.flatnonzero(terminals == terminal).tolist()
        recorded = [
            _recorded(row, int(seconds[row]), bool(fraud[row]), delay, timelines.get(row)) for row in rows
        ]
        for position, x in enumerate(recorded):
            earlier = recorded[:position]
            for window in wanted:
                first, last = window.day_range(x.day)
                newest = last + 1 if window.aggregate == "fraud_streak_latest" else last
                in_window = [other for other in earlier if first <= other.day <= newest]
                rows_of, values = results[window.name]
                rows_of.append(rows[position])
                values.append(terminal_aggregate(window.aggregate, in_window, x, last))
    return {
        name: (np.asarray(r, dtype=np.int64), np.asarray(v, dtype=np.float64))
        for name, (r, v) in results.items()
    }


def _recorded(row: int, time: int, fraud: bool, delay: int, timeline: Timeline | None) -> RecordedTransaction:
    """A stream row as the reference keeps it; its outcomes are all known before any
    transaction at or after their known_at (seq 0), as the arrival order makes them."""
    outcomes = timeline if timeline is not None else [("fraud" if fraud else "legitimate", time + delay)]
    x = RecordedTransaction(row, 0, 0, 0.0, time * MICROS_PER_SECOND, row + 1)
    x.outcomes = [(outcome, known_at * MICROS_PER_SECOND, 0) for outcome, known_at in outcomes]
    return x
