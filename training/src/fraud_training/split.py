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
