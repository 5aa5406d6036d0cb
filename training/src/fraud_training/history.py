"""History features of the feature spec, event by event: the reference implementation.

`HistoryState` applies transactions and fraud outcomes in arrival order exactly as
`history.rules` of `models/feature-spec.json` say (watermark and lateness,
duplicates, outcomes and their statuses, point-in-time windows), keeping every
event it recorded. It is slow on purpose (plain Python over lists) and written to be
read next to the rules; `history_offline` computes the same features for a whole
time-ordered stream with numpy, and the tests hold the two together.

Event times are integer microseconds since the Unix epoch (a request's
tx_datetime may carry fractions of a second); days are floor(seconds / 86400).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

MICROS_PER_SECOND = 1_000_000
SECONDS_PER_DAY = 86_400
MICROS_PER_DAY = SECONDS_PER_DAY * MICROS_PER_SECOND

WindowKind = Literal["customer_window", "terminal_window"]
CUSTOMER_AGGREGATES = frozenset({"count", "mean_amount", "amount_over_mean", "amount_over_max"})
# Terminal aggregates that read fraud outcomes (the others read transactions only).
OUTCOME_AGGREGATES = frozenset({"fraud_risk", "fraud_streak", "fraud_streak_latest"})
TERMINAL_AGGREGATES = frozenset({"count"}) | OUTCOME_AGGREGATES
OutcomeStatus = Literal[
    "applied",
    "duplicate",
    "conflict",
    "unknown_transaction",
    "before_transaction",
    "corrected",
    "out_of_order",
    "too_many_corrections",
]
#: Corrections one transaction takes (history.rules, corrections); past it they are refused.
MAX_CORRECTIONS = 3


@dataclass(frozen=True)
class WindowFeature:
    """One history feature, from its structured fields in the spec."""

    name: str
    kind: WindowKind
    window_days: int
    delay_days: int
    aggregate: str

    def day_range(self, day: int) -> tuple[int, int]:
        """Inclusive days of the window for a transaction on `day`: customer windows
        end on the day itself, terminal windows `delay_days` before it."""
        if self.kind == "customer_window":
            return day - self.window_days + 1 - self.delay_days, day - self.delay_days
        last = day - self.delay_days - 1
        return last - self.window_days + 1, last


def parse_window_feature(raw: Mapping[str, Any]) -> WindowFeature:
    """A spec entry of kind customer_window / terminal_window; refuses what this
    package cannot compute (an unknown aggregate for the kind)."""
    kind = raw["kind"]
    known = CUSTOMER_AGGREGATES if kind == "customer_window" else TERMINAL_AGGREGATES
    if raw["aggregate"] not in known:
        raise ValueError(
            f"feature {raw['name']}: no implementation for aggregate {raw['aggregate']!r} of {kind}"
        )
    if kind == "customer_window" and int(raw["delay_days"]) != 0:
        raise ValueError(
            f"feature {raw['name']}: customer windows end on the transaction's day (delay_days 0)"
        )
    if kind == "terminal_window" and int(raw["delay_days"]) < 1:
        raise ValueError(f"feature {raw['name']}: terminal windows need delay_days >= 1")
    return WindowFeature(raw["name"], kind, int(raw["window_days"]), int(raw["delay_days"]), raw["aggregate"])


# --- times --------------------------------------------------------------------------


def _parse_datetime(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * SECONDS_PER_DAY + delta.seconds) * MICROS_PER_SECOND + delta.microseconds


def event_micros(event: Mapping[str, Any], epoch: datetime, seconds_key: str, datetime_key: str) -> int:
    """The clock rule: the date-time field wins, else epoch + seconds."""
    if event.get(datetime_key) is not None:
        return _micros(_parse_datetime(str(event[datetime_key])))
    if event.get(seconds_key) is None:
        raise ValueError(f"an event needs {datetime_key} or {seconds_key}")
    return _micros(epoch + timedelta(seconds=int(event[seconds_key])))


def day_of(micros: int) -> int:
    return micros // MICROS_PER_DAY


# --- the state ----------------------------------------------------------------------


def outcome_status(
    time: int, recorded: Sequence[tuple[str, int]], outcome: str, known_at: int, supersedes: bool
) -> OutcomeStatus:
    """The status of an outcome reported for a recorded transaction at `time` whose
    outcomes so far are `recorded` ((outcome, known_at) in turn, the last in force), by
    the rules 'Outcomes' and 'Corrections' in their order; 'applied' and 'corrected'
    record it (the caller appends it)."""
    if known_at < time:
        return "before_transaction"
    if not recorded:
        return "applied"
    in_force, in_force_known_at = recorded[-1]
    if in_force == outcome:
        return "duplicate"
    if not supersedes:
        return "conflict"
    if known_at < in_force_known_at:
        return "out_of_order"
    if len(recorded) > MAX_CORRECTIONS:
        return "too_many_corrections"
    return "corrected"


@dataclass
class RecordedTransaction:
    transaction_id: int
    customer_id: int
    terminal_id: int
    amount: float
    time: int  # microseconds since the Unix epoch
    seq: int  # arrival order of the recording
    #: Outcomes recorded, in arrival order: (outcome, known_at, seq); the first report,
    #: then each correction (their known_at never decreases).
    outcomes: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def day(self) -> int:
        return day_of(self.time)

    def fraud_known(self, at: int, before_seq: int) -> bool:
        """Confirmed fraud for a transaction at time `at` scored as `before_seq`: the
        outcome in force at `at` among those recorded before it (the last one whose
        known_at is <= at) is fraud."""
        in_force = None
        for outcome, known_at, seq in self.outcomes:
            if seq < before_seq and known_at <= at:
                in_force = outcome
        return in_force == "fraud"


@dataclass(frozen=True)
class Scored:
    """The answer for one transaction event: refused as late, or its features."""

    late: bool
    duplicate: bool = False
    features: dict[str, float] = field(default_factory=dict)


@dataclass
class HistoryState:
    """Everything recorded so far; one instance per event sequence."""

    windows: Sequence[WindowFeature]
    lateness_micros: int
    #: The newest event time recorded per customer: lateness is per customer.
    watermarks: dict[int, int] = field(default_factory=dict)
    #: The first recording of each id: the one outcomes name.
    by_id: dict[int, RecordedTransaction] = field(default_factory=dict)
    by_customer: dict[int, list[RecordedTransaction]] = field(default_factory=lambda: defaultdict(list))
    by_terminal: dict[int, list[RecordedTransaction]] = field(default_factory=lambda: defaultdict(list))
    _seq: int = 0

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def transaction(
        self, transaction_id: int, customer_id: int, terminal_id: int, amount: float, time: int
    ) -> Scored:
        """Record (once per customer and per terminal) and score one transaction.

        A duplicate (the id already recorded for this customer and terminal) is never
        late, is not recorded again, and is scored as of now: from everything recorded
        so far, its recorded copy standing for it. An id recorded under another
        customer or terminal is recorded again under the new ones; outcomes keep
        naming the first recording.
        """
        known_for_customer = any(o.transaction_id == transaction_id for o in self.by_customer[customer_id])
        known_for_terminal = any(o.transaction_id == transaction_id for o in self.by_terminal[terminal_id])
        duplicate = known_for_customer and known_for_terminal
        watermark = self.watermarks.get(customer_id)
        if not duplicate and watermark is not None and time < watermark - self.lateness_micros:
            return Scored(late=True)
        seq = self._next_seq()
        x = RecordedTransaction(transaction_id, customer_id, terminal_id, float(amount), time, seq)
        if not known_for_customer:
            self.by_customer[customer_id].append(x)
            self.watermarks[customer_id] = time if watermark is None else max(watermark, time)
        if not known_for_terminal:
            self.by_terminal[terminal_id].append(x)
        self.by_id.setdefault(transaction_id, x)
        return Scored(late=False, duplicate=duplicate, features=self.features(x))

    def batch(self, transactions: Sequence[tuple[int, int, int, float, int]]) -> list[Scored] | None:
        """Record and score a batch, all or nothing: in request order, each transaction's
        lateness checked against its customer's watermark with the batch's own earlier
        transactions included. When any is late, nothing is recorded and None is returned
        (`late_in_batch` says which)."""
        if self.late_in_batch(transactions):
            return None
        return [self.transaction(*transaction) for transaction in transactions]

    def late_in_batch(self, transactions: Sequence[tuple[int, int, int, float, int]]) -> list[int]:
        """Positions of the batch's late transactions (not duplicates of recorded ones)."""
        newest = dict(self.watermarks)
        late: list[int] = []
        for position, (transaction_id, customer_id, terminal_id, _, time) in enumerate(transactions):
            watermark = newest.get(customer_id)
            if watermark is None or time >= watermark - self.lateness_micros:
                newest[customer_id] = time if watermark is None else max(watermark, time)
                continue
            duplicate = any(
                o.transaction_id == transaction_id for o in self.by_customer[customer_id]
            ) and any(o.transaction_id == transaction_id for o in self.by_terminal[terminal_id])
            if not duplicate:
                late.append(position)
        return late

    def outcome(
        self, transaction_id: int, outcome: str, known_at: int, supersedes: bool = False
    ) -> OutcomeStatus:
        """Record one fraud outcome (a correction with `supersedes`); its status per the rules."""
        recorded = self.by_id.get(transaction_id)
        if recorded is None:
            return "unknown_transaction"
        status = outcome_status(
            recorded.time, [(o, k) for o, k, _ in recorded.outcomes], outcome, known_at, supersedes
        )
        if status in ("applied", "corrected"):
            recorded.outcomes.append((outcome, known_at, self._next_seq()))
        return status

    # --- features of a recorded transaction x ---------------------------------------

    def features(self, x: RecordedTransaction) -> dict[str, float]:
        return {window.name: self._value(window, x) for window in self.windows}

    def _value(self, window: WindowFeature, x: RecordedTransaction) -> float:
        first, last = window.day_range(x.day)
        if window.kind == "customer_window":
            # x's own id (its first recording, for a duplicate) stands for x, counted once.
            previous = [
                other.amount
                for other in self.by_customer[x.customer_id]
                if other.seq < x.seq
                and other.transaction_id != x.transaction_id
                and other.time <= x.time
                and first <= other.day <= last
            ]
            return _customer_aggregate(window.aggregate, x.amount, previous)
        # The latest streak also reads the day the delay ends on, the day after the window.
        newest = last + 1 if window.aggregate == "fraud_streak_latest" else last
        in_window = [
            other
            for other in self.by_terminal[x.terminal_id]
            if other.seq < x.seq and other.transaction_id != x.transaction_id and first <= other.day <= newest
        ]
        return terminal_aggregate(window.aggregate, in_window, x, last)


def _ratio_or_one(amount: float, denominator: float | None) -> float:
    return 1.0 if denominator is None or denominator == 0 else amount / denominator


def _customer_aggregate(aggregate: str, amount: float, previous: list[float]) -> float:
    if aggregate == "count":
        return float(len(previous) + 1)
    if aggregate == "mean_amount":
        return (sum(previous) + amount) / (len(previous) + 1)
    if aggregate == "amount_over_mean":
        return _ratio_or_one(amount, sum(previous) / len(previous) if previous else None)
    if aggregate == "amount_over_max":
        return _ratio_or_one(amount, max(previous) if previous else None)
    raise ValueError(f"unknown customer aggregate {aggregate}")


def terminal_aggregate(
    aggregate: str, in_window: list[RecordedTransaction], x: RecordedTransaction, last_day: int
) -> float:
    if aggregate == "count":
        return float(len(in_window))
    frauds = [other.fraud_known(x.time, x.seq) for other in in_window]
    if aggregate == "fraud_risk":
        return sum(frauds) / len(in_window) if in_window else 0.0
    if aggregate == "fraud_streak":
        return float(_fraud_streak(in_window, frauds))
    if aggregate == "fraud_streak_latest":
        return float(_latest_fraud_streak(in_window, frauds, last_day))
    raise ValueError(f"unknown terminal aggregate {aggregate}")


def _latest_fraud_streak(in_window: list[RecordedTransaction], frauds: list[bool], last_day: int) -> int:
    """The fraud streak of the days up to `last_day`, plus the day after it (the day
    the delay ends on) when all of its transactions are already confirmed fraud."""
    newest = [fraud for other, fraud in zip(in_window, frauds, strict=True) if other.day > last_day]
    window = [(other, fraud) for other, fraud in zip(in_window, frauds, strict=True) if other.day <= last_day]
    streak = _fraud_streak([other for other, _ in window], [fraud for _, fraud in window])
    return streak + len(newest) if newest and all(newest) else streak


def _fraud_streak(in_window: list[RecordedTransaction], frauds: list[bool]) -> int:
    """Walk back day by day from the window's last day with transactions; count the
    transactions of consecutive days that are all confirmed fraud."""
    by_day: dict[int, list[bool]] = defaultdict(list)
    for other, fraud in zip(in_window, frauds, strict=True):
        by_day[other.day].append(fraud)
    streak = 0
    for day in sorted(by_day, reverse=True):
        if not all(by_day[day]):
            break
        streak += len(by_day[day])
    return streak


# --- history vectors ----------------------------------------------------------------


def _vector_transaction(t: Mapping[str, Any], epoch: datetime) -> tuple[int, int, int, float, int]:
    return (
        int(t["transaction_id"]),
        int(t["customer_id"]),
        int(t["terminal_id"]),
        float(t["tx_amount"]),
        event_micros(t, epoch, "tx_time_seconds", "tx_datetime"),
    )


def _scored_result(scored: Scored) -> dict[str, Any]:
    return {"error": "late"} if scored.late else {"duplicate": scored.duplicate, "features": scored.features}


def run_history_vector(
    vector: Mapping[str, Any], windows: Sequence[WindowFeature], epoch: datetime
) -> list[dict[str, Any]]:
    """Apply a spec history vector's events; one result per event:
    transactions -> {'error': 'late'} or {'duplicate': bool, 'features': {...}},
    outcomes -> {'status': ...}, batches -> {'batch': [one per transaction]} where a
    refused batch gives {'error': 'late'} for its late transactions and
    {'error': 'refused'} for the others (not recorded)."""
    state = HistoryState(windows, int(vector["lateness_seconds"]) * MICROS_PER_SECOND)
    results: list[dict[str, Any]] = []
    for event in vector["events"]:
        if "transaction" in event:
            results.append(
                _scored_result(state.transaction(*_vector_transaction(event["transaction"], epoch)))
            )
        elif "batch" in event:
            transactions = [_vector_transaction(entry["transaction"], epoch) for entry in event["batch"]]
            late = state.late_in_batch(transactions)
            scored = state.batch(transactions)
            results.append(
                {
                    "batch": [
                        {"error": "late" if position in late else "refused"}
                        for position in range(len(transactions))
                    ]
                    if scored is None
                    else [_scored_result(one) for one in scored]
                }
            )
        else:
            o = event["outcome"]
            known_at = event_micros(o, epoch, "known_at_seconds", "known_at")
            status = state.outcome(
                int(o["transaction_id"]), o["outcome"], known_at, bool(o.get("supersedes", False))
            )
            results.append({"status": status})
    return results
