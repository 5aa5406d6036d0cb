"""training-set: the decision log's features as served, joined to the outcomes in force
at the cut-off, for the transactions whose label is settled; mixed feature lists refused."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fraud_training.training_set import (
    OutcomeReport,
    TrainingSetError,
    build_training_set,
    log_files,
    outcomes_in_force,
    read_outcomes,
    read_records,
    served_features,
)
from support import error_lines, run_cli

EPOCH = datetime(2018, 4, 1, tzinfo=UTC)
SPEC_ORDER = ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT", "CUSTOMER_ID_NB_TX_1DAY_WINDOW")
DAY = timedelta(days=1)


def at(days: float) -> datetime:
    return EPOCH + timedelta(days=days)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def model(
    name: str, version: str, features: dict[str, float], role: str = "DECISION_ROLE_SERVING"
) -> dict[str, Any]:
    return {"task": "MODEL_TASK_BINARY", "name": name, "version": version, "role": role, "features": features}


def record(
    transaction_id: int, days: float, *models: dict[str, Any], method: str = "fraud.v1.FraudService/Predict"
) -> dict[str, Any]:
    return {
        "transactionId": str(transaction_id),
        "customerId": "7",
        "terminalId": "9",
        "txAmount": 10.0,
        "eventTime": iso(at(days)),
        "models": list(models),
        "method": method,
    }


def binary(amount: float, version: str = "2.1.0") -> dict[str, Any]:
    return model("fraud-binary", version, {"TX_AMOUNT": amount, "TX_DURING_WEEKEND": 0, "TX_DURING_NIGHT": 1})


def write_log(path: Path, records: list[dict[str, Any]]) -> Path:
    """One gzip member per record, as the file sink appends them."""
    with path.open("wb") as handle:
        for entry in records:
            handle.write(gzip.compress((json.dumps(entry) + "\n").encode()))
    return path


def report(transaction_id: int, outcome: str, known_days: float, supersedes: bool = False) -> OutcomeReport:
    return OutcomeReport(transaction_id, outcome, at(known_days), supersedes)


def test_reads_every_gzip_member_of_finished_and_open_files_in_name_order(tmp_path: Path) -> None:
    write_log(tmp_path / "decisions-20261207T000000000Z-a-000002.jsonl.gz.open", [record(3, 1, binary(3))])
    write_log(
        tmp_path / "decisions-20261207T000000000Z-a-000001.jsonl.gz",
        [record(1, 1, binary(1)), record(2, 1, binary(2))],
    )
    (tmp_path / "notes.txt").write_text("not a log")
    files = log_files([tmp_path])
    assert [f.name.endswith(".open") for f in files] == [False, True]
    ids = [r["transactionId"] for f in files for r in read_records(f)]
    assert ids == ["1", "2", "3"]


def test_reads_object_storage_partitions_below_a_directory_in_time_order(tmp_path: Path) -> None:
    for hour, transaction_id in (("hour=10", 2), ("hour=09", 1)):
        folder = tmp_path / "log" / "dt=2026-12-07" / hour
        folder.mkdir(parents=True)
        write_log(
            folder / "pod-a-20261207T000000000Z-000001.jsonl.gz", [record(transaction_id, 1, binary(1))]
        )
    assert [r["transactionId"] for f in log_files([tmp_path / "log"]) for r in read_records(f)] == ["1", "2"]


def test_takes_the_named_models_entry_not_another_models() -> None:
    shadow = model(
        "challenger",
        "0.1",
        {"TX_AMOUNT": 99.0, "TX_DURING_WEEKEND": 1, "TX_DURING_NIGHT": 1},
        "DECISION_ROLE_SHADOW",
    )
    served = served_features([record(1, 0, binary(5.5), shadow)], "fraud-binary", None)
    assert served[1].features == {"TX_AMOUNT": 5.5, "TX_DURING_WEEKEND": 0.0, "TX_DURING_NIGHT": 1.0}
    assert (
        served_features([record(1, 0, binary(5.5), shadow)], "challenger", None)[1].features["TX_AMOUNT"]
        == 99.0
    )


def test_an_id_left_out_is_zero_as_proto3_json_leaves_defaults_out() -> None:
    zero = {k: v for k, v in record(0, 0, binary(1.0)).items() if k not in ("transactionId", "customerId")}
    served = served_features([zero], "fraud-binary", None)
    assert list(served) == [0]
    assert served[0].customer_id == 0


def test_keeps_the_last_record_of_a_retried_transaction() -> None:
    served = served_features(
        [record(1, 0, binary(1.0)), record(2, 0, binary(2.0)), record(1, 0, binary(1.5))],
        "fraud-binary",
        None,
    )
    assert {i: s.features["TX_AMOUNT"] for i, s in served.items()} == {1: 1.5, 2: 2.0}


def test_refuses_mixed_feature_lists_naming_the_versions_and_takes_one_version_when_asked() -> None:
    newer = model("fraud-binary", "3.0.0", {"TX_AMOUNT": 1.0, "CUSTOMER_ID_NB_TX_1DAY_WINDOW": 2})
    records = [record(1, 0, binary(1.0)), record(2, 0, newer)]
    with pytest.raises(
        TrainingSetError,
        match=r"different feature lists.*version 2\.1\.0: 3 features.*"
        r"version 3\.0\.0: 2 features.*--model-version",
    ):
        build_training_set(served_features(records, "fraud-binary", None), [], SPEC_ORDER, at(30), 7 * DAY)
    only = build_training_set(
        served_features(records, "fraud-binary", "3.0.0"),
        [report(2, "fraud", 1)],
        SPEC_ORDER,
        at(30),
        7 * DAY,
    )
    assert only.feature_names == ["TX_AMOUNT", "CUSTOMER_ID_NB_TX_1DAY_WINDOW"]
    assert [(s.transaction_id, label) for s, label in only.rows] == [(2, 1)]


def test_same_feature_list_across_versions_is_one_matrix() -> None:
    records = [record(1, 0, binary(1.0, "2.1.0")), record(2, 0, binary(2.0, "2.2.0"))]
    result = build_training_set(
        served_features(records, "fraud-binary", None),
        [report(1, "legitimate", 1), report(2, "fraud", 1)],
        SPEC_ORDER,
        at(30),
        7 * DAY,
    )
    assert result.versions == ["2.1.0", "2.2.0"]
    assert [(s.transaction_id, label) for s, label in result.rows] == [(1, 0), (2, 1)]


def test_settled_means_event_time_at_least_the_label_delay_before_the_cut_off_to_the_second() -> None:
    as_of = at(20)
    edge = 20 - 7
    records = [
        record(1, edge, binary(1.0)),
        record(2, edge + 1 / 86_400, binary(2.0)),
        record(3, 1, binary(3.0)),
    ]
    reports = [report(1, "fraud", edge + 1), report(2, "fraud", edge + 1), report(3, "legitimate", 2)]
    result = build_training_set(
        served_features(records, "fraud-binary", None), reports, SPEC_ORDER, as_of, 7 * DAY
    )
    assert [(s.transaction_id, label) for s, label in result.rows] == [(3, 0), (1, 1)]  # event-time order
    assert result.settled_before == at(edge)


def test_settled_without_an_outcome_in_force_is_left_out_and_counted() -> None:
    records = [record(1, 0, binary(1.0)), record(2, 0, binary(2.0))]
    result = build_training_set(
        served_features(records, "fraud-binary", None), [report(1, "fraud", 31)], SPEC_ORDER, at(30), 7 * DAY
    )
    assert result.rows == []
    assert result.unlabelled == 2


def test_the_label_is_the_outcome_in_force_at_the_cut_off() -> None:
    times = {1: at(0), 2: at(0), 3: at(0), 4: at(0), 5: at(0)}
    reports = [
        report(1, "legitimate", 7),
        report(1, "fraud", 9, supersedes=True),  # a chargeback: in force from day 9
        report(2, "legitimate", 7),
        report(2, "fraud", 11, supersedes=True),  # after the cut-off: not yet in force
        report(3, "legitimate", 7),
        report(3, "fraud", 8),  # not a correction: a conflict, the first report stays
        report(4, "fraud", 8),
        report(4, "legitimate", 6, supersedes=True),  # out of order: refused
        report(5, "fraud", 8),
        report(5, "legitimate", 9, supersedes=True),
        report(5, "fraud", 9.5, supersedes=True),  # a chain: the last one at or before the cut-off
        report(6, "fraud", 1),  # a transaction the log does not hold
    ]
    assert outcomes_in_force(reports, times, at(10)) == {
        1: "fraud",
        2: "legitimate",
        3: "legitimate",
        4: "fraud",
        5: "fraud",
    }
    assert outcomes_in_force(reports, times, at(9)) == {
        1: "fraud",
        2: "legitimate",
        3: "legitimate",
        4: "fraud",
        5: "legitimate",
    }


def test_reads_outcomes_from_csv_and_json_lines(tmp_path: Path) -> None:
    csv_path = tmp_path / "outcomes.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["transaction_id", "outcome", "known_at", "supersedes"])
        writer.writerow([1, "fraud", "2018-04-08T00:00:00Z", ""])
        writer.writerow([1, "legitimate", "2018-04-09T00:00:00+00:00", "true"])
    jsonl = tmp_path / "outcomes.jsonl"
    jsonl.write_text('{"transaction_id": 1, "outcome": "fraud", "known_at_seconds": 604800}\n')
    assert read_outcomes(csv_path, EPOCH) == [
        report(1, "fraud", 7),
        report(1, "legitimate", 8, supersedes=True),
    ]
    assert read_outcomes(jsonl, EPOCH) == [report(1, "fraud", 7)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"transaction_id": 1, "outcome": "chargeback", "known_at_seconds": 1}\n')
    with pytest.raises(TrainingSetError, match=r"bad.jsonl:1: outcome must be fraud or legitimate"):
        read_outcomes(bad, EPOCH)


def test_command_writes_the_features_exactly_as_served(tmp_path: Path) -> None:
    logs = tmp_path / "log"
    logs.mkdir()
    awkward = 0.1 + 0.2  # 0.30000000000000004: must come back bit for bit
    write_log(
        logs / "decisions-20261207T000000000Z-a-000001.jsonl.gz",
        [record(1, 0, binary(awkward)), record(2, 29, binary(1.0))],
    )
    outcomes = tmp_path / "outcomes.jsonl"
    outcomes.write_text('{"transaction_id": 1, "outcome": "fraud", "known_at": "2018-04-08T00:00:00Z"}\n')
    out = tmp_path / "set.csv"
    done = run_cli(
        "training-set",
        str(logs),
        "--outcomes",
        str(outcomes),
        "--model",
        "fraud-binary",
        "--as-of",
        "2018-05-01T00:00:00Z",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert (
        "1 transactions (1 fraud)" in done.stdout and "event time <= 2018-04-24T00:00:00+00:00" in done.stdout
    )
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["TRANSACTION_ID"] for row in rows] == ["1"]
    assert float(rows[0]["TX_AMOUNT"]) == awkward
    assert list(rows[0]) == [
        "TRANSACTION_ID",
        "CUSTOMER_ID",
        "TERMINAL_ID",
        "TX_DATETIME",
        "MODEL_VERSION",
        "TX_AMOUNT",
        "TX_DURING_WEEKEND",
        "TX_DURING_NIGHT",
        "TX_FRAUD",
    ]


def test_command_refuses_mixed_feature_lists_in_one_line(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.jsonl.gz",
        [record(1, 0, binary(1.0)), record(2, 0, model("fraud-binary", "3.0.0", {"TX_AMOUNT": 1.0}))],
    )
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("transaction_id,outcome,known_at\n1,fraud,2018-04-08T00:00:00Z\n")
    done = run_cli(
        "training-set",
        str(log),
        "--outcomes",
        str(outcomes),
        "--model",
        "fraud-binary",
        "--out",
        str(tmp_path / "set.csv"),
    )
    assert done.returncode == 1
    (line,) = error_lines(done.stderr)
    assert line.startswith("fraud_training training-set: error: the log holds different feature lists")
    assert not (tmp_path / "set.csv").exists()
