"""History features: the event-by-event reference passes every history vector of the
spec, and the vectorised offline implementation equals it on simulated streams."""

from __future__ import annotations

import json
from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest

from fraud_training.features import FeatureSpec, compute_features
from fraud_training.history import HistoryState, OutcomeStatus, run_history_vector
from fraud_training.history_offline import StreamOrderError, history_features
from fraud_training.paths import repo_paths
from fraud_training.replay import reference_features, replay_events
from fraud_training.simulate import SimulationConfig, simulate

RAW_SPEC: dict[str, Any] = json.loads(repo_paths().feature_spec.read_text(encoding="utf-8"))
HISTORY_VECTORS: list[dict[str, Any]] = RAW_SPEC["history_vectors"]
TOLERANCE = 1e-9  # the spec's tolerance for history vectors


def _check_transaction(event: dict[str, Any], result: dict[str, Any], where: str) -> None:
    if "expected_error" in event:
        assert result == {"error": event["expected_error"]}, where
        return
    assert "error" not in result, f"{where}: {result}"
    if "expected_duplicate" in event:
        assert result["duplicate"] is event["expected_duplicate"], where
    for name, expected in event.get("expected", {}).items():
        assert result["features"][name] == pytest.approx(expected, abs=TOLERANCE), f"{where} {name}"


@pytest.mark.parametrize("vector", HISTORY_VECTORS, ids=[v["name"] for v in HISTORY_VECTORS])
def test_reference_passes_the_history_vector(vector: dict[str, Any], spec: FeatureSpec) -> None:
    results = run_history_vector(vector, spec.windows, spec.epoch)
    for index, (event, result) in enumerate(zip(vector["events"], results, strict=True)):
        where = f"event {index}"
        if "outcome" in event:
            assert result == {"status": event["expected_status"]}, where
        elif "batch" in event:
            refused = any("expected_error" in entry for entry in event["batch"])
            for position, (entry, one) in enumerate(zip(event["batch"], result["batch"], strict=True)):
                if refused and "expected_error" not in entry:
                    assert one == {"error": "refused"}, (
                        f"{where}, batch entry {position}: recorded in a refused batch"
                    )
                else:
                    _check_transaction(entry, one, f"{where}, batch entry {position}")
        else:
            _check_transaction(event, result, where)


def test_history_vectors_cover_every_history_feature_and_status(spec: FeatureSpec) -> None:
    named = {name for v in HISTORY_VECTORS for e in v["events"] for name in e.get("expected", {})}
    assert named == {w.name for w in spec.windows}
    statuses = {e["expected_status"] for v in HISTORY_VECTORS for e in v["events"] if "outcome" in e}
    assert statuses == set(get_args(OutcomeStatus))


def test_window_definitions_come_from_the_spec_fields(spec: FeatureSpec) -> None:
    by_name = {w.name: w for w in spec.windows}
    assert len(by_name) == 16
    risk = by_name["TERMINAL_ID_RISK_7DAY_WINDOW"]
    assert (risk.window_days, risk.delay_days, risk.aggregate) == (7, 7, "fraud_risk")
    assert risk.day_range(100) == (86, 92)
    assert by_name["CUSTOMER_ID_NB_TX_30DAY_WINDOW"].day_range(100) == (71, 100)


def test_an_id_reused_for_another_customer_is_recorded_for_it_once_at_the_terminal(spec: FeatureSpec) -> None:
    state = HistoryState(spec.windows, 0)
    state.transaction(1, 1, 1, 10.0, 0)
    reused = state.transaction(1, 2, 1, 30.0, 1)
    assert not reused.duplicate
    assert reused.features["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1
    assert [o.customer_id for o in state.by_terminal[1]] == [1]
    assert state.by_id[1].customer_id == 1, "outcomes name the first recording"


def test_a_duplicate_is_never_late_and_sees_what_was_recorded_since(spec: FeatureSpec) -> None:
    day = 86_400 * 1_000_000
    state = HistoryState(spec.windows, 3_600 * 1_000_000)
    hour = 3_600 * 1_000_000
    first = state.transaction(1, 1, 1, 10.0, 10 * day + 2 * hour)
    assert first.features["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1
    state.transaction(2, 1, 1, 20.0, 10 * day + hour)
    state.transaction(3, 1, 2, 5.0, 12 * day)
    retry = state.transaction(1, 1, 1, 10.0, 10 * day + 2 * hour)
    assert not retry.late and retry.duplicate
    assert retry.features["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2, (
        "transaction 2 (earlier in event time, recorded since) counts"
    )
    assert state.transaction(4, 1, 1, 1.0, 10 * day + 2 * hour).late


# --- offline == reference on simulated streams ----------------------------------------

PARITY_SIMULATIONS = [
    SimulationConfig(n_customers=150, n_terminals=120, n_days=50, seed=11),
    SimulationConfig(n_customers=80, n_terminals=40, n_days=40, seed=12),
]


def _offline_vs_reference(stream: pd.DataFrame, spec: FeatureSpec, delay: int) -> None:
    names = [w.name for w in spec.windows]
    offline = compute_features(stream, spec, names, outcome_delay_seconds=delay)
    reference = reference_features(replay_events(stream, spec, delay), spec)
    expected = pd.DataFrame([reference[i] for i in stream["TRANSACTION_ID"]], index=stream.index)[names]
    difference = (offline - expected).abs().to_numpy()
    worst = np.unravel_index(np.argmax(difference), difference.shape)
    assert difference.max() <= 1e-9, (
        f"{names[worst[1]]} of transaction {stream['TRANSACTION_ID'].iloc[worst[0]]}: "
        f"offline {offline.iloc[worst]} reference {expected.iloc[worst]}"
    )


@pytest.mark.parametrize("config", PARITY_SIMULATIONS, ids=["dense", "small-terminals"])
def test_offline_equals_reference_on_a_simulation(config: SimulationConfig, spec: FeatureSpec) -> None:
    stream = simulate(config).transactions
    assert stream["TX_FRAUD_SCENARIO"].eq(2).any(), "the stream should hold compromised terminals"
    _offline_vs_reference(stream, spec, 7 * 86_400)


@pytest.mark.parametrize("delay_days", [0, 3, 12], ids=["delay-1h", "delay-3d", "delay-12d-past-the-window"])
def test_offline_equals_reference_for_other_outcome_delays(delay_days: int, spec: FeatureSpec) -> None:
    """With outcomes known later than the terminal windows' delay, risk and streak see
    only part of the frauds; both implementations must agree on which."""
    stream = simulate(PARITY_SIMULATIONS[1]).transactions
    _offline_vs_reference(stream, spec, delay_days * 86_400 + 3_600)


def test_offline_on_edge_cases(spec: FeatureSpec) -> None:
    """Same-second transactions, zero amounts, an all-fraud terminal, empty days."""
    rows = []
    for transaction_id, (day, seconds, customer, terminal, amount, fraud) in enumerate(
        [
            (0, 100, 1, 1, 0.0, 1),
            (0, 100, 1, 1, 0.0, 1),
            (0, 100, 2, 1, 5.0, 1),
            (2, 50, 1, 1, 7.5, 1),
            (3, 86_399, 1, 2, 0.0, 0),
            (9, 0, 1, 1, 3.0, 0),
            (10, 0, 1, 1, 3.0, 1),
            (11, 5, 2, 1, 0.0, 1),
            (40, 1, 1, 1, 12.0, 0),
        ]
    ):
        rows.append((transaction_id, day * 86_400 + seconds, customer, terminal, amount, fraud))
    stream = pd.DataFrame(
        rows,
        columns=["TRANSACTION_ID", "TX_TIME_SECONDS", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"],
    )
    for delay in (1, 7 * 86_400, 8 * 86_400 + 5):
        _offline_vs_reference(stream, spec, delay)
    streak = compute_features(stream, spec, ["TERMINAL_ID_FRAUD_STREAK_30DAY_WINDOW"])
    assert streak.iloc[-3:, 0].tolist() == [4.0, 4.0, 2.0]


def test_offline_at_the_exact_second_a_delay_or_a_day_ends(spec: FeatureSpec) -> None:
    """Transactions at the second an outcome becomes known (fraud time + delay), the
    second before, and at the first and last second of a day: the vectorised pipeline
    equals the reference there, for the spec's 7-day delay and a second either side."""
    day = 86_400
    rows = [
        (2, 0, 1, 1, 10.0, 1),
        (2, 86_399, 2, 1, 10.0, 1),
        (3, 0, 3, 1, 10.0, 1),
        (3, 100, 4, 1, 10.0, 1),
        (9, 86_398, 5, 1, 1.0, 0),
        (9, 86_399, 6, 1, 1.0, 0),
        (10, 0, 7, 1, 1.0, 0),
        (10, 99, 8, 1, 1.0, 0),
        (10, 100, 9, 1, 1.0, 0),
        (11, 86_399, 10, 2, 5.0, 0),
        (12, 0, 10, 2, 6.0, 0),
        (18, 86_399, 10, 2, 7.0, 0),
        (19, 0, 10, 2, 8.0, 0),
    ]
    stream = pd.DataFrame(
        [(i, d * day + s, c, t, a, f) for i, (d, s, c, t, a, f) in enumerate(rows)],
        columns=["TRANSACTION_ID", "TX_TIME_SECONDS", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"],
    )
    for delay in (7 * day - 1, 7 * day, 7 * day + 1, 8 * day):
        _offline_vs_reference(stream, spec, delay)
    names = [
        "TERMINAL_ID_FRAUD_STREAK_LATEST_30DAY_WINDOW",
        "TERMINAL_ID_FRAUD_STREAK_30DAY_WINDOW",
        "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
    ]
    features = compute_features(stream, spec, names, outcome_delay_seconds=7 * day)
    # Day 2's last fraud is known at 9d 23:59:59 exactly: the latest streak takes day 2 then, not a
    # second before; day 3's frauds (00:00:00 and 00:01:40) are all known at 10d 00:01:40, not before.
    assert features[names[0]].iloc[4:9].tolist() == [0.0, 2.0, 2.0, 2.0, 4.0]
    assert features[names[1]].iloc[6:9].tolist() == [2.0, 2.0, 2.0]
    # Customer windows are whole days: 11d 23:59:59 is not in day 18's 7 days, 12d 00:00:00 is.
    assert features[names[2]].iloc[9:13].tolist() == [1.0, 2.0, 2.0, 2.0]


def test_offline_refuses_a_stream_out_of_time_order(spec: FeatureSpec) -> None:
    stream = pd.DataFrame(
        {
            "TX_TIME_SECONDS": [10, 5],
            "CUSTOMER_ID": [1, 1],
            "TERMINAL_ID": [1, 1],
            "TX_AMOUNT": [1.0, 2.0],
            "TX_FRAUD": [0, 0],
        }
    )
    with pytest.raises(StreamOrderError, match="time order"):
        history_features(stream, spec, spec.windows)
