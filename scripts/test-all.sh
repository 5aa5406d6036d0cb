#!/usr/bin/env bash
# The README's test command (`npm test`): installs what the tests need when it
# is missing, then runs every check and test suite of the repository.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
gobin="$(go env GOPATH | cut -d: -f1)/bin"
export PATH="$gobin:$root/.tools/venv/bin:$PATH"

step() { printf '\n=== %s\n' "$*"; }

step "tools"
# onnxruntime-node's own switch: no CUDA download (its install script reads it).
export ONNXRUNTIME_NODE_INSTALL=skip
# node_modules/.bin/node marks an install of this lockfile (older ones lack it).
[[ -x node_modules/.bin/node ]] || npm ci
# npm put node_modules/.bin first on PATH: the suite runs on the `node` devDependency.
echo "node $(node --version) ($(command -v node))"
bash scripts/install-tools.sh

step "generated code is up to date with proto/"
node scripts/vendor-protos.mjs --check
npx --no-install buf generate
npx --no-install buf build -o src/gen/fraud.binpb
bash scripts/sync-chart-descriptor.sh
if [[ -n "$(git status --porcelain -- src/gen deploy/helm/fraud-scoring/files)" ]]; then
  git status --short -- src/gen deploy/helm/fraud-scoring/files >&2
  echo "src/gen or the chart's descriptor differs from what proto/ generates: run npm run generate and commit the result" >&2
  exit 1
fi

step "lint: buf, eslint, tsc"
npx --no-install buf lint
if git rev-parse --verify --quiet main >/dev/null; then
  npx --no-install buf breaking --against '.git#branch=main'
fi
npx --no-install eslint .
npx --no-install tsc -p tsconfig.json

step "service tests (mocha: unit, integration over sockets, e2e with grpcurl, grpc-health-probe, MinIO, lakeFS and Kafka, chart tests)"
npx --no-install mocha

step "deploy: Dockerfile, shell scripts, workflows, Helm chart, Envoy and compose configurations"
bash scripts/check-deploy.sh --no-mocha

step "training pipeline tests (pytest)"
training/run test
