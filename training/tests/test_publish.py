"""`publish` against a real MinIO server started for these tests.

The MinIO binary must be installed (CI does: `go install github.com/minio/minio@latest`);
without it these tests fail, on purpose, rather than skip.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import EndpointConnectionError

from fraud_training.features import FeatureSpec
from fraud_training.paths import RepoPaths
from fraud_training.publish import PublishError, PublishTarget, make_client, publish_models
from fraud_training.verify import verify_model
from support import error_lines, run_cli

ROOT_USER = "fraud-test"
ROOT_PASSWORD = "fraud-test-" + secrets.token_hex(8)
INSTALL_HINT = (
    "minio binary not found: install it with `go install github.com/minio/minio@latest` "
    "(it lands in $(go env GOPATH)/bin) or put `minio` on PATH"
)


@dataclass(frozen=True)
class MinioServer:
    endpoint: str

    def env(self, secret: str = ROOT_PASSWORD, access_key: str = ROOT_USER) -> dict[str, str]:
        """The child's environment: only these credentials, no profile, no endpoint."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret, AWS_REGION="us-east-1")
        return env


def find_minio() -> str:
    found = shutil.which("minio")
    if found:
        return found
    gopaths: list[str] = []
    if shutil.which("go"):
        result = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True, check=False)
        gopaths += [p for p in result.stdout.strip().split(os.pathsep) if p]
    gopaths.append(str(Path.home() / "go"))
    for gopath in gopaths:
        candidate = Path(gopath) / "bin" / "minio"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail(INSTALL_HINT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_live(endpoint: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"minio exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/minio/health/live", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"minio did not become live at {endpoint} within {seconds} s")


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    binary = find_minio()
    folder = tmp_path_factory.mktemp("minio")
    port, console = free_port(), free_port()
    env = {
        **os.environ,
        "MINIO_ROOT_USER": ROOT_USER,
        "MINIO_ROOT_PASSWORD": ROOT_PASSWORD,
        "MINIO_BROWSER": "off",
    }
    log = folder / "minio.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [binary, "server", "--quiet", "--address", f"127.0.0.1:{port}",
             "--console-address", f"127.0.0.1:{console}", str(folder / "data")],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_live(endpoint, process, log)
        yield MinioServer(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _client(server: MinioServer) -> Any:
    """The same client `publish` builds, with the test server's credentials."""
    session = boto3.session.Session(aws_access_key_id=ROOT_USER, aws_secret_access_key=ROOT_PASSWORD)
    return make_client(server.endpoint, session)


@pytest.fixture
def bucket(minio: MinioServer) -> str:
    name = "repo-" + secrets.token_hex(4)
    _client(minio).create_bucket(Bucket=name)
    return name


def _manifests(paths: RepoPaths) -> list[Path]:
    return [paths.models / "fraud-binary.json", paths.models / "fraud-scenario.json"]


def test_publish_uploads_models_and_manifests(minio: MinioServer, bucket: str, paths: RepoPaths) -> None:
    result = run_cli(
        "publish", "--endpoint", minio.endpoint, "--repository", bucket, "--ref", "main",
        "--prefix", "models", *map(str, _manifests(paths)), env=minio.env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    local = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in _manifests(paths)}
    stored = {name: f"{name}-{manifest['sha256']}.onnx" for name, manifest in local.items()}
    keys = [f"main/models/{stored['fraud-binary']}", "main/models/fraud-binary.json",
            f"main/models/{stored['fraud-scenario']}", "main/models/fraud-scenario.json"]  # fmt: skip
    assert len(lines) == 4
    for line, key in zip(lines, keys, strict=True):
        assert line.startswith(f"uploaded s3://{bucket}/{key} size=") and " etag=" in line
    client = _client(minio)
    listed = {o["Key"]: o for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert sorted(listed) == sorted(keys)
    for name, manifest in local.items():
        body = client.get_object(Bucket=bucket, Key=f"main/models/{stored[name]}")["Body"].read()
        assert body == (paths.models / manifest["model_file"]).read_bytes()
        published = json.loads(
            client.get_object(Bucket=bucket, Key=f"main/models/{name}.json")["Body"].read()
        )
        # The same manifest, pointing at the content-addressed file.
        assert published == manifest | {"model_file": stored[name]}
    for key in keys:
        size = int(next(line for line in lines if f"/{key} " in line).split("size=")[1].split()[0])
        assert size == listed[key]["Size"]


def test_each_model_goes_before_its_manifest(
    minio: MinioServer, bucket: str, paths: RepoPaths, schema: dict[str, Any], spec: FeatureSpec
) -> None:
    client = _client(minio)
    calls: list[str] = []
    client.meta.events.register(
        "before-call.s3.PutObject", lambda params, **_: calls.append(params["url_path"])
    )
    models = [verify_model(path, schema, spec) for path in _manifests(paths)]
    uploaded = publish_models(client, PublishTarget(minio.endpoint, bucket, "dev", "models"), models)
    order = [u.key for u in uploaded]
    binary, scenario = (f"{m.manifest['name']}-{m.manifest['sha256']}.onnx" for m in models)
    assert order == [f"dev/models/{binary}", "dev/models/fraud-binary.json",
                     f"dev/models/{scenario}", "dev/models/fraud-scenario.json"]  # fmt: skip
    assert [c.rsplit("/", 1)[1] for c in calls] == [k.rsplit("/", 1)[1] for k in order]


def test_fixture_manifest_goes_under_its_model_name(
    minio: MinioServer, bucket: str, paths: RepoPaths
) -> None:
    manifest = paths.fixtures / "binary-zipmap-f32-v2.json"
    result = run_cli(
        "publish", "--endpoint", minio.endpoint, "--repository", bucket, "--ref", "main",
        "--prefix", "/nested/models/", str(manifest), env=minio.env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    keys = [line.split()[1] for line in result.stdout.splitlines()]
    digest = json.loads(manifest.read_text(encoding="utf-8"))["sha256"]
    assert keys == [f"s3://{bucket}/main/nested/models/fraud-binary-{digest}.onnx",
                    f"s3://{bucket}/main/nested/models/fraud-binary.json"]  # fmt: skip


def test_wrong_credentials_fail_clearly_without_the_secret(
    minio: MinioServer, bucket: str, paths: RepoPaths
) -> None:
    secret = "bogus-secret-" + secrets.token_hex(12)
    result = run_cli(
        "publish", "--endpoint", minio.endpoint, "--repository", bucket, "--ref", "main",
        str(_manifests(paths)[0]), env=minio.env(secret=secret),
    )  # fmt: skip
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1, lines
    assert minio.endpoint in lines[0] and bucket in lines[0] and "SignatureDoesNotMatch" in lines[0]
    assert secret not in result.stdout + result.stderr
    assert result.stdout == ""


def test_unknown_access_key_fails_clearly(minio: MinioServer, bucket: str, paths: RepoPaths) -> None:
    result = run_cli(
        "publish", "--endpoint", minio.endpoint, "--repository", bucket, "--ref", "main",
        str(_manifests(paths)[0]),
        env=minio.env(access_key="nobody", secret="nothing-" + secrets.token_hex(4)),
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "InvalidAccessKeyId" in line and minio.endpoint in line and "nothing-" not in line


def test_wrong_endpoint_fails_clearly(minio: MinioServer, paths: RepoPaths) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_cli(
        "publish", "--endpoint", endpoint, "--repository", "models-repo", "--ref", "main",
        str(_manifests(paths)[0]), env=minio.env(),
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert endpoint in line and "models-repo" in line
    assert time.monotonic() - started < 30
    assert ROOT_PASSWORD not in result.stdout + result.stderr


def test_endpoint_defaults_to_aws_endpoint_url(minio: MinioServer, bucket: str, paths: RepoPaths) -> None:
    env = {**minio.env(), "AWS_ENDPOINT_URL": minio.endpoint}
    result = run_cli("publish", "--repository", bucket, "--ref", "main", str(_manifests(paths)[0]), env=env)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_missing_bucket_fails_clearly(minio: MinioServer, paths: RepoPaths) -> None:
    result = run_cli(
        "publish", "--endpoint", minio.endpoint, "--repository", "no-such-repo", "--ref", "main",
        str(_manifests(paths)[0]), env=minio.env(),
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "NoSuchBucket" in line and "no-such-repo" in line


def test_a_manifest_not_matching_its_model_uploads_nothing(
    minio: MinioServer, bucket: str, paths: RepoPaths, tmp_path: Path
) -> None:
    for suffix in (".onnx", ".json"):
        shutil.copy(paths.fixtures / f"binary-tensor-f32{suffix}", tmp_path)
    manifest_path = tmp_path / "binary-tensor-f32.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    result = run_cli(
        "publish", "--endpoint", minio.endpoint, "--repository", bucket, "--ref", "main",
        str(paths.fixtures / "binary-zipmap-f32.json"), str(manifest_path), env=minio.env(),
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "sha256" in line
    assert _client(minio).list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_keys_follow_the_lakefs_layout() -> None:
    target = PublishTarget(None, "repo", "main", "models")
    assert target.key("fraud-binary.onnx") == "main/models/fraud-binary.onnx"
    assert PublishTarget(None, "repo", "main", "").key("m.json") == "main/m.json"


def test_package_publishes_what_it_packaged(minio: MinioServer, bucket: str, tmp_path: Path) -> None:
    """Bring your own model straight to the store: the .onnx, then `<name>.json`."""
    from fraud_training.export import ExportOptions, to_onnx_bytes
    from fraud_training.train import ForestConfig, fit_forest

    rng = np.random.default_rng(0)
    features = rng.uniform(0, 300, (400, 3))
    model = fit_forest(
        features, (features[:, 0] > 220).astype(int), ForestConfig(n_estimators=3, max_depth=3)
    )
    path = tmp_path / "amount-rule.onnx"
    path.write_bytes(to_onnx_bytes(model, 3, ExportOptions(zipmap=False)))
    result = run_cli(
        "package", str(path), "--task", "binary", "--features", "TX_AMOUNT,TX_DURING_WEEKEND,TX_DURING_NIGHT",
        "--name", "amount-rule", "--endpoint", minio.endpoint, "--repository", bucket, "--ref", "main",
        env=minio.env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    keys = [line.split()[1].removeprefix(f"s3://{bucket}/") for line in result.stdout.splitlines()[1:]]
    local = json.loads((tmp_path / "amount-rule.json").read_text(encoding="utf-8"))
    stored = f"amount-rule-{local['sha256']}.onnx"
    assert keys == [f"main/models/{stored}", "main/models/amount-rule.json"]
    manifest = json.loads(_client(minio).get_object(Bucket=bucket, Key=keys[1])["Body"].read())
    assert manifest["feature_spec_version"] == 1 and manifest["legitimate_class"] == "simple_transaction"
    assert manifest == local | {"model_file": stored}


# --- content-addressed model files: a manifest is the only pointer to a version -------------


def _as_local_file(source: Path, folder: Path) -> Path:
    """A fixture version saved the way people save every version: fraud-binary.onnx and .json."""
    folder.mkdir(parents=True)
    manifest = json.loads(source.read_text(encoding="utf-8"))
    shutil.copy(source.parent / manifest["model_file"], folder / "fraud-binary.onnx")
    path = folder / "fraud-binary.json"
    path.write_text(json.dumps(manifest | {"model_file": "fraud-binary.onnx"}), encoding="utf-8")
    return path


def _served(client: Any, bucket: str, folder: Path, schema: dict[str, Any], spec: FeatureSpec) -> str:
    """What a replica starting now would load: the stored manifest and the file it names,
    through the service's checks; returns the version."""
    folder.mkdir(parents=True)
    manifest = client.get_object(Bucket=bucket, Key="main/models/fraud-binary.json")["Body"].read()
    model_file = json.loads(manifest)["model_file"]
    model = client.get_object(Bucket=bucket, Key=f"main/models/{model_file}")["Body"].read()
    (folder / model_file).write_bytes(model)
    (folder / "fraud-binary.json").write_bytes(manifest)
    return str(verify_model(folder / "fraud-binary.json", schema, spec).manifest["version"])


def test_a_new_version_never_overwrites_the_served_model_file(
    minio: MinioServer,
    bucket: str,
    paths: RepoPaths,
    schema: dict[str, Any],
    spec: FeatureSpec,
    tmp_path: Path,
) -> None:
    """Publishing stops between the new .onnx and its manifest (a crash, a lost connection):
    a replica starting then still finds the old version whole, not the old manifest over the
    new bytes."""
    old = _as_local_file(paths.fixtures / "binary-zipmap-f32.json", tmp_path / "v1")
    new = _as_local_file(paths.fixtures / "binary-zipmap-f32-v2.json", tmp_path / "v2")
    client = _client(minio)
    target = PublishTarget(minio.endpoint, bucket, "main", "models")
    publish_models(client, target, [verify_model(old, schema, spec)])

    def lost_connection(params: dict[str, Any], **_: Any) -> None:
        if params["url_path"].endswith("/fraud-binary.json"):
            raise EndpointConnectionError(endpoint_url=minio.endpoint)

    client.meta.events.register("before-call.s3.PutObject", lost_connection)
    with pytest.raises(PublishError):
        publish_models(client, target, [verify_model(new, schema, spec)])
    assert _served(_client(minio), bucket, tmp_path / "gap", schema, spec) == "1.0.0"


def test_putting_back_an_old_stored_manifest_rolls_back_to_its_model(
    minio: MinioServer,
    bucket: str,
    paths: RepoPaths,
    schema: dict[str, Any],
    spec: FeatureSpec,
    tmp_path: Path,
) -> None:
    """The manifest alone is the pointer: the bytes of v1's stored manifest, put back after
    v2 (an S3 copy, a lakeFS revert), serve v1 again without the model being uploaded."""
    client = _client(minio)
    target = PublishTarget(minio.endpoint, bucket, "main", "models")
    old = _as_local_file(paths.fixtures / "binary-zipmap-f32.json", tmp_path / "v1")
    new = _as_local_file(paths.fixtures / "binary-zipmap-f32-v2.json", tmp_path / "v2")
    publish_models(client, target, [verify_model(old, schema, spec)])
    kept = client.get_object(Bucket=bucket, Key="main/models/fraud-binary.json")["Body"].read()
    publish_models(client, target, [verify_model(new, schema, spec)])
    assert _served(client, bucket, tmp_path / "new", schema, spec) == "2.0.0"
    client.put_object(Bucket=bucket, Key="main/models/fraud-binary.json", Body=kept)
    assert _served(client, bucket, tmp_path / "old", schema, spec) == "1.0.0"


def test_publishing_an_old_manifest_again_rolls_back_to_its_model(
    minio: MinioServer,
    bucket: str,
    paths: RepoPaths,
    schema: dict[str, Any],
    spec: FeatureSpec,
    tmp_path: Path,
) -> None:
    old = _as_local_file(paths.fixtures / "binary-zipmap-f32.json", tmp_path / "v1")
    new = _as_local_file(paths.fixtures / "binary-zipmap-f32-v2.json", tmp_path / "v2")
    for manifest, version, folder in ((old, "1.0.0", "a"), (new, "2.0.0", "b"), (old, "1.0.0", "c")):
        result = run_cli(
            "publish", "--endpoint", minio.endpoint, "--repository", bucket, "--ref", "main", str(manifest),
            env=minio.env(),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert _served(_client(minio), bucket, tmp_path / folder, schema, spec) == version
    listed = [o["Key"] for o in _client(minio).list_objects_v2(Bucket=bucket)["Contents"]]
    assert len([key for key in listed if key.endswith(".onnx")]) == 2
