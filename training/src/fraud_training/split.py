"""Time-based train/test split, as in the handbook (chapter 3.4 / 5.2).

Train on a block of earlier days, skip a delay (labels of recent transactions are
not known yet when a model is trained in production), test on the days after it.
The blocks are anchored to the end of the simulation so that the fraud scenarios
are past their warm-up (scenario 2 builds up over its first 28 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TimeSplit:
    """Lengths of the blocks, in days."""

    train_days: int = 56
    delay_days: int = 7
    test_days: int = 14

    @property
    def total_days(self) -> int:
        return self.train_days + self.delay_days + self.test_days


@dataclass(frozen=True)
class DayRange:
    """An inclusive range of simulation days (day 0 = start date)."""

    first: int
    last: int

    def mask(self, days: np.ndarray) -> np.ndarray:
        return (days >= self.first) & (days <= self.last)

    def describe(self, start_date: str) -> dict[str, object]:
        start = date.fromisoformat(start_date)
        return {
            "first_day": self.first,
            "last_day": self.last,
            "first_date": (start + timedelta(days=self.first)).isoformat(),
            "last_date": (start + timedelta(days=self.last)).isoformat(),
            "days": self.last - self.first + 1,
        }


@dataclass(frozen=True)
class SplitDays:
    """Concrete day ranges of one split."""

    train: DayRange
    delay: DayRange
    test: DayRange

    def describe(self, start_date: str) -> dict[str, object]:
        return {
            "train": self.train.describe(start_date),
            "delay_days": self.delay.last - self.delay.first + 1,
            "test": self.test.describe(start_date),
        }


def split_days(n_days: int, split: TimeSplit) -> SplitDays:
    """The last `test_days` days are the test block; the delay and the train block
    precede it."""
    if split.total_days > n_days:
        raise ValueError(
            f"train {split.train_days} + delay {split.delay_days} + test {split.test_days} "
            f"days exceed the {n_days} simulated days"
        )
    test = DayRange(n_days - split.test_days, n_days - 1)
    delay = DayRange(test.first - split.delay_days, test.first - 1)
    train = DayRange(delay.first - split.train_days, delay.first - 1)
    return SplitDays(train, delay, test)


def split_frame(transactions: pd.DataFrame, days: SplitDays) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) rows of a transactions frame, by TX_TIME_DAYS."""
    day = transactions["TX_TIME_DAYS"].to_numpy()
    return transactions[days.train.mask(day)], transactions[days.test.mask(day)]


# --- evaluation periods ------------------------------------------------------------

HANDBOOK_TRAIN_START = date(2018, 7, 25)  # the handbook's chapter 5 protocol
HANDBOOK_TEST_START = date(2018, 8, 8)
HANDBOOK_TRAIN_DAYS = 7
HANDBOOK_DELAY_DAYS = 7
HANDBOOK_TEST_DAYS = 7


@dataclass(frozen=True)
class Period:
    """Train and test blocks of one evaluation, and which test cards are left out.

    `known_cards_from` reproduces the handbook's test set (get_train_test_set): on
    each test day D, the cards with a fraud on a day in [known_cards_from,
    D - delay - 1] are already known compromised and their transactions are
    removed. None keeps every test transaction (what a service scores).
    """

    name: str
    train: DayRange
    delay_days: int
    test: DayRange
    known_cards_from: int | None = None

    def shifted_back(self, days: int, name: str) -> Period:
        def move(r: DayRange) -> DayRange:
            return DayRange(r.first - days, r.last - days)

        known = None if self.known_cards_from is None else self.known_cards_from - days
        return Period(name, move(self.train), self.delay_days, move(self.test), known)

    def validation(self) -> Period:
        """The same protocol shifted back by the delay plus the test length: its test
        block ends before this period's test block starts, so choices made on it
        never see this period's test data."""
        return self.shifted_back(
            self.delay_days + self.test.last - self.test.first + 1, f"{self.name}-validation"
        )

    def check(self, n_days: int) -> None:
        if self.train.first < 0 or self.test.last >= n_days:
            raise ValueError(
                f"period {self.name} needs days {self.train.first}..{self.test.last}, "
                f"the simulation has days 0..{n_days - 1}"
            )

    def describe(self, start_date: str) -> dict[str, object]:
        return {
            "name": self.name,
            "train": self.train.describe(start_date),
            "delay_days": self.delay_days,
            "test": self.test.describe(start_date),
            "known_cards_removed_from_day": self.known_cards_from,
        }

    def test_mask(self, day: np.ndarray, customer: np.ndarray, fraud: np.ndarray) -> np.ndarray:
        """Test rows, minus the known compromised cards' rows (handbook)."""
        mask = self.test.mask(day)
        if self.known_cards_from is None:
            return mask
        for test_day in range(self.test.first, self.test.last + 1):
            known_until = test_day - self.delay_days - 1
            known = (fraud == 1) & (day >= self.known_cards_from) & (day <= known_until)
            today = day == test_day
            mask[today & np.isin(customer, np.unique(customer[known]))] = False
        return mask


def _day_index(start_date: str, when: date) -> int:
    return (when - date.fromisoformat(start_date)).days


def handbook_period(start_date: str, train_days: int = 28) -> Period:
    """The handbook's test week (2018-08-08 to 14) after its 7-day delay, with its
    test set (cards known compromised since 2018-07-25 removed), trained on the
    `train_days` days ending 2018-07-31 (the handbook trains on 7)."""
    test_first = _day_index(start_date, HANDBOOK_TEST_START)
    train_last = test_first - HANDBOOK_DELAY_DAYS - 1
    return Period(
        "handbook",
        DayRange(train_last - train_days + 1, train_last),
        HANDBOOK_DELAY_DAYS,
        DayRange(test_first, test_first + HANDBOOK_TEST_DAYS - 1),
        known_cards_from=_day_index(start_date, HANDBOOK_TRAIN_START),
    )


def later_period(n_days: int, split: TimeSplit) -> Period:
    """The project's own split: the last `test_days` days, every transaction."""
    days = split_days(n_days, split)
    return Period("later", days.train, split.delay_days, days.test)
