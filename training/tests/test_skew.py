"""skew-check: a training set against a replay's offline features; every difference
(a feature value, a label, a transaction the replay lacks) shows in the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fraud_training.errors import PipelineError
from fraud_training.skew import compare
from support import run_cli

NAMES = ["TX_AMOUNT", "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW", "TERMINAL_ID_RISK_7DAY_WINDOW"]


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("replay")
    done = run_cli("replay", "--out", str(out), "--customers", "60", "--terminals", "120", "--days", "20")
    assert done.returncode == 0, done.stderr
    return out


def offline_rows(replay: Path) -> list[tuple[int, list[float], int]]:
    labels: dict[int, int] = {}
    for line in (replay / "events.jsonl").read_text().splitlines():
        outcome = json.loads(line).get("outcome")
        if outcome is not None:
            labels[outcome["transaction_id"]] = int(outcome["outcome"] == "fraud")
    rows = []
    for line in (replay / "features.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["transaction_id"] in labels:
            features = [entry["features"][name] for name in NAMES]
            rows.append((entry["transaction_id"], features, labels[entry["transaction_id"]]))
    return rows


def write_set(path: Path, rows: list[tuple[int, list[float], int]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "TRANSACTION_ID",
                "CUSTOMER_ID",
                "TERMINAL_ID",
                "TX_DATETIME",
                "MODEL_VERSION",
                *NAMES,
                "TX_FRAUD",
            ]
        )
        for transaction_id, features, label in rows:
            writer.writerow([transaction_id, 0, 0, "2018-04-01T00:00:00Z", "1", *map(repr, features), label])
    return path


def test_the_offline_rows_themselves_show_no_skew(replay: Path, tmp_path: Path) -> None:
    rows = offline_rows(replay)
    report = compare(write_set(tmp_path / "set.csv", rows), replay)
    assert (report.transactions, report.features, report.label_differences) == (len(rows), 3, 0)
    assert report.features_exactly_equal == 3 * len(rows)
    assert report.max_feature_difference == 0 and report.max_probability_difference == 0
    assert report.frauds == sum(label for *_, label in rows) > 0


def test_a_feature_off_and_a_label_flipped_are_reported(replay: Path, tmp_path: Path) -> None:
    rows = offline_rows(replay)
    transaction_id, features, label = rows[5]
    rows[5] = (transaction_id, [features[0] * (1 + 1e-9) + 1e-9, *features[1:]], 1 - label)
    report = compare(write_set(tmp_path / "set.csv", rows), replay)
    assert report.label_differences == 1
    assert report.features_exactly_equal == 3 * len(rows) - 1
    assert 1e-10 < report.max_relative_feature_difference < 1e-8


def test_a_transaction_the_replay_lacks_is_refused(replay: Path, tmp_path: Path) -> None:
    rows = [*offline_rows(replay), (10**12, [1.0, 1.0, 0.0], 0)]
    with pytest.raises(PipelineError, match=r"1 of \d+ logged transactions have no offline features"):
        compare(write_set(tmp_path / "set.csv", rows), replay)
