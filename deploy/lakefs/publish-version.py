#!/usr/bin/env python3
"""Publish model manifests to lakeFS as one reviewed-looking change: a work
branch off the serving branch, the pipeline's `publish` upload onto it, a
commit, a merge into the serving branch, the work branch deleted.

The service polls the serving branch through lakeFS's API and reads both files
of a model from the branch's head commit, so it only ever sees whole merged
versions, never a half-uploaded one. Used by deploy/compose (setup container)
and deploy/e2e/run.sh; standard library only, so any Python >= 3.11 with the
`fraud_training` package runs it.

Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (lakeFS takes the same
pair on its API and its S3 gateway). The secret is never printed.

Prints the serving branch's head commit id after the merge as the last line of
stdout; progress goes to stderr.

    publish-version.py --lakefs http://localhost:8000 --repository fraud-models \\
        --create-repository models/fraud-binary.json models/fraud-scenario.json
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any


class LakefsError(Exception):
    """A failed lakeFS call; the message is one line, safe to print."""


class Lakefs:
    def __init__(self, endpoint: str, access_key_id: str, secret_access_key: str) -> None:
        self.api = endpoint.rstrip("/") + "/api/v1"
        token = base64.b64encode(f"{access_key_id}:{secret_access_key}".encode()).decode()
        self._authorization = f"Basic {token}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method)
        request.add_header("Authorization", self._authorization)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise LakefsError(
                f"lakeFS at {self.api} unreachable: {getattr(error, 'reason', error)}"
            ) from error

    def expect(self, method: str, path: str, body: dict[str, Any] | None, *ok: int) -> Any:
        status, answer = self.call(method, path, body)
        if status not in ok:
            raise LakefsError(f"lakeFS {method} {path}: {status} {_message(answer)}")
        return answer

    def wait_healthy(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                status, _ = self.call("GET", "/healthcheck")
                if status == 204:
                    return
            except LakefsError:
                pass
            if time.monotonic() > deadline:
                raise LakefsError(f"lakeFS at {self.api} not healthy after {seconds:.0f} s")
            time.sleep(1)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")[:200]


def _message(answer: Any) -> str:
    if isinstance(answer, dict) and "message" in answer:
        return " ".join(str(answer["message"]).split())
    return " ".join(str(answer).split())[:200]


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def ensure_repository(lakefs: Lakefs, repository: str, namespace: str, branch: str) -> None:
    status, _ = lakefs.call("GET", f"/repositories/{quote(repository)}")
    if status == 200:
        return
    body = {"name": repository, "storage_namespace": namespace, "default_branch": branch}
    lakefs.expect("POST", "/repositories", body, 201, 409)
    log(f"created repository {repository} ({namespace}, default branch {branch})")


def head(lakefs: Lakefs, repository: str, branch: str) -> str:
    answer = lakefs.expect("GET", f"/repositories/{quote(repository)}/branches/{quote(branch)}", None, 200)
    return str(answer["commit_id"])


def publish(args: argparse.Namespace) -> str:
    access_key_id = os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret_access_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not access_key_id or not secret_access_key:
        raise LakefsError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (the lakeFS key pair)")
    lakefs = Lakefs(args.lakefs, access_key_id, secret_access_key)
    lakefs.wait_healthy(args.wait)
    repo = quote(args.repository)
    if args.create_repository:
        ensure_repository(lakefs, args.repository, args.storage_namespace, args.branch)

    work = f"publish-{datetime.now(UTC):%Y%m%dt%H%M%S}-{os.getpid()}"
    lakefs.expect("POST", f"/repositories/{repo}/branches", {"name": work, "source": args.branch}, 201)
    log(f"work branch {work} from {args.branch}")
    try:
        command = [
            *shlex.split(args.publisher),
            "--endpoint", args.s3_endpoint or args.lakefs,
            "--repository", args.repository,
            "--ref", work,
            "--prefix", args.prefix,
            *args.manifests,
        ]  # fmt: skip
        if subprocess.run(command, check=False, stdout=sys.stderr).returncode != 0:
            raise LakefsError("the pipeline's publish command failed (see above)")
        metadata = {"published_by": "deploy/lakefs/publish-version.py", "manifests": " ".join(args.manifests)}
        status, answer = lakefs.call(
            "POST",
            f"/repositories/{repo}/branches/{quote(work)}/commits",
            {"message": args.message, "metadata": metadata},
        )
        if status == 400 and "no changes" in _message(answer).lower():
            log(f"nothing changed: {args.branch} already holds these models")
            return head(lakefs, args.repository, args.branch)
        if status != 201:
            raise LakefsError(f"lakeFS commit on {work}: {status} {_message(answer)}")
        log(f"committed {answer['id']} on {work}")
        merge = lakefs.expect(
            "POST",
            f"/repositories/{repo}/refs/{quote(work)}/merge/{quote(args.branch)}",
            {"message": f"Merge {work}: {args.message}"},
            200,
        )
        log(f"merged {work} into {args.branch}: {merge.get('reference', '?')}")
        return head(lakefs, args.repository, args.branch)
    finally:
        lakefs.call("DELETE", f"/repositories/{repo}/branches/{quote(work)}")


def log(message: str) -> None:
    print(f"publish-version: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lakefs", required=True, help="lakeFS base URL, e.g. http://localhost:8000")
    parser.add_argument("--s3-endpoint", default=None, help="S3 gateway URL (default: --lakefs)")
    parser.add_argument("--repository", default="fraud-models", help="lakeFS repository (fraud-models)")
    parser.add_argument("--branch", default="main", help="serving branch to merge into (main)")
    parser.add_argument("--prefix", default="models", help="folder under the branch (models)")
    parser.add_argument("--message", default="Publish models", help="commit message")
    parser.add_argument("--create-repository", action="store_true", help="create the repository if missing")
    parser.add_argument(
        "--storage-namespace", default="local://fraud-models", help="namespace of a created repository"
    )
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for lakeFS to be healthy")
    parser.add_argument(
        "--publisher",
        default=f"{shlex.quote(sys.executable)} -m fraud_training publish",
        help="the pipeline's publish command, e.g. 'training/run publish' (default: -m fraud_training)",
    )
    parser.add_argument("manifests", nargs="+", help="manifest files to publish")
    args = parser.parse_args(argv)
    try:
        commit = publish(args)
    except LakefsError as error:
        print(f"publish-version: {error}", file=sys.stderr)
        return 1
    print(commit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
