#!/usr/bin/env bash
# Copies the API's descriptor set (src/gen/fraud.binpb, written by
# `npm run generate`) into the Helm chart, whose ConfigMap hands it to Envoy's
# gRPC-JSON transcoder. Helm packages only files inside the chart, hence a copy;
# test/deploy fails when the two differ.
#
#   scripts/sync-chart-descriptor.sh           copy
#   scripts/sync-chart-descriptor.sh --check   exit 1 when the copy is stale
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source_file="$root/src/gen/fraud.binpb"
chart_file="$root/deploy/helm/fraud-scoring/files/fraud.binpb"

case "${1:-}" in
  --check)
    if ! cmp -s "$source_file" "$chart_file"; then
      echo "deploy/helm/fraud-scoring/files/fraud.binpb differs from src/gen/fraud.binpb: run scripts/sync-chart-descriptor.sh" >&2
      exit 1
    fi
    ;;
  "")
    cp "$source_file" "$chart_file"
    ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
