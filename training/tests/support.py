"""Helpers for the tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.numpy_helper
from google.protobuf.message import Message


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m fraud_training ...` in a child process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "fraud_training", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else dict(os.environ),
        timeout=timeout,
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- regenerated artifacts against committed ones -------------------------------------------

#: Floats of a regenerated artifact may differ from the committed ones by this much (relative,
#: or absolute near 0): trained weights and onnxruntime's outputs differ in their last bits
#: from one CPU to another (vector kernels, fused multiply-adds), everything else must not.
FLOAT_RELATIVE = 1e-5
FLOAT_ABSOLUTE = 1e-6


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=FLOAT_RELATIVE, abs_tol=FLOAT_ABSOLUTE)


def json_differences(
    written: Any, committed: Any, where: str = "$", ignore: frozenset[str] = frozenset()
) -> list[str]:
    """Where two JSON values differ: structure, keys, strings, integers and booleans exactly,
    floats within the tolerance. Keys in `ignore` are skipped (a sha256 of float bytes)."""
    if isinstance(written, bool) or isinstance(committed, bool) or isinstance(written, str):
        return (
            []
            if written == committed and type(written) is type(committed)
            else [f"{where}: {written!r} != {committed!r}"]
        )
    if isinstance(written, float) or isinstance(committed, float):
        numbers = isinstance(written, int | float) and isinstance(committed, int | float)
        return (
            []
            if numbers and _close(float(written), float(committed))
            else [f"{where}: {written!r} != {committed!r}"]
        )
    if isinstance(written, dict) and isinstance(committed, dict):
        if sorted(written) != sorted(committed):
            return [f"{where}: keys {sorted(written)} != {sorted(committed)}"]
        return [
            difference
            for key in written
            if key not in ignore
            for difference in json_differences(written[key], committed[key], f"{where}.{key}", ignore)
        ]
    if isinstance(written, list) and isinstance(committed, list):
        if len(written) != len(committed):
            return [f"{where}: {len(written)} items != {len(committed)}"]
        return [
            difference
            for index, (a, b) in enumerate(zip(written, committed, strict=True))
            for difference in json_differences(a, b, f"{where}[{index}]", ignore)
        ]
    return (
        []
        if written == committed and type(written) is type(committed)
        else [f"{where}: {written!r} != {committed!r}"]
    )


def _tensor_floats(tensor: onnx.TensorProto) -> np.ndarray | None:
    """The values of a float tensor (raw or typed fields), else None."""
    if tensor.data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
        return None
    return onnx.numpy_helper.to_array(tensor).astype(np.float64).ravel()


def proto_differences(written: Message, committed: Message, where: str) -> list[str]:
    """Where two protobuf messages (an ONNX model) differ: every field exactly (graph
    structure, names, shapes, label attributes, integers, strings) except floats, and float
    tensors' values, which are compared within the tolerance."""
    if isinstance(written, onnx.TensorProto) and isinstance(committed, onnx.TensorProto):
        values = _tensor_floats(written), _tensor_floats(committed)
        if values[0] is not None and values[1] is not None:
            differences = (
                []
                if list(written.dims) == list(committed.dims)
                else [f"{where}.dims: {written.dims} != {committed.dims}"]
            )
            if written.name != committed.name or written.data_type != committed.data_type:
                differences.append(
                    f"{where}: tensor {written.name}/{written.data_type}"
                    f" != {committed.name}/{committed.data_type}"
                )
            if values[0].shape != values[1].shape or not np.allclose(
                values[0], values[1], rtol=FLOAT_RELATIVE, atol=FLOAT_ABSOLUTE
            ):
                differences.append(f"{where}: values of tensor {written.name} differ beyond the tolerance")
            return differences
    differences: list[str] = []
    fields = {field.name for field, _ in written.ListFields()} | {
        field.name for field, _ in committed.ListFields()
    }
    for name in sorted(fields):
        field = written.DESCRIPTOR.fields_by_name[name]
        a, b = getattr(written, name), getattr(committed, name)
        here = f"{where}.{name}"
        repeated = field.is_repeated
        if field.type == field.TYPE_MESSAGE:
            pairs = list(zip(a, b, strict=False)) if repeated else [(a, b)]
            if repeated and len(a) != len(b):
                differences.append(f"{here}: {len(a)} items != {len(b)}")
                continue
            for index, (x, y) in enumerate(pairs):
                differences += proto_differences(x, y, f"{here}[{index}]" if repeated else here)
        elif field.type in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
            xs, ys = (list(a), list(b)) if repeated else ([a], [b])
            if len(xs) != len(ys) or not all(_close(x, y) for x, y in zip(xs, ys, strict=True)):
                differences.append(f"{here}: floats differ beyond the tolerance")
        elif (list(a) if repeated else a) != (list(b) if repeated else b):
            differences.append(f"{here}: {a!r} != {b!r}"[:300])
    return differences


def artifact_differences(name: str, written: bytes, committed: bytes) -> list[str]:
    """Where a regenerated artifact differs from its committed copy in what matters: .onnx
    graphs and .json files with floats within the tolerance (a manifest's sha256, of float
    bytes, is left to the checks that it names its committed model), anything else byte for
    byte."""
    if name.endswith(".onnx"):
        return proto_differences(onnx.load_from_string(written), onnx.load_from_string(committed), name)
    if name.endswith(".json"):
        return json_differences(json.loads(written), json.loads(committed), name, frozenset({"sha256"}))
    return [] if written == committed else [f"{name}: differs"]


def names_its_model(folder: Path, manifest_path: Path) -> bool:
    """Whether a manifest's sha256 is that of its model_file in `folder`."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    model = folder / manifest["model_file"]
    return model.exists() and manifest.get("sha256") == hashlib.sha256(model.read_bytes()).hexdigest()
