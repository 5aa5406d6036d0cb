#!/usr/bin/env bash
# End-to-end test on a kind cluster, with the real Envoy and a real lakeFS:
#
#   1. build the image (unless --skip-build) and load it into kind;
#   2. run lakeFS (deploy/e2e/lakefs.yaml), create the repository fraud-models,
#      publish the bundled models on a branch with the pipeline's publish
#      command, commit, merge to main;
#   3. helm install the chart pointed at lakeFS (deploy/e2e/values-lakefs.yaml);
#   4. through Envoy: POST /predict and /predict_scenario with the original
#      service's body, 404 for unknown routes, 400 with BadRequest details, 413
#      above the body limit; gRPC Predict with grpcurl; grpc-health-probe;
#   5. publish and merge a second binary model while REST and gRPC calls run in
#      a loop, wait until answers carry the new lakeFS commit id, and require
#      zero failed calls; the scenario model, unchanged by that commit, must
#      report the new commit id without being reloaded;
#   6. helm upgrade to mutual TLS with bearer tokens (a throwaway CA made with
#      openssl): the pods become ready through the probe on the health port; gRPC
#      and REST (through Envoy, TLS on both hops) answer only clients with a
#      certificate of the CA; writes pass with the allowed certificate or, on
#      REST, a bearer token, and are refused otherwise.
#
# Needs docker, kind, kubectl, helm, jq, curl, openssl, grpcurl,
# grpc-health-probe, Node.js and npm (the load generator, deploy/e2e/load.mjs) and
# Python >= 3.11 (training/run builds the pipeline's venv).
#
#   deploy/e2e/run.sh [--skip-build] [--delete-cluster]
#
# Environment: E2E_CLUSTER (fraud-e2e), E2E_NAMESPACE (fraud-e2e), E2E_IMAGE
# (fraud-scoring:e2e). The namespace is recreated on every run; the cluster is
# kept for another run unless --delete-cluster.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
if command -v go >/dev/null 2>&1; then
  PATH="$(go env GOPATH | cut -d: -f1)/bin:$PATH"
fi

cluster=${E2E_CLUSTER:-fraud-e2e}
namespace=${E2E_NAMESPACE:-fraud-e2e}
image=${E2E_IMAGE:-fraud-scoring:e2e}
release=fraud
service="${release}-fraud-scoring"
context="kind-${cluster}"
build=1
delete_cluster=0
for argument in "$@"; do
  case "$argument" in
    --skip-build) build=0 ;;
    --delete-cluster) delete_cluster=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "run.sh: unknown argument $argument (try --help)" >&2
      exit 2
      ;;
  esac
done

# The original service's request body.
readonly body='{"transaction_id": 1, "customer_id": 42, "terminal_id": 7, "tx_amount": 250.0, "tx_time_seconds": 3600, "tx_time_days": 0}'
readonly rest=http://127.0.0.1:18080
readonly grpc=127.0.0.1:18051

work=$(mktemp -d)
background=()

step() { printf '\n=== %s\n' "$*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
k() { kubectl --context "$context" --namespace "$namespace" "$@"; }

on_exit() {
  local status=$?
  touch "$work/stop"
  for pid in "${background[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  if ((status != 0)) && kubectl config get-contexts "$context" >/dev/null 2>&1; then
    echo "--- diagnostics (exit $status)" >&2
    k get pods,services,endpoints -o wide >&2 || true
    k describe pods >&2 || true
    k get events --sort-by=.lastTimestamp >&2 || true
    k logs "deployment/${service}" -c fraud-scoring --tail=200 >&2 || true
    k logs "deployment/${service}" -c envoy --tail=100 >&2 || true
    k logs deployment/lakefs --tail=100 >&2 || true
    for log in "$work"/*.log; do
      [[ -s "$log" ]] && { echo "--- $log" >&2; tail -n 50 "$log" >&2; }
    done
  fi
  if ((delete_cluster)); then
    kind delete cluster --name "$cluster" || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap on_exit EXIT

# kubectl port-forward in the background; waits until the first port answers.
port_forward() {
  local target=$1 name=$2
  shift 2
  k port-forward "$target" "$@" >"$work/port-forward-$name.log" 2>&1 &
  background+=("$!")
  local port=${1%%:*}
  for _ in $(seq 1 60); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  fail "port-forward to $target did not open port $port"
}

# POST a JSON body through Envoy; prints the HTTP status, the answer goes to $work/answer.json.
post() {
  curl -sS -o "$work/answer.json" -w '%{http_code}' --max-time 10 -X POST "$rest$1" \
    -H 'content-type: application/json' --data-binary "$2"
}

expect_json() {
  local description=$1 filter=$2
  jq -e "$filter" "$work/answer.json" >/dev/null || fail "$description: $(cat "$work/answer.json")"
  echo "ok: $description"
}

publish() {
  local message=$1
  shift
  python3 deploy/lakefs/publish-version.py --lakefs http://127.0.0.1:18000 --repository fraud-models \
    --create-repository --storage-namespace local://fraud-models --message "$message" \
    --publisher "training/run publish" "$@" | tail -n 1
}

step "prerequisites"
missing=()
for tool in docker kind kubectl helm jq curl openssl grpcurl grpc-health-probe python3 node npm; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "run.sh: missing ${missing[*]}. Go tools: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4" \
    "github.com/grpc-ecosystem/grpc-health-probe@v0.4.62 helm.sh/helm/v3/cmd/helm@v3.22.0 sigs.k8s.io/kind@v0.33.0" >&2
  exit 1
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || fail "python3 must be >= 3.11"
# The load generator uses the generated gRPC client in dist/.
[[ -x node_modules/.bin/node ]] || ONNXRUNTIME_NODE_INSTALL=skip npm ci
npm run --silent build

if ((build)); then
  step "build $image"
  docker build -t "$image" --build-arg VERSION=e2e --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)" .
fi

step "kind cluster $cluster"
if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --wait 180s
fi
kind load docker-image "$image" --name "$cluster"

step "namespace $namespace with fresh lakeFS keys"
kubectl --context "$context" delete namespace "$namespace" --ignore-not-found --wait=true
kubectl --context "$context" create namespace "$namespace"
AWS_ACCESS_KEY_ID="AKIAE2E$(openssl rand -hex 7 | tr 'a-f' 'A-F')"
AWS_SECRET_ACCESS_KEY=$(openssl rand -hex 20)
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
# From a file descriptor, never the command line: the keys stay out of ps and logs.
k create secret generic lakefs-e2e --from-env-file=<(
  printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nLAKEFS_AUTH_ENCRYPT_SECRET_KEY=%s\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$(openssl rand -hex 32)"
) >/dev/null

step "lakeFS"
k apply -f deploy/e2e/lakefs.yaml
k rollout status deployment/lakefs --timeout=300s
port_forward service/lakefs lakefs 18000:8000

step "publish the bundled models to lakeFS main (branch, publish, commit, merge)"
first_commit=$(publish "e2e: bundled models" models/fraud-binary.json models/fraud-scenario.json)
[[ "$first_commit" =~ ^[0-9a-f]{6,64}$ ]] || fail "no commit id from the first publish: $first_commit"
echo "main is at $first_commit"

step "helm install $release"
helm --kube-context "$context" upgrade --install "$release" deploy/helm/fraud-scoring --namespace "$namespace" \
  --values deploy/e2e/values-lakefs.yaml --wait --timeout 5m
k rollout status "deployment/$service" --timeout=300s
port_forward "service/$service" service 18080:8080 18051:50051

step "REST through Envoy"
status=$(post /predict "$body")
[[ "$status" == 200 ]] || fail "POST /predict answered $status: $(cat "$work/answer.json")"
expect_json "POST /predict labels the original body FRAUD" '.prediction == "FRAUD"'
expect_json "POST /predict has class_probability in [0.5, 1]" '(.class_probability | type) == "number" and .class_probability >= 0.5 and .class_probability <= 1'
expect_json "POST /predict answers with snake_case keys and the int64 id as a string" '.transaction_id == "1" and (.class_id | type) == "number" and (.fraud_probability | type) == "number"'
expect_json "POST /predict names the model and the lakeFS commit it came from" ".model.name == \"fraud-binary\" and .model.revision == \"$first_commit\""

status=$(post /predict_scenario "$body")
[[ "$status" == 200 ]] || fail "POST /predict_scenario answered $status: $(cat "$work/answer.json")"
expect_json "POST /predict_scenario answers scenario_1 with the scenario model" '.prediction == "scenario_1" and .model.name == "fraud-scenario"'
expect_json "POST /predict_scenario has class_probability in (0, 1]" '.class_probability > 0 and .class_probability <= 1 and (.probabilities | length) == 4'

status=$(post /v1/predict "$body")
[[ "$status" == 200 ]] || fail "POST /v1/predict answered $status"
curl -sSf --max-time 10 "$rest/v1/models" -o "$work/answer.json" || fail "GET /v1/models failed"
expect_json "GET /v1/models lists both serving models" '[.models[].serving] == [true, true]'

status=$(post /no/such/route "$body")
[[ "$status" == 404 ]] || fail "an unknown route answered $status, not 404"
echo "ok: an unknown route answers 404"
status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$rest/predict")
[[ "$status" == 404 ]] || fail "GET /predict answered $status, not 404"
echo "ok: GET /predict (wrong method) answers 404"

status=$(post /predict '{"transaction_id": 1, "customer_id": 42, "terminal_id": 7, "tx_amount": -5, "tx_time_seconds": 3600}')
[[ "$status" == 400 ]] || fail "a negative amount answered $status, not 400: $(cat "$work/answer.json")"
expect_json "400 carries google.rpc.BadRequest naming tx_amount" \
  '.code == 3 and (.details[0]["@type"] == "type.googleapis.com/google.rpc.BadRequest") and ((.details[0].field_violations // .details[0].fieldViolations)[0].field | test("tx_amount"))'
status=$(post /predict '{"transaction_id": 1,')
[[ "$status" == 400 ]] || fail "malformed JSON answered $status, not 400"
echo "ok: malformed JSON answers 400"
head -c 5242880 /dev/zero | tr '\0' 'a' >"$work/padding"
{ printf '{"transaction_id": 1, "customer_id": "'; cat "$work/padding"; printf '"}'; } >"$work/big.json"
# Envoy answers before the upload ends, so curl may also report a reset: the status is what counts.
status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 -X POST "$rest/predict" -H 'content-type: application/json' --data-binary "@$work/big.json" || true)
[[ "$status" == 413 ]] || fail "a 5 MiB body answered $status, not 413"
echo "ok: a body above the limit answers 413"

step "gRPC"
grpc_body="{\"transaction\": $body}"
grpcurl -plaintext -d "$grpc_body" "$grpc" fraud.v1.FraudService/Predict >"$work/answer.json"
expect_json "grpcurl Predict labels the body FRAUD" '.prediction == "FRAUD"'
grpc-health-probe -addr "$grpc" -service fraud.v1.FraudService
grpc-health-probe -addr "$grpc"

step "publish a second binary model while calls run"
rm -f "$work/stop"
node deploy/e2e/load.mjs --rest "$rest" --grpc "$grpc" --stop "$work/stop" --out "$work/load.json" &
load=$!
background+=("$load")
sleep 2

# The fixture's manifest is named fraud-binary, so it lands at models/fraud-binary.json
# and points to its own .onnx next to it.
second_commit=$(publish "e2e: binary model 2.0.0" test/fixtures/models/binary-zipmap-f32-v2.json)
[[ "$second_commit" =~ ^[0-9a-f]{6,64}$ && "$second_commit" != "$first_commit" ]] || fail "no new commit from the second publish: $second_commit"
echo "main is at $second_commit"

swapped=0
for _ in $(seq 1 60); do
  if [[ "$(post /predict "$body")" == 200 ]] && jq -e ".model.revision == \"$second_commit\" and .model.version == \"2.0.0\"" "$work/answer.json" >/dev/null; then
    swapped=1
    break
  fi
  sleep 1
done
((swapped)) || fail "answers never switched to commit $second_commit: $(cat "$work/answer.json")"
echo "ok: POST /predict answers with model 2.0.0 from commit $second_commit"
sleep 3
touch "$work/stop"
wait "$load" || fail "the load generator failed"
jq -c '{rest: (.rest | {ok, failed, revisions}), grpc: (.grpc | {ok, failed, revisions}), errors}' "$work/load.json"
jq -e '.rest.failed == 0 and .grpc.failed == 0' "$work/load.json" >/dev/null || fail "calls failed during the model swap"
jq -e '.rest.ok >= 50 and .grpc.ok >= 50' "$work/load.json" >/dev/null || fail "too few calls ran during the swap to prove anything"
jq -e --arg old "$first_commit" --arg new "$second_commit" \
  '[.rest, .grpc] | all(.revisions | has($old) and has($new))' "$work/load.json" >/dev/null ||
  fail "the calls under load did not see both commits, $first_commit then $second_commit"
echo "ok: no call failed while the binary model moved from $first_commit to $second_commit"

# The second commit left the scenario model byte for byte the same: it moves to
# the new commit id without a reload (no new session, no swap).
status=$(post /predict_scenario "$body")
[[ "$status" == 200 ]] || fail "POST /predict_scenario answered $status after the second publish"
expect_json "POST /predict_scenario names the new commit for the unchanged scenario model" ".model.revision == \"$second_commit\""
logs=$(k logs "deployment/${service}" -c fraud-scoring)
grep -q '"task":"multiclass".*"msg":"model unchanged in the new version; not reloaded"' <<<"$logs" ||
  fail "the service did not log that the unchanged scenario model was kept"
if grep -q '"task":"multiclass".*"msg":"model swapped"' <<<"$logs"; then
  fail "the unchanged scenario model was reloaded"
fi
echo "ok: the scenario model, unchanged by the second commit, was not reloaded"

step "mutual TLS and bearer tokens (helm upgrade)"
tls_dir="$work/tls"
mkdir -p "$tls_dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=fraud-e2e-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$tls_dir/ca.key" -out "$tls_dir/ca.crt" 2>/dev/null
# issue <file> <common name> <subjectAltName> <extendedKeyUsage>
issue() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
    -keyout "$tls_dir/$1.key" -out "$tls_dir/$1.csr" 2>/dev/null
  printf 'extendedKeyUsage=%s\nsubjectAltName=%s\n' "$4" "$3" >"$tls_dir/$1.ext"
  openssl x509 -req -in "$tls_dir/$1.csr" -CA "$tls_dir/ca.crt" -CAkey "$tls_dir/ca.key" -CAcreateserial \
    -days 1 -extfile "$tls_dir/$1.ext" -out "$tls_dir/$1.crt" 2>/dev/null
}
authority="${service}.${namespace}.svc"
# The pod's certificate serves and is presented as a client by the probe and Envoy.
issue pod "$authority" "DNS:$authority,DNS:${service}-grpc.${namespace}.svc" serverAuth,clientAuth
issue writer writer.e2e DNS:writer.e2e clientAuth
issue reader reader.e2e DNS:reader.e2e clientAuth
k create secret generic fraud-e2e-tls --type=kubernetes.io/tls --from-file=tls.crt="$tls_dir/pod.crt" \
  --from-file=tls.key="$tls_dir/pod.key" --from-file=ca.crt="$tls_dir/ca.crt"
token=$(openssl rand -hex 24)
printf 'e2e-rest %s\n' "$token" >"$tls_dir/tokens"
k create secret generic fraud-e2e-tokens --from-file=tokens="$tls_dir/tokens"
helm --kube-context "$context" upgrade "$release" deploy/helm/fraud-scoring --namespace "$namespace" \
  --values deploy/e2e/values-lakefs.yaml --set tls.enabled=true --set tls.existingSecret=fraud-e2e-tls \
  --set tls.mutual=true --set 'auth.clientNames={writer.e2e}' --set auth.tokens.existingSecret=fraud-e2e-tokens \
  --wait --timeout 5m
k rollout status "deployment/$service" --timeout=300s
echo "ok: the pods are ready through the gRPC probe on the plaintext health port"
port_forward "service/$service" tls 18443:8080 18052:50051
readonly rest_tls="https://$authority:8080"
# curl over TLS to the forwarded REST port, the name checked being the Service's.
tls_curl() {
  curl -sS --max-time 10 --cacert "$tls_dir/ca.crt" --connect-to "$authority:8080:127.0.0.1:18443" "$@"
}
grpc_tls=(-cacert "$tls_dir/ca.crt" -authority "$authority")

status=$(tls_curl --cert "$tls_dir/reader.crt" --key "$tls_dir/reader.key" -o "$work/answer.json" -w '%{http_code}' \
  -X POST "$rest_tls/predict" -H 'content-type: application/json' --data-binary "$body")
[[ "$status" == 200 ]] || fail "POST /predict over TLS answered $status: $(cat "$work/answer.json")"
expect_json "POST /predict over mutual TLS (Envoy to the service over TLS too) labels the body FRAUD" '.prediction == "FRAUD"'
if tls_curl -o /dev/null "$rest_tls/v1/models" 2>/dev/null; then
  fail "REST answered a client without a certificate"
fi
echo "ok: REST refuses a client without a certificate"
grpcurl "${grpc_tls[@]}" -cert "$tls_dir/reader.crt" -key "$tls_dir/reader.key" -d "$grpc_body" \
  127.0.0.1:18052 fraud.v1.FraudService/Predict >"$work/answer.json"
expect_json "grpcurl Predict over mutual TLS labels the body FRAUD" '.prediction == "FRAUD"'
if grpcurl "${grpc_tls[@]}" -d "$grpc_body" 127.0.0.1:18052 fraud.v1.FraudService/Predict >/dev/null 2>&1; then
  fail "gRPC answered a client without a certificate"
fi
echo "ok: gRPC refuses a client without a certificate"

# Writes: transaction 9001 is scored and reported through REST, 9002 through gRPC.
outcome='{"transaction_id": "9001", "outcome": "OUTCOME_FRAUD", "known_at_seconds": "7200"}'
status=$(tls_curl --cert "$tls_dir/reader.crt" --key "$tls_dir/reader.key" -o "$work/answer.json" -w '%{http_code}' \
  -X POST "$rest_tls/predict" -H 'content-type: application/json' --data-binary "${body/\"transaction_id\": 1,/\"transaction_id\": 9001,}")
[[ "$status" == 200 ]] || fail "POST /predict of transaction 9001 answered $status: $(cat "$work/answer.json")"
status=$(tls_curl --cert "$tls_dir/reader.crt" --key "$tls_dir/reader.key" -o "$work/answer.json" -w '%{http_code}' \
  -X POST "$rest_tls/v1/outcomes" -H 'content-type: application/json' --data-binary "$outcome")
[[ "$status" == 403 ]] || fail "POST /v1/outcomes without a token answered $status (Envoy's certificate must not write): $(cat "$work/answer.json")"
echo "ok: POST /v1/outcomes without a token is refused (403): Envoy's own certificate cannot write"
status=$(tls_curl --cert "$tls_dir/reader.crt" --key "$tls_dir/reader.key" -o "$work/answer.json" -w '%{http_code}' \
  -X POST "$rest_tls/v1/outcomes" -H 'content-type: application/json' -H @<(printf 'authorization: Bearer %s\n' "$token") \
  --data-binary "$outcome")
[[ "$status" == 200 ]] || fail "POST /v1/outcomes with the token answered $status: $(cat "$work/answer.json")"
expect_json "POST /v1/outcomes with the bearer token (passed on by Envoy) is applied" '.result.status == "OUTCOME_STATUS_APPLIED"'
grpcurl "${grpc_tls[@]}" -cert "$tls_dir/writer.crt" -key "$tls_dir/writer.key" \
  -d "{\"transaction\": ${body/\"transaction_id\": 1,/\"transaction_id\": 9002,}}" 127.0.0.1:18052 fraud.v1.FraudService/Predict >/dev/null
grpc_outcome='{"outcome": {"transaction_id": "9002", "outcome": "OUTCOME_FRAUD", "known_at_seconds": "7200"}}'
if grpcurl "${grpc_tls[@]}" -cert "$tls_dir/reader.crt" -key "$tls_dir/reader.key" -d "$grpc_outcome" \
  127.0.0.1:18052 fraud.v1.FraudService/ReportOutcome >"$work/refused.txt" 2>&1; then
  fail "ReportOutcome from a certificate not in auth.clientNames was allowed"
fi
grep -q PermissionDenied "$work/refused.txt" || fail "ReportOutcome from another certificate: $(cat "$work/refused.txt")"
grpcurl "${grpc_tls[@]}" -cert "$tls_dir/writer.crt" -key "$tls_dir/writer.key" -d "$grpc_outcome" \
  127.0.0.1:18052 fraud.v1.FraudService/ReportOutcome >"$work/answer.json"
expect_json "ReportOutcome from the certificate auth.clientNames names is applied" '.result.status == "OUTCOME_STATUS_APPLIED"'

step "e2e passed"
