"""The evaluation's definitions on hand-made cases: the handbook's CP@k against the
plain one, its test set, the validation shift, per-scenario ranking."""

from __future__ import annotations

import numpy as np

from fraud_training.evaluation import outcome_horizon
from fraud_training.features import load_feature_spec
from fraud_training.metrics import (
    OutcomeHorizon,
    card_precision_top_k,
    card_precision_top_k_handbook,
    confusion_matrix,
    reachable_auc,
    scenario_ranking,
    unseen_terminal_frauds,
)
from fraud_training.paths import repo_paths
from fraud_training.split import DayRange, Period, handbook_period


def test_handbook_card_precision_leaves_found_cards_out_of_later_days() -> None:
    # Day 0: card 1 (fraud) ranks first, card 2 second. Day 1: card 1 again on top, then card 3 (fraud).
    day = np.array([0, 0, 1, 1, 1])
    customer = np.array([1, 2, 1, 3, 4])
    score = np.array([0.9, 0.5, 0.95, 0.8, 0.1])
    fraud = np.array([1, 0, 1, 1, 0])
    # Plain, k = 1: day 0 card 1 hit, day 1 card 1 hit again -> 1.0.
    assert card_precision_top_k(day, customer, score, fraud, k=1) == 1.0
    # Handbook, k = 1: day 1 skips card 1 (found on day 0) and takes card 3 -> still 1.0.
    assert card_precision_top_k_handbook(day, customer, score, fraud, k=1) == 1.0
    # k = 2: plain day 1 = cards 1 and 3 -> 1.0, day 0 = 0.5; handbook day 1 = cards 3 and 4 -> 0.5.
    assert card_precision_top_k(day, customer, score, fraud, k=2) == 0.75
    assert card_precision_top_k_handbook(day, customer, score, fraud, k=2) == 0.5
    # The handbook divides by k even when fewer cards are left.
    assert card_precision_top_k_handbook(day[:2], customer[:2], score[:2], fraud[:2], k=4) == 0.25


def test_handbook_test_set_removes_cards_known_compromised() -> None:
    period = Period("p", DayRange(0, 1), 2, DayRange(5, 6), known_cards_from=1)
    day = np.array([0, 1, 3, 5, 5, 5, 6, 6, 6])
    customer = np.array([7, 8, 9, 7, 8, 9, 8, 9, 10])
    fraud = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0])
    mask = period.test_mask(day, customer, fraud)
    # Day 5 knows frauds of days 1..2 (card 8, not yet card 9's of day 3); card 7's fraud is
    # before known_cards_from. Day 6 knows days 1..3 (cards 8 and 9).
    assert mask.tolist() == [False, False, False, True, False, True, False, False, True]
    assert Period("q", period.train, 2, period.test).test_mask(day, customer, fraud).sum() == 6


def test_the_handbook_period_and_its_validation_twin() -> None:
    period = handbook_period("2018-04-01", train_days=28)
    assert (period.test.first, period.test.last) == (129, 135)  # 2018-08-08 .. 14
    assert (period.train.first, period.train.last) == (94, 121)  # 2018-07-04 .. 31
    assert period.known_cards_from == 115  # 2018-07-25
    validation = period.validation()
    assert validation.test.last < period.test.first
    assert (validation.test.first, validation.train.last, validation.known_cards_from) == (115, 107, 101)


def test_ranking_per_scenario_and_confusion_matrix() -> None:
    scenario = np.array([0, 0, 0, 1, 2, 2])
    score = np.array([0.1, 0.2, 0.6, 0.9, 0.5, 0.7])
    ranking = scenario_ranking(scenario, score)
    assert ranking["scenario_1"]["auc_roc"] == 1.0
    assert ranking["scenario_2"]["auc_roc"] == 5 / 6
    assert ranking["scenario_3"] == {"auc_roc": None, "average_precision": None}
    predicted = np.array([0, 0, 2, 1, 0, 2])
    assert confusion_matrix(scenario, predicted, 4) == [
        [2, 0, 1, 0],
        [0, 1, 0, 0],
        [1, 0, 1, 0],
        [0, 0, 0, 0],
    ]


def test_unseen_terminal_frauds_are_the_ones_no_window_can_see() -> None:
    # Terminal 7 is compromised from day 40 (scenario 2 every day). Windows read days
    # D-37..D-8: its frauds on days 40..47 have no fraud on a visible day, day 48 sees
    # day 40. Terminal 9's fraud on day 60 sees a scenario-1 fraud on day 30 (D-30);
    # terminal 4's on day 60 sees the one on day 23 (D-37, the farthest day read);
    # terminal 5's on day 60 does not see the one on day 22 (D-38, past the windows).
    days = [*range(40, 50), 30, 60, 23, 60, 22, 60, 60]
    terminal = [7] * 10 + [9, 9, 4, 4, 5, 5, 3]
    scenario = [2] * 10 + [1, 2, 1, 2, 1, 2, 0]
    fraud = [1] * 16 + [0]
    horizon = OutcomeHorizon(first_age=8, last_age=37)
    unseen = unseen_terminal_frauds(
        np.array(terminal), np.array(days), np.array(fraud), np.array(scenario), horizon
    )
    assert unseen.tolist() == [True] * 8 + [False] * 2 + [False] * 4 + [False, True, False]
    reach = reachable_auc(np.array(fraud), unseen)
    assert reach["unseen_fraud_share"] == 9 / 16
    assert reach["auc_roc_reachable"] == 1 - 9 / 32


def test_reachable_auc_follows_the_spec_windows() -> None:
    spec = load_feature_spec(repo_paths().feature_spec)
    horizon = outcome_horizon(spec)
    assert horizon == OutcomeHorizon(first_age=8, last_age=37)
