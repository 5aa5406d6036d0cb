"""Where the repository's shared files are, wherever the CLI is started from.

Defaults (`models/`, `test/fixtures/models/`, the schemas) are resolved against the
repository root, not the working directory, so `training/run build-models` writes
to the same place from any cwd. Paths a user types are taken relative to the cwd,
as usual for a CLI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "FRAUD_REPO_ROOT"
_MARKER = Path("models") / "feature-spec.json"


@dataclass(frozen=True)
class RepoPaths:
    """Well-known locations inside the repository."""

    root: Path

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def feature_spec(self) -> Path:
        return self.models / "feature-spec.json"

    @property
    def manifest_schema(self) -> Path:
        return self.models / "manifest.schema.json"

    @property
    def fixtures(self) -> Path:
        return self.root / "test" / "fixtures" / "models"

    @property
    def acceptance(self) -> Path:
        return self.root / "test" / "fixtures" / "acceptance"

    @property
    def training(self) -> Path:
        return self.root / "training"

    @property
    def tests(self) -> Path:
        return self.training / "tests"

    @property
    def data(self) -> Path:
        return self.training / "data"


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest ancestor holding models/feature-spec.json.

    Searched from FRAUD_REPO_ROOT if set, else from this file (an editable install
    lives in the repository), else from the cwd.
    """
    override = os.environ.get(ROOT_ENV)
    if override:
        return Path(override).resolve()
    candidates = [start] if start else [Path(__file__).resolve().parent, Path.cwd()]
    for origin in candidates:
        for folder in (origin, *origin.parents):
            if (folder / _MARKER).is_file():
                return folder
    raise FileNotFoundError(f"cannot find the repository root (a folder with {_MARKER}); set {ROOT_ENV}")


def repo_paths() -> RepoPaths:
    return RepoPaths(find_repo_root())
