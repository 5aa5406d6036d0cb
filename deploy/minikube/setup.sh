#!/usr/bin/env bash
# Installs fraud-scoring into minikube: the successor of the original service's
# kube_setup.sh. Safe to run again: it starts minikube only if it is not
# running, rebuilds the image, updates the Secret and upgrades the release.
#
#   deploy/minikube/setup.sh [options]
#
#   -n, --namespace NAME   namespace (default $FRAUD_NAMESPACE or "fraud")
#   -r, --release NAME     Helm release (default $FRAUD_RELEASE or "fraud")
#   -f, --values FILE      extra values file, after deploy/minikube/values.yaml (repeatable)
#       --set KEY=VALUE    extra Helm value (repeatable)
#   -p, --profile NAME     minikube profile (default $MINIKUBE_PROFILE or "minikube")
#       --no-build         deploy the image already in minikube (tag from --set image.tag=...)
#   -h, --help             this help
#
# S3 / lakeFS keys: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and the
# script stores them in the Secret fraud-scoring-s3 (never on a command line,
# never printed) and points the chart at it. Model source settings go in a
# values file, e.g. deploy/helm/fraud-scoring/ci/lakefs-values.yaml with your
# endpoints. Without them the bundled models are served.
# Extra `minikube start` flags: $MINIKUBE_START_ARGS (default "--cpus 2 --memory 4096").
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

namespace=${FRAUD_NAMESPACE:-fraud}
release=${FRAUD_RELEASE:-fraud}
profile=${MINIKUBE_PROFILE:-minikube}
build=1
values=(--values deploy/minikube/values.yaml)
sets=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
die() {
  echo "setup.sh: $*" >&2
  exit 1
}

while (($#)); do
  case "$1" in
    -n | --namespace) namespace=${2:?"$1 needs a value"}; shift 2 ;;
    -r | --release) release=${2:?"$1 needs a value"}; shift 2 ;;
    -f | --values) [[ -f "${2:?"$1 needs a file"}" ]] || die "no values file $2"; values+=(--values "$2"); shift 2 ;;
    --set) sets+=(--set "${2:?"--set needs KEY=VALUE"}"); shift 2 ;;
    -p | --profile) profile=${2:?"$1 needs a value"}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

step() { printf '\n=== %s\n' "$*"; }

step "prerequisites"
missing=()
command -v minikube >/dev/null 2>&1 || missing+=("minikube (https://minikube.sigs.k8s.io/docs/start/)")
command -v kubectl >/dev/null 2>&1 || missing+=("kubectl (https://kubernetes.io/docs/tasks/tools/)")
command -v helm >/dev/null 2>&1 || missing+=("helm >= 3.14 (https://helm.sh/docs/intro/install/ or: go install helm.sh/helm/v3/cmd/helm@v3.22.0)")
command -v docker >/dev/null 2>&1 || missing+=("docker (https://docs.docker.com/get-docker/), minikube's default driver")
if ((${#missing[@]})); then
  printf 'setup.sh: missing:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
if [[ -n "${AWS_ACCESS_KEY_ID:-}" && -z "${AWS_SECRET_ACCESS_KEY:-}" ]] || [[ -z "${AWS_ACCESS_KEY_ID:-}" && -n "${AWS_SECRET_ACCESS_KEY:-}" ]]; then
  die "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither"
fi

step "minikube ($profile)"
if minikube status --profile "$profile" >/dev/null 2>&1; then
  echo "already running"
else
  # Word splitting of the start flags is intended.
  # shellcheck disable=SC2086
  minikube start --profile "$profile" ${MINIKUBE_START_ARGS:---cpus 2 --memory 4096}
fi
# An HPA (with state.store redis) needs CPU metrics.
minikube addons enable metrics-server --profile "$profile" >/dev/null
kube=(kubectl --context "$profile")

if ((build)); then
  # A new tag per source state, so an upgrade rolls the pods when the code changed.
  tag="dev-$(git rev-parse --short HEAD 2>/dev/null || echo local)"
  if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then
    tag="${tag}-$(date +%Y%m%d%H%M%S)"
  fi
  revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
  step "build fraud-scoring:$tag inside minikube"
  runtime=$("${kube[@]}" get nodes -o jsonpath='{.items[0].status.nodeInfo.containerRuntimeVersion}')
  if [[ "$runtime" == docker://* ]]; then
    # Build with this machine's BuildKit client straight into minikube's Docker
    # daemon: the Dockerfile needs BuildKit (cache mounts, platform arguments).
    eval "$(minikube docker-env --profile "$profile" --shell bash)"
    DOCKER_BUILDKIT=1 docker build -t "fraud-scoring:$tag" --build-arg "VERSION=$tag" --build-arg "REVISION=$revision" .
  else
    # containerd or CRI-O: minikube builds with BuildKit inside the node.
    minikube image build --profile "$profile" -t "fraud-scoring:$tag" \
      --build-opt "build-arg=VERSION=$tag" --build-opt "build-arg=REVISION=$revision" .
  fi
  sets+=(--set image.registry= --set image.repository=fraud-scoring --set "image.tag=$tag")
fi

step "namespace $namespace"
"${kube[@]}" create namespace "$namespace" --dry-run=client -o yaml | "${kube[@]}" apply -f - >/dev/null

if [[ -n "${AWS_ACCESS_KEY_ID:-}" ]]; then
  step "Secret fraud-scoring-s3 from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
  # The keys go through a file descriptor: not in ps, not in shell traces, not printed.
  "${kube[@]}" --namespace "$namespace" create secret generic fraud-scoring-s3 --dry-run=client -o yaml \
    --from-env-file=<(printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY") |
    "${kube[@]}" apply -f - >/dev/null
  sets+=(--set s3.existingSecret=fraud-scoring-s3)
fi

step "helm upgrade --install $release"
helm upgrade --install "$release" deploy/helm/fraud-scoring --kube-context "$profile" --namespace "$namespace" \
  "${values[@]}" "${sets[@]}" --wait --timeout 5m
deployment=$("${kube[@]}" --namespace "$namespace" get deployment -l "app.kubernetes.io/instance=$release" -o name)
service=$("${kube[@]}" --namespace "$namespace" get service -l "app.kubernetes.io/instance=$release" -o name)
[[ -n "$deployment" && -n "$service" ]] || die "release $release has no Deployment or Service in $namespace"
"${kube[@]}" --namespace "$namespace" rollout status "$deployment" --timeout=300s

body='{"transaction_id": 1, "customer_id": 42, "terminal_id": 7, "tx_amount": 250.0, "tx_time_seconds": 3600, "tx_time_days": 0}'
cat <<EOF

fraud-scoring is running in minikube ($profile), namespace $namespace.

gRPC:
  kubectl --context $profile -n $namespace port-forward $service 50051:50051
  grpcurl -plaintext -d '{"transaction": $body}' localhost:50051 fraud.v1.FraudService/Predict

REST (Envoy):
  kubectl --context $profile -n $namespace port-forward $service 8080:8080
  curl -s -X POST localhost:8080/predict -H 'content-type: application/json' -d '$body'
  curl -s -X POST localhost:8080/predict_scenario -H 'content-type: application/json' -d '$body'

Models and health:
  grpcurl -plaintext localhost:50051 fraud.v1.FraudService/GetModelInfo
  grpc-health-probe -addr localhost:50051 -service fraud.v1.FraudService
EOF
