"""The shared accept/refuse vectors (test/fixtures/acceptance): `verify` reaches the
verdict the service's loader reaches (test/unit/acceptanceVectors.test.ts runs the same
files through it), with the same rejection reason and a message matching the same
pattern."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from fraud_training.acceptance import CASES, build_acceptance
from fraud_training.features import FeatureSpec
from fraud_training.paths import RepoPaths, repo_paths
from fraud_training.verify import ModelRefused, verify_model
from support import artifact_differences, names_its_model

VECTORS: list[dict[str, Any]] = json.loads(
    (repo_paths().acceptance / "vectors.json").read_text(encoding="utf-8")
)["cases"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["case"] for v in VECTORS])
def test_verify_reaches_the_services_verdict(
    vector: dict[str, Any], paths: RepoPaths, schema: dict[str, Any], spec: FeatureSpec
) -> None:
    path = paths.acceptance / vector["manifest"]
    if vector["verdict"] == "accepted":
        verified = verify_model(path, schema, spec, vector["task"])
        assert verified.max_sample_difference <= verified.manifest["sample_tolerance"]
        return
    with pytest.raises(ModelRefused) as refused:
        verify_model(path, schema, spec, vector["task"])
    assert refused.value.reason == vector["reason"], str(refused.value)
    assert re.search(vector["message"], str(refused.value)), str(refused.value)


def test_every_case_is_a_vector_and_both_verdicts_occur() -> None:
    assert [v["case"] for v in VECTORS] == [case.name for case in CASES]
    reasons = {v.get("reason") for v in VECTORS}
    assert {"signature", "smoke", "manifest", "features", "sha256", "task", None} <= reasons


def test_vectors_regenerate_to_the_committed_ones(tmp_path: Path, schema: dict[str, Any]) -> None:
    """Deterministic, and the committed vectors are up to date with the code: the same
    graphs, names, shapes, labels and manifests, floats within a tolerance (trained
    weights and onnxruntime's outputs differ in their last bits from one CPU to another)."""
    written = build_acceptance(tmp_path, schema)
    committed = repo_paths().acceptance
    assert sorted(p.name for p in committed.iterdir()) == sorted(p.name for p in written)
    differences = [
        difference
        for path in written
        for difference in artifact_differences(
            path.name, path.read_bytes(), (committed / path.name).read_bytes()
        )
    ]
    assert differences == []
    for path in written:
        if path.suffix == ".json" and path.name != "vectors.json":
            assert names_its_model(tmp_path, path) == names_its_model(committed, committed / path.name), (
                path.name
            )
