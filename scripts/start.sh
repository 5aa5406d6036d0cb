#!/usr/bin/env bash
# The README's start command (`npm start`): installs the npm dependencies on a
# fresh clone, builds, and runs the service on the bundled models (or whatever
# the FRAUD_* variables say).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -d node_modules ]] || npm ci --no-fund --no-audit
npx --no-install tsc -p tsconfig.json
exec node dist/src/main.js
