"""History features for a whole transaction stream at once, with numpy.

The offline world of `history.rules`: the stream is the arrival order (sorted by
event time, ties in stream order), every transaction is recorded once, none is
late, and each transaction's outcome (fraud or legitimate, from TX_FRAUD) is
reported at known_at = event time + `outcome_delay_seconds` (the handbook's
assumption: 7 days), before any transaction of the same second.

Every window is a range of rows found with `searchsorted` on (entity, day) or
(entity, second) keys, so each feature costs a few passes over the stream
(seconds for the handbook's 1.75 M transactions), never a Python loop per row.
Sums are cumulated per entity, so their rounding stays at the scale of one
customer's amounts. `history.HistoryState` is the event-by-event reference; the
tests hold the two together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fraud_training.history import OUTCOME_AGGREGATES, SECONDS_PER_DAY, WindowFeature

if TYPE_CHECKING:
    from fraud_training.features import FeatureSpec

DEFAULT_OUTCOME_DELAY_SECONDS = 7 * SECONDS_PER_DAY


class StreamOrderError(ValueError):
    """The stream is not in event-time order, so it is not an arrival order."""


@dataclass(frozen=True)
class _Keys:
    """Rows of one entity kind sorted by (entity, time), with monotone int64 keys
    entity * span + (value - origin) for day and second lookups."""

    order: np.ndarray  # stream row of each sorted position
    code: np.ndarray  # entity code per sorted position
    day: np.ndarray
    seconds: np.ndarray
    day_origin: int
    day_span: int

    @classmethod
    def build(cls, ids: np.ndarray, day: np.ndarray, seconds: np.ndarray, pad_days: int) -> _Keys:
        codes = pd.factorize(ids)[0].astype(np.int64)
        order = np.argsort(codes, kind="stable")  # keeps stream (= time) order per entity
        origin = int(day.min()) - pad_days if len(day) else 0
        span = (int(day.max()) - origin + 2) if len(day) else 1
        return cls(order, codes[order], day[order], seconds[order], origin, span)

    @cached_property
    def day_key(self) -> np.ndarray:
        return self.code * self.day_span + (self.day - self.day_origin)

    def day_position(self, code: np.ndarray, day: np.ndarray, side: str) -> np.ndarray:
        """Sorted position of (code, day) in the day keys (days clipped to the keys' range)."""
        clipped = np.clip(day - self.day_origin, 0, self.day_span - 1)
        return np.searchsorted(self.day_key, code * self.day_span + clipped, side=side)  # type: ignore[call-overload]


def _scatter(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values per sorted position back to stream rows."""
    out = np.empty_like(values)
    out[order] = values
    return out


def _exclusive_group_cumsum(values: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Per entity, the sum of the values before each position (0 at its first)."""
    inclusive = pd.Series(values).groupby(code, sort=False).cumsum().to_numpy()
    exclusive = np.zeros_like(inclusive)
    exclusive[1:] = inclusive[:-1]
    first = np.ones(len(code), dtype=bool)
    first[1:] = code[1:] != code[:-1]
    exclusive[first] = 0
    return exclusive


class _RangeMax:
    """Sparse table: max over any [lo, hi] of an array in O(1) per query."""

    def __init__(self, values: np.ndarray, longest: int) -> None:
        self.levels = [values]
        width = 1
        while width * 2 <= longest:
            previous = self.levels[-1]
            level = previous.copy()
            level[: len(previous) - width] = np.maximum(previous[:-width], previous[width:])
            self.levels.append(level)
            width *= 2

    def query(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """max(values[lo..hi]) for lo <= hi (callers mask the empty ranges)."""
        length = np.maximum(hi - lo + 1, 1)
        level = np.floor(np.log2(length)).astype(np.int64)
        out = np.empty(len(lo))
        for k in np.unique(level):
            rows = level == k
            table = self.levels[k]
            out[rows] = np.maximum(table[lo[rows]], table[hi[rows] - (1 << k) + 1])
        return out


@dataclass
class _CustomerWindows:
    """Customer windows: x plus the customer's earlier rows of days [D - N + 1, D]."""

    keys: _Keys
    amount: np.ndarray  # per sorted position

    @cached_property
    def previous_sum(self) -> np.ndarray:
        return _exclusive_group_cumsum(self.amount, self.keys.code)

    def _first(self, window: WindowFeature) -> np.ndarray:
        first, _ = window.day_range(0)
        return self.keys.day_position(self.keys.code, self.keys.day + first, "left")

    def values(self, window: WindowFeature) -> np.ndarray:
        position = np.arange(len(self.amount))
        lo = self._first(window)
        n_previous = position - lo
        total_previous = self.previous_sum - self.previous_sum[lo] if len(lo) else self.previous_sum
        amount = self.amount
        if window.aggregate == "count":
            result = (n_previous + 1).astype(np.float64)
        elif window.aggregate == "mean_amount":
            result = (total_previous + amount) / (n_previous + 1)
        elif window.aggregate == "amount_over_mean":
            mean = np.divide(total_previous, n_previous, out=np.zeros(len(amount)), where=n_previous > 0)
            result = _ratio_or_one(amount, mean, (n_previous > 0) & (total_previous != 0))
        elif window.aggregate == "amount_over_max":
            longest = int(n_previous.max()) if len(n_previous) else 0
            largest = np.zeros(len(amount))
            has = n_previous > 0
            if has.any():
                largest[has] = _RangeMax(amount, longest).query(lo[has], position[has] - 1)
            result = _ratio_or_one(amount, largest, has & (largest != 0))
        else:
            raise ValueError(f"unknown customer aggregate {window.aggregate}")
        return _scatter(self.keys.order, result)


def _ratio_or_one(amount: np.ndarray, denominator: np.ndarray, defined: np.ndarray) -> np.ndarray:
    return np.divide(amount, denominator, out=np.ones(len(amount)), where=defined)


@dataclass
class _TerminalWindows:
    """Terminal windows: the terminal's rows of days [D - d - N, D - d - 1] (all of
    them recorded before x in a time-ordered stream), and the frauds among them
    whose outcome is known by x's time."""

    keys: _Keys
    fraud: np.ndarray  # per sorted position, bool
    outcome_delay: int

    @cached_property
    def fraud_seconds_key(self) -> tuple[np.ndarray, int, int]:
        """(code, second) keys of the fraud rows, sorted, with their origin and span."""
        frauds = self.fraud
        origin = int(self.keys.seconds.min()) - self.keys.day_span * SECONDS_PER_DAY if len(frauds) else 0
        span = int(self.keys.seconds.max()) - origin + 2 if len(frauds) else 1
        key = self.keys.code[frauds] * span + (self.keys.seconds[frauds] - origin)
        return key, origin, span

    def _frauds_between(
        self, code: np.ndarray, first_second: np.ndarray, last_second: np.ndarray
    ) -> np.ndarray:
        """Fraud rows of each terminal with first_second <= time <= last_second."""
        key, origin, span = self.fraud_seconds_key
        lo = np.clip(first_second - origin, 0, span - 1)
        hi = np.clip(last_second - origin, -1, span - 1)
        count = np.searchsorted(key, code * span + hi, side="right") - np.searchsorted(
            key, code * span + lo, side="left"
        )
        return np.where(last_second >= first_second, count, 0)

    @cached_property
    def buckets(self) -> dict[str, np.ndarray]:
        """One entry per (terminal, day) with transactions: its key, size, whether all
        of its transactions are fraud, its latest second, and where its all-fraud run
        (consecutive buckets of the terminal, empty days skipped) starts."""
        key = self.keys.day_key
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(key)]
        size = ends - starts
        frauds = np.add.reduceat(self.fraud.astype(np.int64), starts) if len(key) else size
        all_fraud = frauds == size
        code = self.keys.code[starts]
        index = np.arange(len(starts))
        new_terminal = np.r_[True, code[1:] != code[:-1]] if len(starts) else np.zeros(0, bool)
        barrier = np.where(~all_fraud, index, -1)
        barrier = np.maximum(barrier, np.where(new_terminal, index - 1, -1))
        run_start = np.maximum.accumulate(barrier) + 1 if len(starts) else index
        return {
            "key": key[starts],
            "size_before": np.r_[0, np.cumsum(size)[:-1]] if len(size) else size,
            "size_through": np.cumsum(size),
            "all_fraud": all_fraud,
            "last_second": self.keys.seconds[ends - 1] if len(key) else size,
            "run_start": run_start,
        }

    def values(self, window: WindowFeature) -> np.ndarray:
        keys = self.keys
        first_day, last_day = window.day_range(0)
        first, last = keys.day + first_day, keys.day + last_day
        lo = keys.day_position(keys.code, first, "left")
        hi = keys.day_position(keys.code, last, "right")
        count = hi - lo
        if window.aggregate == "count":
            result = count.astype(np.float64)
        elif window.aggregate == "fraud_risk":
            known_until = np.minimum((last + 1) * SECONDS_PER_DAY - 1, keys.seconds - self.outcome_delay)
            frauds = self._frauds_between(keys.code, first * SECONDS_PER_DAY, known_until)
            result = np.divide(frauds, count, out=np.zeros(len(count)), where=count > 0)
        elif window.aggregate == "fraud_streak":
            result = self._streak(first, last, keys.seconds).astype(np.float64)
        elif window.aggregate == "fraud_streak_latest":
            streak = self._streak(first, last, keys.seconds) + self._confirmed_day_size(
                last + 1, keys.seconds
            )
            result = streak.astype(np.float64)
        else:
            raise ValueError(f"unknown terminal aggregate {window.aggregate}")
        return _scatter(keys.order, result)

    def _confirmed_day_size(self, day: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Per row: the transactions of its terminal on `day` when they are all fraud
        with every outcome known by the row's time (0 otherwise)."""
        b = self.buckets
        keys = self.keys
        if not len(b["key"]):
            return np.zeros(len(day), dtype=np.int64)
        span, origin = keys.day_span, keys.day_origin
        wanted = keys.code * span + np.clip(day - origin, 0, span - 1)
        position = np.minimum(np.searchsorted(b["key"], wanted, side="left"), len(b["key"]) - 1)
        found = (day >= origin) & (day < origin + span) & (b["key"][position] == wanted)
        confirmed = found & b["all_fraud"][position] & (b["last_second"][position] + self.outcome_delay <= at)
        return np.where(confirmed, b["size_through"][position] - b["size_before"][position], 0)

    def _streak(self, first: np.ndarray, last: np.ndarray, at: np.ndarray) -> np.ndarray:
        b = self.buckets
        keys = self.keys
        span, origin = keys.day_span, keys.day_origin
        lo = np.searchsorted(b["key"], keys.code * span + np.clip(first - origin, 0, span - 1), side="left")
        hi = (
            np.searchsorted(b["key"], keys.code * span + np.clip(last - origin, 0, span - 1), side="right")
            - 1
        )
        streak = np.zeros(len(at), dtype=np.int64)
        # The walk starts on the window's latest day with transactions; it counts only
        # if that whole day is fraud and every outcome of it is known by x's time.
        live = hi >= lo
        live[live] &= b["all_fraud"][hi[live]]
        live[live] &= b["last_second"][hi[live]] + self.outcome_delay <= at[live]
        start = np.maximum(b["run_start"][hi[live]], lo[live])
        streak[live] = b["size_through"][hi[live]] - b["size_before"][start]
        return streak


def history_features(
    stream: pd.DataFrame,
    spec: FeatureSpec,
    windows: Sequence[WindowFeature],
    outcome_delay_seconds: int | None = None,
    corrections: pd.DataFrame | None = None,
) -> dict[str, np.ndarray]:
    """One float64 column per window feature, in stream row order.

    `stream` holds CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, the time (TX_DATETIME and/or
    TX_TIME_SECONDS) and, for fraud aggregates, TX_FRAUD; it must be sorted by time.
    `corrections` (history_corrections.py; TRANSACTION_ID in the stream then) are
    reports that supersede the TX_FRAUD outcomes from their known_at on.
    """
    from fraud_training.features import utc_epoch_seconds

    delay = DEFAULT_OUTCOME_DELAY_SECONDS if outcome_delay_seconds is None else int(outcome_delay_seconds)
    if delay < 0:
        raise ValueError("the outcome delay must be >= 0 seconds")
    seconds = utc_epoch_seconds(stream, spec)
    if len(seconds) > 1 and (np.diff(seconds) < 0).any():
        raise StreamOrderError("history features need the stream in time order (sort by event time first)")
    day = np.floor_divide(seconds, SECONDS_PER_DAY)
    pad = max((w.window_days + w.delay_days for w in windows), default=0) + 1
    columns: dict[str, np.ndarray] = {}
    customer: _CustomerWindows | None = None
    terminal: _TerminalWindows | None = None
    for window in windows:
        if window.kind == "customer_window":
            if customer is None:
                keys = _Keys.build(stream["CUSTOMER_ID"].to_numpy(), day, seconds, pad)
                amount = stream["TX_AMOUNT"].to_numpy(dtype=np.float64)[keys.order]
                customer = _CustomerWindows(keys, amount)
            columns[window.name] = customer.values(window)
        else:
            if terminal is None:
                keys = _Keys.build(stream["TERMINAL_ID"].to_numpy(), day, seconds, pad)
                fraud = _fraud_column(stream, windows)[keys.order]
                terminal = _TerminalWindows(keys, fraud, delay)
            columns[window.name] = terminal.values(window)
    if corrections is not None and len(corrections) and terminal is not None:
        _apply_corrections(columns, stream, windows, seconds, delay, corrections, spec)
    return columns


def _apply_corrections(
    columns: dict[str, np.ndarray],
    stream: pd.DataFrame,
    windows: Sequence[WindowFeature],
    seconds: np.ndarray,
    delay: int,
    corrections: pd.DataFrame,
    spec: FeatureSpec,
) -> None:
    """Overwrites the outcome features of the terminals whose transactions were corrected."""
    from fraud_training.history_corrections import (
        corrected_terminal_values,
        outcome_timelines,
        read_corrections,
    )

    if "TRANSACTION_ID" not in stream:
        raise ValueError("corrections name transactions: the stream needs its TRANSACTION_ID column")
    fraud = _fraud_column(stream, windows)
    timelines = outcome_timelines(
        stream["TRANSACTION_ID"].to_numpy(),
        seconds,
        fraud,
        delay,
        read_corrections(corrections),
        spec.epoch_seconds,
    )
    terminals = stream["TERMINAL_ID"].to_numpy()
    for name, (rows, values) in corrected_terminal_values(
        windows, terminals, seconds, fraud, delay, timelines
    ).items():
        columns[name][rows] = values


def _fraud_column(stream: pd.DataFrame, windows: Sequence[WindowFeature]) -> np.ndarray:
    needs_outcomes = any(w.aggregate in OUTCOME_AGGREGATES for w in windows)
    if "TX_FRAUD" not in stream:
        if needs_outcomes:
            raise ValueError("terminal fraud features need the TX_FRAUD column (the outcomes)")
        return np.zeros(len(stream), dtype=bool)
    return stream["TX_FRAUD"].to_numpy() == 1
