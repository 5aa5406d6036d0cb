#!/usr/bin/env bash
# The README's start command (`npm start`): installs the npm dependencies on a
# fresh clone, builds, and runs the service on the bundled models (or whatever
# the FRAUD_* variables say). npm runs it with node_modules/.bin first on PATH,
# so `node` is the Node.js 24 of the `node` devDependency, whatever Node.js
# (20 or later) runs npm itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# onnxruntime-node's own switch: no CUDA download (its install script reads it).
export ONNXRUNTIME_NODE_INSTALL=skip
# node_modules/.bin/node marks an install of this lockfile (older ones lack it).
[[ -x node_modules/.bin/node ]] || npm ci --no-fund --no-audit
npx --no-install tsc -p tsconfig.json
# Local development: GetModelInfo shows store URLs and raw errors (off in the chart).
export FRAUD_MODEL_INFO_DETAILS="${FRAUD_MODEL_INFO_DETAILS:-true}"
# The heap settings the memory bounds are sized for (src/nodeFlags.ts).
exec node --max-semi-space-size=16 --heap-growing-percent=50 dist/src/main.js
