"""`answers`: the service's answers for an event stream, from Python onnxruntime and
the reference history (the end-to-end test test/e2e/byom.test.ts compares them with
the running service's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fraud_training.answers import EventsError, model_answers, read_events, replay
from fraud_training.features import FeatureSpec
from fraud_training.paths import RepoPaths
from fraud_training.verify import verify_model
from support import error_lines, run_cli

DAY = 86_400


def _events(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
    return path


def _transaction(transaction_id: int, customer: int, seconds: int, amount: float = 50.0) -> dict[str, Any]:
    body = {
        "transaction_id": transaction_id,
        "customer_id": customer,
        "terminal_id": 7,
        "tx_amount": amount,
        "tx_time_seconds": seconds,
    }
    return {"transaction": body}


def test_answers_are_in_the_services_class_order(
    paths: RepoPaths, schema: dict[str, Any], spec: FeatureSpec, tmp_path: Path
) -> None:
    """String labels sort to [at_night, legit, over_220]: the legitimate class is
    column 1 of the model and class 0 of the answers."""
    model = verify_model(paths.acceptance / "zipmap-string-labels.json", schema, spec)
    events = _events(
        tmp_path / "e.jsonl", [_transaction(1, 1, 3_600, 12.5), _transaction(2, 2, 5 * 3_600, 667.0)]
    )
    answers = model_answers(model, replay(read_events(events), spec, DAY))
    assert [(c["label"], c["column"]) for c in answers["service_classes"]] == [
        ("legit", 1),
        ("at_night", 0),
        ("over_220", 2),
    ]
    for case in answers["cases"]:
        output, answer = case["model_output"], case["answer"]
        assert answer["probabilities"] == [output[1], output[0], output[2]]
        assert answer["class_id"] == int(np.argmax(answer["probabilities"]))
        assert answer["fraud_probability"] == pytest.approx(1 - output[1])
    assert answers["cases"][1]["answer"]["prediction"] == "over_220"
    # The model's own label output, recorded to hold the class order to.
    assert [case["model_label"] for case in answers["cases"]] == [
        c["answer"]["prediction"] for c in answers["cases"]
    ]


def test_history_features_follow_the_stream_and_late_transactions_get_no_answer(spec: FeatureSpec) -> None:
    events = [
        ("transaction", _transaction(1, 1, 10 * DAY)["transaction"]),
        ("outcome", {"transaction_id": 1, "outcome": "fraud", "known_at_seconds": 10 * DAY + 60}),
        ("transaction", _transaction(2, 1, 10 * DAY + 3_600)["transaction"]),
        ("transaction", _transaction(3, 1, 8 * DAY)["transaction"]),  # 2 days late for customer 1
    ]
    scored = replay(events, spec, DAY)
    assert [entry.transaction["transaction_id"] for entry in scored] == [1, 2]
    assert scored[1].features["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2
    assert scored[1].features["TX_AMOUNT"] == 50.0


def test_corrections_in_the_stream_are_applied_from_their_known_at(spec: FeatureSpec) -> None:
    """An outcome with supersedes corrects the one in force (history.rules, corrections)."""
    corrected_at = 8 * DAY + 36_000
    events = [
        ("transaction", _transaction(1, 1, 36_000)["transaction"]),
        ("outcome", {"transaction_id": 1, "outcome": "fraud", "known_at_seconds": DAY}),
        (
            "outcome",
            {
                "transaction_id": 1,
                "outcome": "legitimate",
                "known_at_seconds": corrected_at,
                "supersedes": True,
            },
        ),
        ("transaction", _transaction(2, 2, corrected_at - 1)["transaction"]),
        ("transaction", _transaction(3, 3, corrected_at)["transaction"]),
    ]
    scored = replay(events, spec, DAY)
    assert [entry.features["TERMINAL_ID_RISK_7DAY_WINDOW"] for entry in scored[1:]] == [1, 0]


def test_a_bad_event_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(_transaction(1, 1, 0)) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(EventsError, match=r"events.jsonl:2: not one"):
        list(read_events(path))


def test_the_command_gives_no_answers_for_a_model_the_service_refuses(
    paths: RepoPaths, tmp_path: Path
) -> None:
    events = _events(tmp_path / "e.jsonl", [_transaction(1, 1, 0)])
    result = run_cli(
        "answers",
        str(paths.acceptance / "zipmap-string-labels-reordered.json"),
        "--events",
        str(events),
        "--out",
        str(tmp_path / "out"),
    )
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "the model's classes are [at_night, legit, over_220]" in lines[0]
    assert not (tmp_path / "out").exists()
