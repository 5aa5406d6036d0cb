"""The simulator follows the handbook's rules, on a small seeded run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import SMALL
from fraud_training.simulate import (
    SECONDS_PER_DAY,
    TRANSACTION_COLUMNS,
    Simulation,
    SimulationConfig,
    simulate,
    terminals_within_radius,
)


def test_columns_and_dtypes(small_simulation: Simulation) -> None:
    frame = small_simulation.transactions
    assert tuple(frame.columns) == TRANSACTION_COLUMNS
    assert pd.api.types.is_datetime64_dtype(frame["TX_DATETIME"])
    assert frame["TX_AMOUNT"].dtype == np.float64
    for column in set(TRANSACTION_COLUMNS) - {"TX_DATETIME", "TX_AMOUNT"}:
        assert frame[column].dtype == np.int64, column


def test_sorted_by_time_with_ids_in_order(small_simulation: Simulation) -> None:
    frame = small_simulation.transactions
    assert frame["TX_TIME_SECONDS"].is_monotonic_increasing
    assert (frame["TRANSACTION_ID"].to_numpy() == np.arange(len(frame))).all()


def test_time_columns_agree(small_simulation: Simulation) -> None:
    frame = small_simulation.transactions
    seconds = frame["TX_TIME_SECONDS"]
    start = pd.Timestamp(SMALL.start_date)
    assert (frame["TX_DATETIME"] == start + pd.to_timedelta(seconds, unit="s")).all()
    assert (frame["TX_TIME_DAYS"] == seconds // SECONDS_PER_DAY).all()
    time_of_day = seconds % SECONDS_PER_DAY
    assert ((time_of_day > 0) & (time_of_day < SECONDS_PER_DAY)).all()
    assert frame["TX_TIME_DAYS"].between(0, SMALL.n_days - 1).all()
    assert abs(time_of_day.mean() - 43_200) < 500  # N(43200, 20000), truncated symmetrically


def test_genuine_amounts_are_non_negative_cents(small_simulation: Simulation) -> None:
    genuine = small_simulation.injection.genuine_amount
    assert (genuine >= 0).all()
    assert np.allclose(genuine, np.round(genuine, 2), rtol=0, atol=1e-9)


def test_customers_use_terminals_within_radius(small_simulation: Simulation) -> None:
    frame = small_simulation.transactions
    customers = small_simulation.customers
    customer = frame["CUSTOMER_ID"].to_numpy()
    terminal_xy = small_simulation.terminal_xy[frame["TERMINAL_ID"].to_numpy()]
    distance = np.hypot(customers.x[customer] - terminal_xy[:, 0], customers.y[customer] - terminal_xy[:, 1])
    assert (distance < SMALL.radius).all()


def test_customers_without_terminals_make_no_transactions() -> None:
    sparse = simulate(SimulationConfig(n_customers=200, n_terminals=50, n_days=5, seed=1))
    lonely = np.flatnonzero(sparse.customers.n_terminals_reachable == 0)
    assert len(lonely) > 0
    assert not sparse.transactions["CUSTOMER_ID"].isin(lonely).any()


def test_daily_counts_follow_the_customers_rates(small_simulation: Simulation) -> None:
    expected = small_simulation.customers.mean_nb_tx_per_day
    reachable = small_simulation.customers.n_terminals_reachable > 0
    kept_share = 0.969  # P(0 < N(43200, 20000) < 86400)
    mean = expected[reachable].sum() * SMALL.n_days * kept_share
    assert abs(len(small_simulation.transactions) - mean) < 0.03 * mean


def test_terminal_search_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    customers, terminals = rng.uniform(0, 100, (40, 2)), rng.uniform(0, 100, (300, 2))
    offsets, ids = terminals_within_radius(customers, terminals, radius=12.0, chunk=7)
    for c in range(len(customers)):
        brute = np.flatnonzero(np.hypot(*(terminals - customers[c]).T) < 12.0)
        assert (ids[offsets[c] : offsets[c + 1]] == brute).all()


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    config = SimulationConfig(n_customers=100, n_terminals=200, n_days=20, seed=11)
    first, second = simulate(config).transactions, simulate(config).transactions
    pd.testing.assert_frame_equal(first, second)
    other = simulate(SimulationConfig(n_customers=100, n_terminals=200, n_days=20, seed=12)).transactions
    assert not first.equals(other)


# --- fraud scenarios ------------------------------------------------------------------


def test_fraud_and_scenario_agree(small_simulation: Simulation) -> None:
    frame = small_simulation.transactions
    assert set(frame["TX_FRAUD_SCENARIO"].unique()) <= {0, 1, 2, 3}
    assert ((frame["TX_FRAUD"] == 1) == (frame["TX_FRAUD_SCENARIO"] > 0)).all()
    assert (frame["TX_FRAUD_SCENARIO"].value_counts().reindex([1, 2, 3]) > 0).all()


def test_scenario_1_every_amount_over_220_is_fraud(small_simulation: Simulation) -> None:
    frame = small_simulation.transactions
    over = frame["TX_AMOUNT"] > 220
    assert over.any()
    assert (frame.loc[over, "TX_FRAUD"] == 1).all()
    assert (frame.loc[over, "TX_FRAUD_SCENARIO"] >= 1).all()
    # Scenario 1 is labelled on the genuine amounts, before scenario 3's x5.
    scenario_1 = frame["TX_FRAUD_SCENARIO"] == 1
    assert (small_simulation.injection.genuine_amount[scenario_1.to_numpy()] > 220).all()


def _compromised_window(chosen: np.ndarray, length: int) -> dict[int, list[tuple[int, int]]]:
    windows: dict[int, list[tuple[int, int]]] = {}
    for day, ids in enumerate(chosen):
        for i in ids:
            windows.setdefault(int(i), []).append((day, day + length))
    return windows


def _in_a_window(windows: dict[int, list[tuple[int, int]]], who: int, day: int) -> bool:
    return any(start <= day < end for start, end in windows.get(who, []))


def test_scenario_2_transactions_are_at_terminals_compromised_in_the_last_28_days(
    small_simulation: Simulation,
) -> None:
    frame = small_simulation.transactions
    rules = SMALL.rules
    windows = _compromised_window(
        small_simulation.injection.compromised_terminals, rules.terminal_compromise_days
    )
    in_window = np.array(
        [
            _in_a_window(windows, t, d)
            for t, d in zip(frame["TERMINAL_ID"], frame["TX_TIME_DAYS"], strict=True)
        ]
    )
    scenario = frame["TX_FRAUD_SCENARIO"].to_numpy()
    assert in_window[scenario == 2].all()
    # Conversely every such transaction is a scenario-2 fraud, unless scenario 3 came later.
    assert np.isin(scenario[in_window], [2, 3]).all()
    assert small_simulation.injection.compromised_terminals.shape == (
        SMALL.n_days - 1,
        rules.terminals_per_day,
    )


def test_scenario_3_amounts_are_five_times_the_genuine_ones(small_simulation: Simulation) -> None:
    frame = small_simulation.transactions
    genuine = small_simulation.injection.genuine_amount
    amount = frame["TX_AMOUNT"].to_numpy()
    scenario_3 = (frame["TX_FRAUD_SCENARIO"] == 3).to_numpy()
    assert scenario_3.any()
    assert np.array_equal(amount[~scenario_3], genuine[~scenario_3])
    positive = scenario_3 & (genuine > 0)
    ratio = amount[positive] / genuine[positive]
    # x5, or x25 when two compromise windows of the same customer picked the same
    # transaction (as in the handbook); tolerance covers the rounding to cents.
    powers = np.log(ratio) / np.log(5)
    assert np.allclose(powers, np.round(powers), atol=1e-3)
    assert (np.round(powers) >= 1).all()
    assert np.mean(np.round(powers) == 1) > 0.8


def test_scenario_3_transactions_belong_to_customers_compromised_in_the_last_14_days(
    small_simulation: Simulation,
) -> None:
    frame = small_simulation.transactions
    windows = _compromised_window(
        small_simulation.injection.compromised_customers, SMALL.rules.customer_compromise_days
    )
    scenario_3 = frame[frame["TX_FRAUD_SCENARIO"] == 3]
    assert all(
        _in_a_window(windows, c, d)
        for c, d in zip(scenario_3["CUSTOMER_ID"], scenario_3["TX_TIME_DAYS"], strict=True)
    )


def test_scenario_3_takes_about_a_third_of_the_compromised_transactions(small_simulation: Simulation) -> None:
    frame = small_simulation.transactions
    windows = _compromised_window(
        small_simulation.injection.compromised_customers, SMALL.rules.customer_compromise_days
    )
    exposed = np.array(
        [
            _in_a_window(windows, c, d)
            for c, d in zip(frame["CUSTOMER_ID"], frame["TX_TIME_DAYS"], strict=True)
        ]
    )
    share = (frame["TX_FRAUD_SCENARIO"].to_numpy()[exposed] == 3).mean()
    assert 0.25 < share < 0.6  # 1/3 per window; overlapping windows of one customer add up


@pytest.mark.parametrize("seed", [0])
def test_handbook_size_fraud_rate_is_in_the_handbooks_band(seed: int) -> None:
    frame = simulate(SimulationConfig(seed=seed)).transactions
    assert 1_650_000 < len(frame) < 1_900_000  # handbook: 1,754,155
    assert 0.007 < frame["TX_FRAUD"].mean() < 0.010  # handbook: 0.84 %
    shares = frame["TX_FRAUD_SCENARIO"].value_counts(normalize=True)
    assert 0.0003 < shares[1] < 0.001 and 0.004 < shares[2] < 0.007 and 0.002 < shares[3] < 0.0035
