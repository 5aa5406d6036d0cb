#!/usr/bin/env bash
# The README's test command (`npm test`): installs what the tests need when it
# is missing, then runs every check and test suite of the repository.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="$(go env GOPATH | cut -d: -f1)/bin:$root/.tools/venv/bin:$PATH"

step() { printf '\n=== %s\n' "$*"; }

step "tools"
[[ -d node_modules ]] || npm ci
bash scripts/install-tools.sh

step "generated code is up to date with proto/"
node scripts/vendor-protos.mjs --check
npx --no-install buf generate
npx --no-install buf build -o src/gen/fraud.binpb
if ! git diff --exit-code --stat -- src/gen; then
  echo "src/gen differs from what proto/ generates: run npm run generate and commit the result" >&2
  exit 1
fi

step "lint: buf, eslint, tsc"
npx --no-install buf lint
if git rev-parse --verify --quiet main >/dev/null; then
  npx --no-install buf breaking --against '.git#branch=main'
fi
npx --no-install eslint .
npx --no-install tsc -p tsconfig.json

step "service tests (mocha: unit, integration over sockets, e2e with grpcurl and grpc-health-probe)"
npx --no-install mocha

step "training pipeline tests (pytest)"
training/run test
