# One-shot setup of the compose stack: the model pipeline (training/) to run its
# `publish` command, the bundled models, and deploy/lakefs/publish-version.py,
# which wraps the upload in a lakeFS branch, commit and merge.
# Build context: the repository root (setup.Dockerfile.dockerignore applies).
FROM python:3.11-slim-bookworm
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /repo
COPY training/pyproject.toml training/constraints.txt training/README.md ./training/
COPY training/src ./training/src
# Every version pinned by the pipeline's constraints file.
RUN pip install --constraint training/constraints.txt ./training
COPY models/*.json models/*.onnx ./models/
COPY deploy/lakefs/publish-version.py ./deploy/lakefs/publish-version.py
# The pipeline finds models/feature-spec.json and the manifest schema here.
ENV FRAUD_REPO_ROOT=/repo
USER 65532:65532
ENTRYPOINT ["python", "deploy/lakefs/publish-version.py"]
