"""`publish`: upload models and manifests to an S3-compatible store.

The layout is lakeFS's S3 gateway's: bucket = repository, key = `<ref>/<prefix>/<file>`
(MinIO and AWS take the same keys). Per model the `.onnx` goes first and the
manifest last: the service polls the manifest as the pointer to a version, so it
must never see a manifest whose model file is not there yet.

The `.onnx` is stored under a content-addressed name, `<name>-<sha256>.onnx`, and the
uploaded manifest's model_file names it (the local files are left as they are). A new
version therefore never overwrites the file the serving manifest points to (a replica
starting between the two uploads loads the old version whole), and publishing an old
manifest again rolls back to exactly its model: the manifest is the only pointer.

Credentials come from the standard AWS environment variables through boto3; this
module never reads, prints or logs the secret key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from fraud_training.errors import PipelineError
from fraud_training.manifest import manifest_bytes
from fraud_training.verify import VerifiedModel

DEFAULT_REGION = "us-east-1"


class PublishError(PipelineError):
    """An upload failed; the message is one line, safe to print."""


@dataclass(frozen=True)
class PublishTarget:
    """Where the objects go."""

    endpoint: str | None
    repository: str
    ref: str
    prefix: str = "models"

    def key(self, file_name: str) -> str:
        parts = (self.ref.strip("/"), self.prefix.strip("/"), file_name)
        return "/".join(part for part in parts if part)

    def describe(self) -> str:
        return f"endpoint {self.endpoint or '(AWS default)'}, bucket {self.repository!r}"


@dataclass(frozen=True)
class UploadedObject:
    key: str
    size: int
    etag: str

    def line(self, bucket: str) -> str:
        return f"uploaded s3://{bucket}/{self.key} size={self.size} etag={self.etag}"


def make_client(endpoint: str | None, session: boto3.session.Session | None = None) -> Any:
    """An S3 client for S3-compatible stores: path-style addressing (lakeFS and MinIO
    do not serve bucket subdomains), few retries and short connect timeouts (a wrong
    endpoint should fail in seconds), and checksums only when required (recent boto3
    otherwise sends CRC32 trailers some S3-compatible gateways reject). Credentials
    come from `session`, by default the standard AWS environment variables."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    config = Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"max_attempts": 2, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = session or boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint, region_name=region, config=config)


def _reason(error: Exception) -> str:
    """A short, one-line cause: the S3 error code and message, or botocore's text."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "error")
        message = details.get("Message") or error.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", ""
        )
        text = f"{code}: {message}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _put(client: Any, target: PublishTarget, key: str, body: bytes, content_type: str) -> UploadedObject:
    response = client.put_object(Bucket=target.repository, Key=key, Body=body, ContentType=content_type)
    return UploadedObject(key, len(body), str(response.get("ETag", "")).strip('"'))


def stored_model_file(manifest: dict[str, Any]) -> str:
    """The model file's name in the store: `<name>-<sha256>.onnx`, one per content."""
    return f"{manifest['name']}-{manifest['sha256']}.onnx"


def published_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest as uploaded: model_file names the content-addressed file."""
    return manifest_bytes({**manifest, "model_file": stored_model_file(manifest)})


def upload_model(client: Any, target: PublishTarget, model: VerifiedModel) -> list[UploadedObject]:
    """The .onnx under its content-addressed name, then the manifest (`<name>.json`)."""
    manifest = model.manifest
    onnx_object = _put(
        client, target, target.key(stored_model_file(manifest)), model.model_bytes, "application/octet-stream"
    )
    manifest_object = _put(
        client,
        target,
        target.key(f"{manifest['name']}.json"),
        published_manifest(manifest),
        "application/json",
    )
    return [onnx_object, manifest_object]


def publish_models(
    client: Any, target: PublishTarget, models: Sequence[VerifiedModel]
) -> list[UploadedObject]:
    """Upload every model in order; any failure becomes one PublishError line that
    names the endpoint and the bucket."""
    uploaded: list[UploadedObject] = []
    try:
        for model in models:
            uploaded += upload_model(client, target, model)
    except (BotoCoreError, ClientError) as error:
        raise PublishError(f"cannot upload to {target.describe()}: {_reason(error)}") from error
    return uploaded
