{{/*
Helpers of transport security, authentication and the NetworkPolicy.
*/}}

{{/*
Where the pods mount the TLS Secret (as a directory, so rotations arrive) and
the bearer tokens.
*/}}
{{- define "fraud-scoring.tlsDir" -}}/etc/fraud-tls{{- end }}
{{- define "fraud-scoring.tokensDir" -}}/etc/fraud-auth{{- end }}

{{/*
Name of the Secret holding the certificate: the existing one, or the one the
chart's cert-manager Certificate writes; "" without TLS.
*/}}
{{- define "fraud-scoring.tlsSecretName" -}}
{{- if .Values.tls.enabled }}
{{- if .Values.tls.certManager.enabled }}
{{- printf "%s-tls" (include "fraud-scoring.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- .Values.tls.existingSecret }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the bearer tokens: the existing one, the created one, or none.
*/}}
{{- define "fraud-scoring.tokensSecretName" -}}
{{- if .Values.auth.tokens.existingSecret }}
{{- .Values.auth.tokens.existingSecret }}
{{- else if .Values.auth.tokens.create }}
{{- printf "%s-auth" (include "fraud-scoring.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
DNS names of the Services, short and fully qualified: the names a client in the
cluster dials, so the certificate the chart requests must hold each of them.
*/}}
{{- define "fraud-scoring.serviceDnsNames" -}}
{{- $fullname := include "fraud-scoring.fullname" . }}
{{- $services := list $fullname }}
{{- if .Values.service.headless.enabled }}
{{- $services = append $services (printf "%s-grpc" $fullname) }}
{{- end }}
{{- $names := list }}
{{- range $services }}
{{- $names = concat $names (list . (printf "%s.%s" . $.Release.Namespace) (printf "%s.%s.svc" . $.Release.Namespace) (printf "%s.%s.svc.%s" . $.Release.Namespace $.Values.tls.clusterDomain)) }}
{{- end }}
{{- toJson (concat $names .Values.tls.certManager.extraDnsNames) }}
{{- end }}

{{/*
The scoring container's readiness probe. The kubelet's native gRPC probe
cannot speak TLS, so with tls.enabled a `grpc:` probe asks the same question
(gRPC health of the same service name, the same statuses) on the plaintext
health-only port, tls.healthPort (FRAUD_HEALTH_PORT). With tls.readinessOverTls
it becomes instead an exec of the image's grpc_health_probe over TLS on the gRPC
port; with tls.mutual it presents the pod's own certificate. That probe does not
verify the server certificate: the question is whether this process serves, and
the certificate's expiry is watched by its own metric
(fraud_tls_certificate_expiry_timestamp_seconds), not by pulling every pod out of
the endpoints at the same second.
*/}}
{{- define "fraud-scoring.readinessProbe" -}}
{{- $probe := deepCopy .Values.readinessProbe }}
{{- if and .Values.tls.enabled $probe (hasKey $probe "grpc") (not .Values.tls.readinessOverTls) }}
{{- $_ := set $probe "grpc" (merge (dict "port" (int .Values.tls.healthPort)) (omit (get $probe "grpc") "port")) }}
{{- else if and .Values.tls.enabled $probe (hasKey $probe "grpc") }}
{{- $grpc := get $probe "grpc" }}
{{- /* Half the probe's timeout each to connect and to answer, so the probe ends (and says why) before the kubelet kills it. */}}
{{- $timeout := printf "%dms" (div (mul (int (default 1 $probe.timeoutSeconds)) 1000) 2) }}
{{- $dir := include "fraud-scoring.tlsDir" . }}
{{- $command := list "/usr/local/bin/grpc_health_probe" (printf "-addr=127.0.0.1:%d" (int $grpc.port)) }}
{{- with $grpc.service }}
{{- $command = append $command (printf "-service=%s" .) }}
{{- end }}
{{- $command = concat $command (list (printf "-connect-timeout=%s" $timeout) (printf "-rpc-timeout=%s" $timeout) "-tls" "-tls-no-verify") }}
{{- if .Values.tls.mutual }}
{{- $command = concat $command (list (printf "-tls-client-cert=%s/tls.crt" $dir) (printf "-tls-client-key=%s/tls.key" $dir)) }}
{{- end }}
{{- $_ := unset $probe "grpc" }}
{{- $_ := set $probe "exec" (dict "command" $command) }}
{{- end }}
{{- with $probe }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
Checks of the security values that a JSON schema cannot express; one line
naming the values to fix.
*/}}
{{- define "fraud-scoring.validateSecurity" -}}
{{- $tls := .Values.tls }}
{{- $auth := .Values.auth }}
{{- if $tls.enabled }}
{{- if and $tls.existingSecret $tls.certManager.enabled }}
{{- fail "tls.existingSecret and tls.certManager.enabled are mutually exclusive: use one source of the certificate" }}
{{- end }}
{{- if and (not $tls.existingSecret) (not $tls.certManager.enabled) }}
{{- fail "tls.enabled needs tls.existingSecret (a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt) or tls.certManager.enabled" }}
{{- end }}
{{- if has (int $tls.healthPort) (list 50051 9464 (int .Values.envoy.probePort) (int .Values.envoy.adminPort) 8080) }}
{{- fail (printf "tls.healthPort (%d) is a port the pod already uses (gRPC 50051, metrics 9464, Envoy's 8080, probe and admin ports)" (int $tls.healthPort)) }}
{{- end }}
{{- if and $tls.certManager.enabled (not $tls.certManager.issuerRef.name) }}
{{- fail "tls.certManager.enabled needs tls.certManager.issuerRef.name (the Issuer or ClusterIssuer that signs the certificate)" }}
{{- end }}
{{- else }}
{{- if $tls.mutual }}
{{- fail "tls.mutual is true but tls.enabled is false: mutual TLS needs TLS" }}
{{- end }}
{{- if or $tls.existingSecret $tls.certManager.enabled }}
{{- fail "tls.existingSecret or tls.certManager.enabled is set but tls.enabled is false: the certificate would be ignored" }}
{{- end }}
{{- end }}
{{- $tokens := $auth.tokens }}
{{- if and $tokens.existingSecret $tokens.create }}
{{- fail "auth.tokens.existingSecret and auth.tokens.create are mutually exclusive: use one source of the bearer tokens" }}
{{- end }}
{{- if and $tokens.create (not $tokens.value) }}
{{- fail "auth.tokens.create needs auth.tokens.value (pass it with --set-file auth.tokens.value=<file> or a values file outside git), or use auth.tokens.existingSecret" }}
{{- end }}
{{- if and (not $tokens.create) $tokens.value }}
{{- fail "auth.tokens.value is set but auth.tokens.create is false: it would be ignored" }}
{{- end }}
{{- $credentials := or (include "fraud-scoring.tokensSecretName" .) (and $tls.enabled $tls.mutual) }}
{{- if and (eq $auth.writes "authenticated") (not $credentials) }}
{{- fail "auth.writes is authenticated but no caller could authenticate: set auth.tokens.existingSecret (or auth.tokens.create) or tls.mutual" }}
{{- end }}
{{- if and (eq $auth.reads "authenticated") (not $credentials) }}
{{- fail "auth.reads is authenticated but no caller could authenticate: set auth.tokens.existingSecret (or auth.tokens.create) or tls.mutual" }}
{{- end }}
{{- if and (eq $auth.reads "authenticated") (eq $auth.writes "open") }}
{{- fail "auth.writes is open while auth.reads is authenticated: writes change every later score, so they cannot be more open than reads" }}
{{- end }}
{{- if and $auth.clientNames (not (and $tls.enabled $tls.mutual)) }}
{{- fail "auth.clientNames is set but tls.mutual is false: there are no client certificates to match" }}
{{- end }}
{{- if and $tls.enabled $tls.mutual .Values.envoy.enabled (ne $auth.writes "open") }}
{{- if not $auth.clientNames }}
{{- fail "auth.clientNames is empty with tls.mutual and the Envoy sidecar: Envoy reaches the service with the pod's own certificate, so every REST caller could write; list the client names allowed to write (REST writers then use bearer tokens)" }}
{{- end }}
{{- $own := include "fraud-scoring.serviceDnsNames" . | fromJsonArray }}
{{- range $auth.clientNames }}
{{- if has . $own }}
{{- fail (printf "auth.clientNames names %s, a name of the pod's own certificate, which Envoy presents for every REST caller: remove it" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (or (include "fraud-scoring.tlsSecretName" .) (include "fraud-scoring.tokensSecretName" .)) (not .Values.podSecurityContext.fsGroup) }}
{{- fail "podSecurityContext.fsGroup is unset: the TLS and token Secrets are mounted readable by root and the pod's group only (0440), so the service could not read them; keep fsGroup (65532)" }}
{{- end }}
{{- range .Values.config.extraEnv }}
{{- if and (eq .name "FRAUD_AUTH_TOKENS_FILE") (hasKey . "value") }}
{{- fail "config.extraEnv: FRAUD_AUTH_TOKENS_FILE is set by the chart from auth.tokens; use auth.tokens.existingSecret" }}
{{- end }}
{{- end }}
{{- $np := .Values.networkPolicy }}
{{- if $np.enabled }}
{{- if not $np.ingress.clients }}
{{- fail "networkPolicy.enabled needs networkPolicy.ingress.clients (the peers allowed to call gRPC and REST; an ingress controller is one): with none, no client could reach the pods" }}
{{- end }}
{{- if and (eq .Values.state.store "redis") (not $np.egress.redis.to) }}
{{- fail "networkPolicy.egress.redis.to is empty with state.store redis: the pods could not reach their history (list the Redis pods, namespace or ipBlock)" }}
{{- end }}
{{- if and (eq .Values.models.source "s3") (not $np.egress.modelStore.to) }}
{{- fail "networkPolicy.egress.modelStore.to is empty with models.source s3: the pods could not reach their models (list the lakeFS/MinIO pods or S3's ipBlocks)" }}
{{- end }}
{{- if not $np.egress.dns.to }}
{{- fail "networkPolicy.egress.dns.to is empty: the pods could not resolve any name" }}
{{- end }}
{{- if eq .Values.state.store "redis" }}
{{- $redis := .Values.state.redis }}
{{- if $redis.url }}
{{- include "fraud-scoring.requirePort" (dict "port" (include "fraud-scoring.urlPort" (dict "url" $redis.url "default" 6379)) "ports" $np.egress.redis.ports "rule" "networkPolicy.egress.redis.ports" "of" "state.redis.url") }}
{{- end }}
{{- range $redis.sentinel.hosts }}
{{- include "fraud-scoring.requirePort" (dict "port" (regexFind "[0-9]+$" .) "ports" $np.egress.redis.ports "rule" "networkPolicy.egress.redis.ports" "of" (printf "the Sentinel %s" .)) }}
{{- end }}
{{- end }}
{{- if include "fraud-scoring.usesS3" . }}
{{- range $name, $url := dict "s3.endpoint" (default "https://s3.amazonaws.com" .Values.s3.endpoint) "s3.lakefsApiEndpoint" .Values.s3.lakefsApiEndpoint }}
{{- if $url }}
{{- $default := ternary 80 443 (hasPrefix "http://" $url) }}
{{- include "fraud-scoring.requirePort" (dict "port" (include "fraud-scoring.urlPort" (dict "url" $url "default" $default)) "ports" $np.egress.modelStore.ports "rule" "networkPolicy.egress.modelStore.ports" "of" (printf "%s (%s)" $name $url)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The port of a URL: the one it names, or the scheme's default given.
Call with (dict "url" "..." "default" 443).
*/}}
{{- define "fraud-scoring.urlPort" -}}
{{- $port := regexFind ":[0-9]+$" (urlParse .url).host }}
{{- if $port }}{{ trimPrefix ":" $port }}{{ else }}{{ .default }}{{ end }}
{{- end }}

{{/*
Fails unless a NetworkPolicy rule's ports admit a port the pods must reach:
one line naming the rule and the value the port comes from.
*/}}
{{- define "fraud-scoring.requirePort" -}}
{{- $port := int .port }}
{{- $admitted := false }}
{{- range .ports }}
{{- if and (le (int .port) $port) (ge (int (default .port .endPort)) $port) }}
{{- $admitted = true }}
{{- end }}
{{- end }}
{{- if not $admitted }}
{{- fail (printf "%s does not include %d, the port of %s: the pods could not reach it" .rule $port .of) }}
{{- end }}
{{- end }}

{{/*
appProtocol of the gRPC port: cleartext HTTP/2 (h2c), or HTTP/2 over TLS (https).
*/}}
{{- define "fraud-scoring.grpcAppProtocol" -}}
{{- ternary "https" "kubernetes.io/h2c" .Values.tls.enabled }}
{{- end }}
