#!/usr/bin/env bash
# Copies the alert rules (deploy/prometheus/fraud-scoring.rules.yaml) and the
# Grafana dashboard (deploy/grafana/fraud-scoring.json) into the Helm chart,
# whose PrometheusRule and dashboard ConfigMap are rendered from them. Helm
# packages only files inside the chart, hence copies; the files under deploy/
# are the ones to edit, and test/deploy fails when a copy differs.
#
#   scripts/sync-chart-monitoring.sh           copy
#   scripts/sync-chart-monitoring.sh --check   exit 1 when a copy is stale
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chart_files="$root/deploy/helm/fraud-scoring/files"
pairs=(
  "deploy/prometheus/fraud-scoring.rules.yaml prometheus/fraud-scoring.rules.yaml"
  "deploy/grafana/fraud-scoring.json grafana/fraud-scoring.json"
)

case "${1:-}" in
  --check)
    stale=0
    for pair in "${pairs[@]}"; do
      read -r source copy <<<"$pair"
      if ! cmp -s "$root/$source" "$chart_files/$copy"; then
        echo "deploy/helm/fraud-scoring/files/$copy differs from $source: run scripts/sync-chart-monitoring.sh" >&2
        stale=1
      fi
    done
    exit "$stale"
    ;;
  "")
    for pair in "${pairs[@]}"; do
      read -r source copy <<<"$pair"
      mkdir -p "$(dirname "$chart_files/$copy")"
      cp "$root/$source" "$chart_files/$copy"
    done
    ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
