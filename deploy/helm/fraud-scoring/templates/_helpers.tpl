{{/*
Chart name, truncated to 63 characters (the DNS label limit of Kubernetes names).
*/}}
{{- define "fraud-scoring.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: <release>-<chart>, or the release name alone when it
already contains the chart name; at most 63 characters.
*/}}
{{- define "fraud-scoring.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart label value: name-version, with "+" (not allowed in labels) replaced.
*/}}
{{- define "fraud-scoring.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "fraud-scoring.labels" -}}
helm.sh/chart: {{ include "fraud-scoring.chart" . }}
{{ include "fraud-scoring.selectorLabels" . }}
app.kubernetes.io/version: {{ (include "fraud-scoring.imageTag" .) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fraud-scoring
{{- end }}

{{/*
Selector labels: immutable on a Deployment, so they hold no version.
*/}}
{{- define "fraud-scoring.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fraud-scoring.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the ServiceAccount the pods run as.
*/}}
{{- define "fraud-scoring.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fraud-scoring.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Tag of the service image: the value, or the chart's appVersion.
*/}}
{{- define "fraud-scoring.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
An image reference from {registry, repository, tag, digest}: the digest wins
over the tag, and an empty registry leaves a local name (kind, minikube).
Call with (dict "image" .Values.image "defaultTag" "...").
*/}}
{{- define "fraud-scoring.imageRef" -}}
{{- $repository := .image.repository }}
{{- if .image.registry }}
{{- $repository = printf "%s/%s" .image.registry .image.repository }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repository .image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .defaultTag .image.tag) }}
{{- end }}
{{- end }}

{{/*
The service image.
*/}}
{{- define "fraud-scoring.image" -}}
{{- include "fraud-scoring.imageRef" (dict "image" .Values.image "defaultTag" .Chart.AppVersion) }}
{{- end }}

{{/*
The Envoy image.
*/}}
{{- define "fraud-scoring.envoyImage" -}}
{{- include "fraud-scoring.imageRef" (dict "image" .Values.envoy.image "defaultTag" "") }}
{{- end }}

{{/*
Name of the Secret holding the S3 key pair, or "" when the pods get no keys
(bundled models, IRSA, instance roles).
*/}}
{{- define "fraud-scoring.s3SecretName" -}}
{{- if .Values.s3.existingSecret }}
{{- .Values.s3.existingSecret }}
{{- else if .Values.s3.credentials.create }}
{{- printf "%s-s3" (include "fraud-scoring.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
s3://<bucket>/<ref>/<path> of one model's manifest (no ref segment when ref is empty).
*/}}
{{- define "fraud-scoring.modelUri" -}}
{{- $models := .root.Values.models }}
{{- $key := trimPrefix "/" .path }}
{{- if $models.ref }}
{{- $key = printf "%s/%s" (trimSuffix "/" (trimPrefix "/" $models.ref)) $key }}
{{- end }}
{{- printf "s3://%s/%s" $models.bucket $key }}
{{- end }}

{{/*
s3://<bucket>/<shadow ref>/<path> of one challenger's manifest (models.shadow.ref is its branch).
*/}}
{{- define "fraud-scoring.shadowModelUri" -}}
{{- $models := .root.Values.models }}
{{- printf "s3://%s/%s/%s" $models.bucket (trimSuffix "/" (trimPrefix "/" $models.shadow.ref)) (trimPrefix "/" .path) }}
{{- end }}

{{/*
Seconds the Envoy sidecar sleeps before SIGTERM: it must outlive the service's
preStop sleep plus its shutdown grace, so REST calls in flight can finish.
*/}}
{{- define "fraud-scoring.envoyPreStopSeconds" -}}
{{- if kindIs "invalid" .Values.envoy.preStopSleepSeconds }}
{{- add .Values.lifecycle.preStopSleepSeconds .Values.config.shutdownGraceSeconds 1 }}
{{- else }}
{{- .Values.envoy.preStopSleepSeconds }}
{{- end }}
{{- end }}

{{/*
Checks across values that a JSON schema cannot express; fails the render
with one line naming the values to fix.
*/}}
{{/*
Name of the Secret holding the Redis password: the existing one, the created one, or none.
*/}}
{{- define "fraud-scoring.redisSecretName" -}}
{{- if .Values.state.redis.existingSecret }}
{{- .Values.state.redis.existingSecret }}
{{- else if .Values.state.redis.password.create }}
{{- printf "%s-redis" (include "fraud-scoring.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
"true" when the embedded store keeps its snapshots on a PersistentVolumeClaim
(an existing one or the chart's), so a new pod reads the history the last one
wrote; "" otherwise.
*/}}
{{- define "fraud-scoring.historyPersists" -}}
{{- $snapshot := .Values.state.memory.snapshot }}
{{- if and (eq .Values.state.store "memory") $snapshot.enabled (or $snapshot.existingClaim $snapshot.persistence.create) }}true{{ end }}
{{- end }}

{{/*
Name of the snapshot claim: the existing one, or <fullname>-state created by the chart.
*/}}
{{- define "fraud-scoring.snapshotClaimName" -}}
{{- default (printf "%s-state" (include "fraud-scoring.fullname" .) | trunc 63 | trimSuffix "-") .Values.state.memory.snapshot.existingClaim }}
{{- end }}

{{/*
maxUnavailable of the PodDisruptionBudget: the value, or by default 1, except
with the embedded store whose snapshots are not on a claim: a drain would start
its history empty, so 0 makes `kubectl drain` stop and say so.
*/}}
{{- define "fraud-scoring.maxUnavailable" -}}
{{- $value := .Values.podDisruptionBudget.maxUnavailable }}
{{- if not (kindIs "invalid" $value) }}
{{- $value }}
{{- else if and (eq .Values.state.store "memory") (not (include "fraud-scoring.historyPersists" .)) }}
{{- 0 }}
{{- else }}
{{- 1 }}
{{- end }}
{{- end }}

{{- define "fraud-scoring.validate" -}}
{{- include "fraud-scoring.validateSecurity" . }}
{{- include "fraud-scoring.validateDecisionLog" . }}
{{- if eq .Values.state.store "memory" }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "state.store is memory (the embedded store) and replicaCount is %d: each pod would keep its own share of every card's history. Set replicaCount to 1, or state.store to redis to run several replicas on one history" (int .Values.replicaCount)) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "state.store is memory (the embedded store) and autoscaling.enabled is true: every pod the HPA adds would keep its own share of every card's history. Set autoscaling.enabled to false, or state.store to redis to scale on one history" }}
{{- end }}
{{- end }}
{{- $s3 := .Values.s3 }}
{{- if and $s3.existingSecret $s3.credentials.create }}
{{- fail "s3.existingSecret and s3.credentials.create are mutually exclusive: use one source of S3 credentials" }}
{{- end }}
{{- if and $s3.credentials.create (or (not $s3.credentials.accessKeyId) (not $s3.credentials.secretAccessKey)) }}
{{- fail "s3.credentials.create needs s3.credentials.accessKeyId and s3.credentials.secretAccessKey (pass them with --set-file or a values file outside git), or use s3.existingSecret" }}
{{- end }}
{{- if and (not $s3.credentials.create) (or $s3.credentials.accessKeyId $s3.credentials.secretAccessKey) }}
{{- fail "s3.credentials.accessKeyId/secretAccessKey are set but s3.credentials.create is false: they would be ignored" }}
{{- end }}
{{- range .Values.config.extraEnv }}
{{- if and (has .name (list "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" "AWS_SESSION_TOKEN")) (hasKey . "value") }}
{{- fail (printf "config.extraEnv: %s must come from a Secret (valueFrom.secretKeyRef, or s3.existingSecret), never a plain value" .name) }}
{{- end }}
{{- end }}
{{- $drain := add .Values.lifecycle.preStopSleepSeconds .Values.config.shutdownGraceSeconds }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $drain) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed lifecycle.preStopSleepSeconds + config.shutdownGraceSeconds (%d), or in-flight calls are killed" (int .Values.terminationGracePeriodSeconds) (int $drain)) }}
{{- end }}
{{- if and .Values.envoy.enabled (ge (int (include "fraud-scoring.envoyPreStopSeconds" .)) (int .Values.terminationGracePeriodSeconds)) }}
{{- fail (printf "envoy.preStopSleepSeconds (%s) must be below terminationGracePeriodSeconds (%d)" (include "fraud-scoring.envoyPreStopSeconds" .) (int .Values.terminationGracePeriodSeconds)) }}
{{- end }}
{{- $redis := .Values.state.redis }}
{{- if and (eq .Values.state.store "redis") (not $redis.url) (not $redis.sentinel.hosts) }}
{{- fail "state.store is redis but state.redis.url is empty (e.g. redis://redis-master.redis:6379/0), and so is state.redis.sentinel.hosts" }}
{{- end }}
{{- if and (eq .Values.state.store "redis") $redis.url $redis.sentinel.hosts }}
{{- fail "state.redis.url and state.redis.sentinel.hosts are mutually exclusive: the Sentinels name the primary, so set one or the other" }}
{{- end }}
{{- if and (eq .Values.state.store "redis") $redis.cluster $redis.sentinel.hosts }}
{{- fail "state.redis.cluster and state.redis.sentinel.hosts are mutually exclusive: a Redis Cluster elects its own primaries" }}
{{- end }}
{{- if and $redis.existingSecret $redis.password.create }}
{{- fail "state.redis.existingSecret and state.redis.password.create are mutually exclusive: use one source of the Redis password" }}
{{- end }}
{{- if and $redis.password.create (not $redis.password.value) }}
{{- fail "state.redis.password.create needs state.redis.password.value (pass it with --set-file or a values file outside git), or use state.redis.existingSecret" }}
{{- end }}
{{- if and (not $redis.password.create) $redis.password.value }}
{{- fail "state.redis.password.value is set but state.redis.password.create is false: it would be ignored" }}
{{- end }}
{{- range .Values.config.extraEnv }}
{{- if and (eq .name "FRAUD_REDIS_PASSWORD") (hasKey . "value") }}
{{- fail "config.extraEnv: FRAUD_REDIS_PASSWORD must come from a Secret (state.redis.existingSecret), never a plain value" }}
{{- end }}
{{- end }}
{{- if and (eq .Values.models.source "s3") (not .Values.models.bucket) }}
{{- fail "models.source is s3 but models.bucket is empty" }}
{{- end }}
{{- end }}
