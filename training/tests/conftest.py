"""Shared fixtures: repository paths, the feature spec and manifest schema, and a
small seeded simulation (seconds, not the handbook's 1.75 M transactions)."""

from __future__ import annotations

from typing import Any

import pytest

from fraud_training.features import FeatureSpec, load_feature_spec
from fraud_training.manifest import load_schema
from fraud_training.paths import RepoPaths, repo_paths
from fraud_training.simulate import Simulation, SimulationConfig, simulate

SMALL = SimulationConfig(n_customers=500, n_terminals=1_000, n_days=60, seed=3)


@pytest.fixture(scope="session")
def paths() -> RepoPaths:
    return repo_paths()


@pytest.fixture(scope="session")
def spec(paths: RepoPaths) -> FeatureSpec:
    return load_feature_spec(paths.feature_spec)


@pytest.fixture(scope="session")
def schema(paths: RepoPaths) -> dict[str, Any]:
    return load_schema(paths.manifest_schema)


@pytest.fixture(scope="session")
def small_simulation() -> Simulation:
    return simulate(SMALL)
