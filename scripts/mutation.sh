#!/usr/bin/env bash
# `npm run mutation`: StrykerJS over src/ and client/ (not src/gen), with the
# mocha runner on the compiled unit and integration suites (stryker.config.json,
# .mocharc.mutation.cjs). Arguments go to `stryker run`, e.g.
#   npm run mutation -- --mutate 'src/api/**/*.ts' --concurrency 1
# Reports: reports/mutation/mutation.html and mutation.json.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# The mocha runner needs mocha 12's .cjs CLI helpers resolvable (see the shim).
export NODE_OPTIONS="--require $root/scripts/stryker-mocha12.cjs ${NODE_OPTIONS:-}"
exec npx --no-install stryker run "$@"
