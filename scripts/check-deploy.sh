#!/usr/bin/env bash
# Every deployment check that runs without Docker, Kubernetes, Envoy or lakeFS:
# linters (hadolint, shellcheck, actionlint, helm lint), the chart rendered for
# each setup and decoded strictly into Kubernetes types, the Envoy
# configurations decoded into Envoy's own API types with their validation
# rules, the compose file loaded the way `docker compose` loads it, the chart's
# descriptor copy in sync, then the chart tests in test/deploy (mocha).
# The GitHub e2e job (deploy/e2e/run.sh) runs the same artifacts for real.
#
#   scripts/check-deploy.sh              everything
#   scripts/check-deploy.sh --no-mocha   without the mocha tests (when the
#                                        caller runs all of mocha anyway)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
gobin="$(go env GOPATH | cut -d: -f1)/bin"
export PATH="$gobin:$root/.tools/venv/bin:$PATH"

run_mocha=1
case "${1:-}" in
  --no-mocha) run_mocha=0 ;;
  "") ;;
  *)
    echo "usage: $0 [--no-mocha]" >&2
    exit 2
    ;;
esac

# kind's node version in the e2e job; the chart requires >= 1.30.
kube_version=1.37.0
chart=deploy/helm/fraud-scoring
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n=== %s\n' "$*"; }

step "tools"
bash scripts/install-tools.sh
for tool in hadolint shellcheck actionlint helm go; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "check-deploy: $tool is missing (scripts/install-tools.sh installs it)" >&2
    exit 1
  }
done

step "hadolint"
hadolint Dockerfile deploy/compose/setup.Dockerfile

step "shellcheck"
shell_scripts=(training/run .ci/run)
while IFS= read -r -d '' script; do
  shell_scripts+=("$script")
done < <(find scripts deploy -name '*.sh' -type f -print0 | sort -z)
shellcheck --external-sources "${shell_scripts[@]}"
echo "${#shell_scripts[@]} scripts clean"

step "actionlint"
actionlint -color=false .github/workflows/*.yml

step "chart descriptor in sync with src/gen/fraud.binpb"
bash scripts/sync-chart-descriptor.sh --check

step "chart alert rules and dashboard in sync with deploy/prometheus and deploy/grafana"
bash scripts/sync-chart-monitoring.sh --check

step "helm lint --strict and helm template, for each setup"
renders=()
for values in "$chart"/ci/*-values.yaml deploy/e2e/values-lakefs.yaml deploy/minikube/values.yaml; do
  name=$(basename "$(dirname "$values")")-$(basename "$values" .yaml)
  helm lint "$chart" --strict --kube-version "$kube_version" --values "$values" >"$work/lint-$name.txt" ||
    { cat "$work/lint-$name.txt" >&2; exit 1; }
  helm template fraud "$chart" --namespace fraud --kube-version "$kube_version" --values "$values" >"$work/$name.yaml"
  renders+=("$work/$name.yaml")
  echo "ok: $values"
done

step "fraud-scoring-valkey: its values for this chart, rendered without the network"
# The umbrella chart's Valkey dependency comes from its repository (helm
# dependency update); the part of its values for this chart is checked here.
umbrella_values="$work/fraud-scoring-valkey-values.yaml"
node --input-type=module -e "
  import { readFileSync } from 'node:fs';
  import { parse, stringify } from 'yaml';
  const values = parse(readFileSync('deploy/helm/fraud-scoring-valkey/values.yaml', 'utf8'));
  process.stdout.write(stringify(values['fraud-scoring']));
" >"$umbrella_values"
helm lint "$chart" --strict --kube-version "$kube_version" --values "$umbrella_values" >"$work/lint-umbrella.txt" ||
  { cat "$work/lint-umbrella.txt" >&2; exit 1; }
helm template fraud "$chart" --namespace fraud --kube-version "$kube_version" --values "$umbrella_values" >"$work/umbrella.yaml"
renders+=("$work/umbrella.yaml")
echo "ok: deploy/helm/fraud-scoring-valkey/values.yaml (fraud-scoring)"

step "deploycheck (Go): Kubernetes types, Envoy API, compose"
go build -C deploy/tools/deploycheck -o "$work/deploycheck" .
unformatted=$(gofmt -l deploy/tools)
[[ -z "$unformatted" ]] || { echo "gofmt needed: $unformatted" >&2; exit 1; }
go vet -C deploy/tools/deploycheck ./...
"$work/deploycheck" k8s "${renders[@]}" deploy/e2e/lakefs.yaml
envoy_renders=()
for render in "${renders[@]}"; do
  grep -q '^  envoy.yaml: |' "$render" && envoy_renders+=("$render")
done
"$work/deploycheck" envoy --descriptor "$chart/files/fraud.binpb" "${envoy_renders[@]}" deploy/compose/envoy.yaml
"$work/deploycheck" compose deploy/compose/docker-compose.yml
echo "ok: ${#renders[@]} renders, ${#envoy_renders[@]} Envoy configurations, the compose stack"

step "deploy/lakefs/publish-version.py, deploy/e2e/load.mjs"
# Compiled in memory: no __pycache__ left in the tree.
python3 -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' deploy/lakefs/publish-version.py
node --check deploy/e2e/load.mjs
if [[ -x training/.venv/bin/ruff ]]; then
  training/.venv/bin/ruff check --no-cache --config training/pyproject.toml deploy/lakefs
  training/.venv/bin/ruff format --check --no-cache --config training/pyproject.toml deploy/lakefs
fi

if ((run_mocha)); then
  step "chart tests (mocha test/deploy)"
  [[ -x node_modules/.bin/node ]] || ONNXRUNTIME_NODE_INSTALL=skip npm ci
  npx --no-install tsc -p tsconfig.json
  npx --no-install mocha --no-config --forbid-only --timeout 60000 'dist/test/deploy/**/*.test.js'
fi

step "deploy checks passed"
