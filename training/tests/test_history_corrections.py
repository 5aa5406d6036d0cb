"""Outcome corrections offline: the vectorised features with corrections equal the
event-by-event reference fed the replay stream (corrections sent as supersedes
reports), and the exact edges of a correction's known_at hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_training.features import FeatureSpec, compute_features, utc_epoch_seconds
from fraud_training.replay import reference_features, replay_events
from fraud_training.simulate import SimulationConfig, simulate

DAY = 86_400
DELAY = 7 * DAY
OUTCOME_FEATURES = [
    "TERMINAL_ID_RISK_1DAY_WINDOW",
    "TERMINAL_ID_RISK_7DAY_WINDOW",
    "TERMINAL_ID_RISK_30DAY_WINDOW",
    "TERMINAL_ID_FRAUD_STREAK_30DAY_WINDOW",
    "TERMINAL_ID_FRAUD_STREAK_LATEST_30DAY_WINDOW",
]


def _corrections(stream: pd.DataFrame, spec: FeatureSpec, seed: int) -> pd.DataFrame:
    """Corrections of every kind on random transactions: each outcome flipped some
    days after its first report, chains past the cap, some before the first report,
    before the transaction, out of order, and for an unknown id."""
    rng = np.random.default_rng(seed)
    relative = utc_epoch_seconds(stream, spec) - spec.epoch_seconds
    fraud = stream["TX_FRAUD"].to_numpy()
    ids = stream["TRANSACTION_ID"].to_numpy()
    rows: list[tuple[int, str, int]] = []
    chosen = rng.choice(len(stream), size=min(400, len(stream)), replace=False)
    fraud_rows = np.flatnonzero(fraud == 1)
    chosen = np.concatenate([chosen, rng.choice(fraud_rows, size=min(150, len(fraud_rows)), replace=False)])
    for row in chosen.tolist():
        t = int(relative[row])
        flipped = "legitimate" if fraud[row] == 1 else "fraud"
        kind = int(rng.integers(0, 6))
        if kind == 0:  # a plain correction some days after the first report
            rows.append((int(ids[row]), flipped, t + DELAY + int(rng.integers(0, 5 * DAY))))
        elif kind == 1:  # a chain of five: the fourth correction and after are refused
            at = t + DELAY
            outcome = flipped
            for _ in range(5):
                at += int(rng.integers(0, 2 * DAY))
                rows.append((int(ids[row]), outcome, at))
                outcome = "fraud" if outcome == "legitimate" else "legitimate"
        elif kind == 2:  # before the first report arrives: it is the first report
            rows.append((int(ids[row]), flipped, t + int(rng.integers(0, DELAY))))
        elif kind == 3:  # at exactly the first report's second (after it)
            rows.append((int(ids[row]), flipped, t + DELAY))
        elif kind == 4:  # before the transaction: refused
            rows.append((int(ids[row]), flipped, t - 1))
        else:  # out of order: a correction, then one known earlier
            rows.append((int(ids[row]), flipped, t + DELAY + 2 * DAY))
            rows.append(
                (int(ids[row]), "fraud" if flipped == "legitimate" else "legitimate", t + DELAY + DAY)
            )
    rows.append((10**12, "fraud", int(relative.max())))  # an unknown id
    return pd.DataFrame(rows, columns=["TRANSACTION_ID", "OUTCOME", "KNOWN_AT_SECONDS"])


@pytest.mark.parametrize("seed", [21, 22])
def test_offline_with_corrections_equals_the_reference_fed_the_replay(seed: int, spec: FeatureSpec) -> None:
    stream = simulate(SimulationConfig(n_customers=120, n_terminals=60, n_days=45, seed=seed)).transactions
    corrections = _corrections(stream, spec, seed)
    names = [w.name for w in spec.windows]
    offline = compute_features(stream, spec, names, DELAY, corrections)
    reference = reference_features(replay_events(stream, spec, DELAY, corrections=corrections), spec)
    expected = pd.DataFrame([reference[i] for i in stream["TRANSACTION_ID"]], index=stream.index)[names]
    difference = (offline - expected).abs().to_numpy()
    worst = np.unravel_index(np.argmax(difference), difference.shape)
    assert difference.max() <= 1e-9, (
        f"{names[worst[1]]} of transaction {stream['TRANSACTION_ID'].iloc[worst[0]]}: "
        f"offline {offline.iloc[worst]} reference {expected.iloc[worst]}"
    )
    uncorrected = compute_features(stream, spec, OUTCOME_FEATURES, DELAY)
    changed = (offline[OUTCOME_FEATURES] != uncorrected).any(axis=1).sum()
    assert changed > 50, f"the corrections changed only {changed} rows: the test would not see a bug"


def _stream(rows: list[tuple[int, int, int, int]]) -> pd.DataFrame:
    """(transaction id, terminal, seconds, fraud) rows, each its own customer, in time order."""
    return pd.DataFrame(
        {
            "TRANSACTION_ID": [r[0] for r in rows],
            "CUSTOMER_ID": [r[0] for r in rows],
            "TERMINAL_ID": [r[1] for r in rows],
            "TX_AMOUNT": [10.0] * len(rows),
            "TX_TIME_SECONDS": [r[2] for r in rows],
            "TX_FRAUD": [r[3] for r in rows],
        }
    )


def test_a_correction_counts_from_its_known_at_second_not_before(spec: FeatureSpec) -> None:
    known_at = 8 * DAY + 10_000
    stream = _stream(
        [
            (1, 700, 36_000, 1),
            (2, 800, 36_000, 0),
            (3, 700, known_at - 1, 0),
            (4, 800, known_at - 1, 0),
            (5, 700, known_at, 0),
            (6, 800, known_at, 0),
        ]
    )
    corrections = pd.DataFrame(
        {
            "TRANSACTION_ID": [1, 2],
            "OUTCOME": ["legitimate", "fraud"],
            "KNOWN_AT_SECONDS": [known_at, known_at],
        }
    )
    risk = compute_features(stream, spec, ["TERMINAL_ID_RISK_7DAY_WINDOW"], DELAY, corrections)
    # A second before known_at the outcome first reported counts; from known_at on the correction does.
    assert risk["TERMINAL_ID_RISK_7DAY_WINDOW"].tolist() == [0, 0, 1, 0, 0, 1]
    events = [e.as_json() for e in replay_events(stream, spec, DELAY, corrections=corrections)]
    sent = [e["outcome"] for e in events if "outcome" in e and e["outcome"].get("supersedes")]
    assert sent == [
        {"transaction_id": 1, "outcome": "legitimate", "known_at_seconds": known_at, "supersedes": True},
        {"transaction_id": 2, "outcome": "fraud", "known_at_seconds": known_at, "supersedes": True},
    ]
    # At the correction's second the corrections come before the transactions of that second.
    order = [
        (kind, body["transaction_id"], body.get("supersedes", False))
        for e in events[:10]
        for kind, body in e.items()
    ]
    assert order == [
        ("transaction", 1, False),
        ("transaction", 2, False),
        ("outcome", 1, False),
        ("outcome", 2, False),
        ("transaction", 3, False),
        ("transaction", 4, False),
        ("outcome", 1, True),
        ("outcome", 2, True),
        ("transaction", 5, False),
        ("transaction", 6, False),
    ]


def test_corrections_need_their_columns_and_known_outcomes(spec: FeatureSpec) -> None:
    stream = _stream([(1, 700, 36_000, 1), (2, 700, 8 * DAY, 0)])
    with pytest.raises(ValueError, match="KNOWN_AT_SECONDS"):
        compute_features(
            stream,
            spec,
            ["TERMINAL_ID_RISK_7DAY_WINDOW"],
            DELAY,
            pd.DataFrame({"TRANSACTION_ID": [1], "OUTCOME": ["fraud"]}),
        )
    bad = pd.DataFrame({"TRANSACTION_ID": [1], "OUTCOME": ["maybe"], "KNOWN_AT_SECONDS": [DAY]})
    with pytest.raises(ValueError, match="fraud or legitimate"):
        compute_features(stream, spec, ["TERMINAL_ID_RISK_7DAY_WINDOW"], DELAY, bad)
