"""A training set from the decision log plus outcomes ("log and wait").

The decision log (docs/decision-log.md) holds, per answered transaction, the features
each model was served. Joined to the outcomes reported since, it gives training rows
whose features are exactly the ones the service computed: no training/serving skew.

A transaction is in the set when its label is settled at the cut-off `as_of`: its event
time is at least `label_delay` before `as_of` (outcomes take that long to arrive), and
an outcome is in force for it at `as_of`. The outcome in force follows the feature
spec's history.rules ("Outcomes", "Corrections"): the reports known by `as_of`, in the
order given, the first applied, a later different one only when it supersedes and is
not out of order or one correction too many.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fraud_training.errors import PipelineError
from fraud_training.history import outcome_status

LOG_FILE_SUFFIXES = (".jsonl.gz", ".jsonl.gz.open", ".jsonl")
OUTCOMES = ("fraud", "legitimate")
MICROS_PER_SECOND = 1_000_000


class TrainingSetError(PipelineError):
    """The log or the outcomes cannot give one consistent training set."""


@dataclass(frozen=True)
class Served:
    """What one model was served for one transaction, from one decision record."""

    transaction_id: int
    customer_id: int
    terminal_id: int
    event_time: datetime
    version: str
    features: Mapping[str, float]


@dataclass(frozen=True)
class OutcomeReport:
    transaction_id: int
    outcome: str
    known_at: datetime
    supersedes: bool = False


@dataclass
class TrainingSet:
    feature_names: list[str]
    rows: list[tuple[Served, int]]
    as_of: datetime
    settled_before: datetime
    unlabelled: int = 0
    versions: list[str] = field(default_factory=list)


# --- reading the log ------------------------------------------------------------------


def log_files(locations: Sequence[Path]) -> list[Path]:
    """The decision log files of directories, their subdirectories too (object
    storage's dt=/hour= partitions), finished and open, by path: the order they were
    started, per instance; and the files named."""
    files: list[Path] = []
    for location in locations:
        if location.is_dir():
            files += sorted(
                p for p in location.rglob("*") if p.is_file() and p.name.endswith(LOG_FILE_SUFFIXES)
            )
        elif location.exists():
            files.append(location)
        else:
            raise FileNotFoundError(f"no decision log at {location}")
    if not files:
        raise TrainingSetError(f"no decision log files in {', '.join(map(str, locations))}")
    return files


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON records of one log file, gzip (concatenated members) or plain."""
    opener = gzip.open if path.name.endswith((".gz", ".gz.open")) else open
    with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise TrainingSetError(f"{path}:{number}: not a JSON record ({error.msg})") from None


def _field(record: Mapping[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    """Proto3 JSON names, lowerCamelCase or snake_case; a field at its default (an id
    of 0) is left out (docs/decision-log.md)."""
    return record.get(camel, record.get(snake, default))


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise TrainingSetError(f"time {text!r} has no time zone")
    return moment


def served_entry(record: Mapping[str, Any], model: str, version: str | None) -> Served | None:
    """The entry of `model` (and `version`, when given) in a record, else None."""
    for entry in record.get("models", []):
        if entry.get("name") == model and (version is None or entry.get("version") == version):
            return Served(
                transaction_id=int(_field(record, "transactionId", "transaction_id", 0)),
                customer_id=int(_field(record, "customerId", "customer_id", 0)),
                terminal_id=int(_field(record, "terminalId", "terminal_id", 0)),
                event_time=parse_time(_field(record, "eventTime", "event_time")),
                version=str(entry.get("version", "")),
                features={name: float(value) for name, value in entry.get("features", {}).items()},
            )
    return None


def served_features(
    records: Iterable[Mapping[str, Any]], model: str, version: str | None
) -> dict[int, Served]:
    """Per transaction, the last record (in log order) holding the model: a retried or
    repeated call is counted once."""
    latest: dict[int, Served] = {}
    for record in records:
        served = served_entry(record, model, version)
        if served is not None:
            latest[served.transaction_id] = served
    return latest


def feature_list(served: Mapping[int, Served], spec_order: Sequence[str]) -> list[str]:
    """The one feature list every served entry shares, in the spec's order; refused
    when entries differ (models with other inputs must not be mixed in one matrix)."""
    lists: dict[frozenset[str], set[str]] = {}
    for entry in served.values():
        lists.setdefault(frozenset(entry.features), set()).add(entry.version)
    if len(lists) > 1:
        described = "; ".join(
            f"version {', '.join(sorted(versions))}: {len(names)} features ({', '.join(sorted(names))})"
            for names, versions in lists.items()
        )
        raise TrainingSetError(
            f"the log holds different feature lists for this model ({described}); "
            "choose one with --model-version"
        )
    (names,) = lists
    unknown = sorted(names - set(spec_order))
    if unknown:
        raise TrainingSetError(f"features not in the feature spec: {', '.join(unknown)}")
    return [name for name in spec_order if name in names]


# --- outcomes -------------------------------------------------------------------------


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def outcome_report(raw: Mapping[str, Any], epoch: datetime, where: str) -> OutcomeReport:
    """One report: transaction_id, outcome, known_at (ISO-8601 with a zone) or
    known_at_seconds (after the spec's epoch, as ReportOutcome takes it), supersedes."""
    try:
        outcome = str(raw["outcome"]).strip().lower()
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be fraud or legitimate, got {raw['outcome']!r}")
        if raw.get("known_at") not in (None, ""):
            known_at = parse_time(str(raw["known_at"]))
        else:
            known_at = epoch + timedelta(seconds=float(raw["known_at_seconds"]))
        return OutcomeReport(
            int(raw["transaction_id"]), outcome, known_at, _truthy(raw.get("supersedes", False))
        )
    except KeyError as missing:
        raise TrainingSetError(f"{where}: no {missing.args[0]}") from None
    except (ValueError, TrainingSetError) as error:
        raise TrainingSetError(f"{where}: {error}") from None


def read_outcomes(path: Path, epoch: datetime) -> list[OutcomeReport]:
    """The reports of a CSV (with a header) or JSON Lines file, in arrival order."""
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix == ".csv":
            rows: Iterable[Mapping[str, Any]] = csv.DictReader(handle)
            return [outcome_report(row, epoch, f"{path}:{n}") for n, row in enumerate(rows, 2)]
        return [
            outcome_report(_json_object(line, f"{path}:{n}"), epoch, f"{path}:{n}")
            for n, line in enumerate(handle, 1)
            if line.strip()
        ]


def _json_object(line: str, where: str) -> Mapping[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise TrainingSetError(f"{where}: not JSON ({error.msg})") from None
    if not isinstance(value, dict):
        raise TrainingSetError(f"{where}: not a JSON object")
    return value


def outcomes_in_force(
    reports: Iterable[OutcomeReport], event_times: Mapping[int, datetime], as_of: datetime
) -> dict[int, str]:
    """The outcome in force at `as_of` per transaction (rule 'Confirmed fraud'): every
    report recorded or refused by the rules 'Outcomes' and 'Corrections'
    (history.outcome_status), in arrival order; then the last one recorded whose
    known_at is at or before `as_of`."""
    recorded: dict[int, list[tuple[str, int]]] = {}
    for report in reports:
        event_time = event_times.get(report.transaction_id)
        if event_time is None:
            continue
        known_at = _micros(report.known_at)
        history = recorded.setdefault(report.transaction_id, [])
        status = outcome_status(_micros(event_time), history, report.outcome, known_at, report.supersedes)
        if status in ("applied", "corrected"):
            history.append((report.outcome, known_at))
    cut_off = _micros(as_of)
    in_force: dict[int, str] = {}
    for transaction_id, history in recorded.items():
        known = [outcome for outcome, known_at in history if known_at <= cut_off]
        if known:
            in_force[transaction_id] = known[-1]
    return in_force


def _micros(moment: datetime) -> int:
    delta = moment - datetime.fromtimestamp(0, moment.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * MICROS_PER_SECOND + delta.microseconds


# --- the set --------------------------------------------------------------------------


def build_training_set(
    served: Mapping[int, Served],
    reports: Iterable[OutcomeReport],
    spec_order: Sequence[str],
    as_of: datetime,
    label_delay: timedelta,
) -> TrainingSet:
    """Rows (served features, label 1 for fraud) of the transactions settled at
    `as_of`, in event-time then id order."""
    if not served:
        raise TrainingSetError("the log holds no decision of this model")
    names = feature_list(served, spec_order)
    settled_before = as_of - label_delay
    labels = outcomes_in_force(reports, {i: s.event_time for i, s in served.items()}, as_of)
    settled = sorted(
        (s for s in served.values() if s.event_time <= settled_before),
        key=lambda s: (s.event_time, s.transaction_id),
    )
    rows = [(s, int(labels[s.transaction_id] == "fraud")) for s in settled if s.transaction_id in labels]
    versions = sorted({s.version for s in served.values()})
    return TrainingSet(names, rows, as_of, settled_before, len(settled) - len(rows), versions)


def write_training_set(training_set: TrainingSet, out: Path) -> None:
    """CSV: ids, event time, model version, the features as served (repr: every double
    read back exactly), TX_FRAUD."""
    out.parent.mkdir(parents=True, exist_ok=True)
    names = training_set.feature_names
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(
            [
                "TRANSACTION_ID",
                "CUSTOMER_ID",
                "TERMINAL_ID",
                "TX_DATETIME",
                "MODEL_VERSION",
                *names,
                "TX_FRAUD",
            ]
        )
        for served, label in training_set.rows:
            writer.writerow(
                [
                    served.transaction_id,
                    served.customer_id,
                    served.terminal_id,
                    served.event_time.isoformat().replace("+00:00", "Z"),
                    served.version,
                    *(repr(served.features[name]) for name in names),
                    label,
                ]
            )
