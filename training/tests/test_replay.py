"""`replay`: the event stream the service is fed and the offline features it must
reproduce. Fed through the event-by-event reference, as the service will be fed,
the stream gives exactly the offline vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fraud_training.features import FeatureSpec
from fraud_training.history import MICROS_PER_SECOND, HistoryState
from fraud_training.replay import ReplayEvent, reference_features
from support import run_cli


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("replay")
    result = run_cli(
        "replay", "--customers", "120", "--terminals", "150", "--days", "45", "--seed", "5", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    return out


def test_files_and_format(replay: Path, spec: FeatureSpec) -> None:
    meta = json.loads((replay / "replay.json").read_text(encoding="utf-8"))
    assert meta["format_version"] == 1 and meta["feature_spec_version"] == spec.spec_version
    assert meta["features"] == list(spec.names)
    assert meta["simulation"]["seed"] == 5 and meta["outcome_delay_seconds"] == 7 * 86_400
    events = _lines(replay / "events.jsonl")
    features = _lines(replay / "features.jsonl")
    transactions = [e["transaction"] for e in events if "transaction" in e]
    outcomes = [e["outcome"] for e in events if "outcome" in e]
    assert len(transactions) == len(features) == meta["n_transactions"]
    assert len(outcomes) == meta["n_outcomes"] > 0
    assert [f["transaction_id"] for f in features] == [t["transaction_id"] for t in transactions]
    # Arrival order: by time, an outcome before a transaction of the same second.
    times = [
        (e["transaction"]["tx_time_seconds"], 1)
        if "transaction" in e
        else (e["outcome"]["known_at_seconds"], 0)
        for e in events
    ]
    assert times == sorted(times)
    sent_at = {t["transaction_id"]: t["tx_time_seconds"] for t in transactions}
    assert all(o["known_at_seconds"] == sent_at[o["transaction_id"]] + 7 * 86_400 for o in outcomes)
    assert max(o["known_at_seconds"] for o in outcomes) <= max(sent_at.values())
    assert {o["outcome"] for o in outcomes} == {"fraud", "legitimate"}


def test_the_stream_through_the_reference_gives_the_offline_features(replay: Path, spec: FeatureSpec) -> None:
    """What the service's parity test does, with the Python reference standing in."""
    expected = {f["transaction_id"]: f["features"] for f in _lines(replay / "features.jsonl")}
    state = HistoryState(spec.windows, 0)
    epoch = spec.epoch_seconds
    compared = 0
    for event in _lines(replay / "events.jsonl"):
        if "outcome" in event:
            o = event["outcome"]
            known_at = (epoch + o["known_at_seconds"]) * MICROS_PER_SECOND
            assert state.outcome(o["transaction_id"], o["outcome"], known_at) == "applied"
            continue
        t = event["transaction"]
        scored = state.transaction(
            t["transaction_id"],
            t["customer_id"],
            t["terminal_id"],
            t["tx_amount"],
            (epoch + t["tx_time_seconds"]) * MICROS_PER_SECOND,
        )
        for name, value in scored.features.items():
            assert value == pytest.approx(expected[t["transaction_id"]][name], abs=1e-6), name
        assert expected[t["transaction_id"]]["TX_AMOUNT"] == t["tx_amount"]
        compared += 1
    assert compared == len(expected)


def test_corrections_are_sent_as_supersedes_reports_and_counted_offline(
    tmp_path: Path, spec: FeatureSpec
) -> None:
    """`--corrections`: a share of outcomes corrected later; the reference fed the
    stream (corrections included) gives exactly the offline features."""
    result = run_cli(
        "replay", "--customers", "80", "--terminals", "60", "--days", "40", "--seed", "6",
        "--corrections", "0.05", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "replay.json").read_text(encoding="utf-8"))
    events = _lines(tmp_path / "events.jsonl")
    corrections = [e["outcome"] for e in events if e.get("outcome", {}).get("supersedes")]
    assert len(corrections) == meta["n_corrections"] > 20
    assert meta["simulation"]["corrected_share"] == 0.05
    expected = {f["transaction_id"]: f["features"] for f in _lines(tmp_path / "features.jsonl")}
    replayed = reference_features([ReplayEvent(*next(iter(e.items()))) for e in events], spec)
    assert replayed.keys() == expected.keys()
    for transaction_id, features in replayed.items():
        for name, value in features.items():
            assert value == pytest.approx(expected[transaction_id][name], abs=1e-6), (transaction_id, name)
