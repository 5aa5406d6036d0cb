{{/*
Helpers of the decision log (values decisionLog, docs/decision-log.md).
*/}}

{{/* Where the file sink writes and where the Kafka CA is mounted. */}}
{{- define "fraud-scoring.decisionLogDir" -}}/var/log/fraud-decisions{{- end }}
{{- define "fraud-scoring.kafkaCaDir" -}}/etc/fraud-kafka-ca{{- end }}

{{/* "true" when any sink of the decision log is on, else "". */}}
{{- define "fraud-scoring.decisionLogOn" -}}
{{- $log := .Values.decisionLog }}
{{- if or $log.file.enabled $log.kafka.brokers $log.s3.uri }}true{{ end }}
{{- end }}

{{/* "true" when the pods reach S3 (models, or the decision log's objects), else "". */}}
{{- define "fraud-scoring.usesS3" -}}
{{- if or (eq .Values.models.source "s3") .Values.decisionLog.s3.uri }}true{{ end }}
{{- end }}

{{/*
The scoring container's FRAUD_DECISION_LOG_* variables; nothing while every
sink is off. The SASL password only ever comes from a Secret.
*/}}
{{- define "fraud-scoring.decisionLogEnv" -}}
{{- $log := .Values.decisionLog }}
{{- if include "fraud-scoring.decisionLogOn" . }}
- name: FRAUD_DECISION_LOG_INSTANCE
  {{- if $log.instance }}
  value: {{ $log.instance | quote }}
  {{- else }}
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
  {{- end }}
- name: FRAUD_DECISION_LOG_BUFFER_RECORDS
  value: {{ $log.bufferRecords | int64 | quote }}
- name: FRAUD_DECISION_LOG_BATCH_RECORDS
  value: {{ $log.batchRecords | int64 | quote }}
{{- with $log.file }}
{{- if .enabled }}
- name: FRAUD_DECISION_LOG_DIR
  value: {{ include "fraud-scoring.decisionLogDir" $ | quote }}
- name: FRAUD_DECISION_LOG_FILE_MAX_BYTES
  value: {{ .maxBytes | int64 | quote }}
- name: FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS
  value: {{ .rotateSeconds | quote }}
- name: FRAUD_DECISION_LOG_FILE_KEEP
  value: {{ .keep | int64 | quote }}
- name: FRAUD_DECISION_LOG_FILE_FLUSH_SECONDS
  value: {{ .flushSeconds | quote }}
{{- end }}
{{- end }}
{{- with $log.kafka }}
{{- if .brokers }}
- name: FRAUD_DECISION_LOG_KAFKA_BROKERS
  value: {{ join "," .brokers | quote }}
- name: FRAUD_DECISION_LOG_KAFKA_TOPIC
  value: {{ .topic | quote }}
- name: FRAUD_DECISION_LOG_KAFKA_TLS
  value: {{ .tls.enabled | quote }}
{{- if or .tls.caSecret .tls.caConfigMap }}
- name: FRAUD_DECISION_LOG_KAFKA_CA_FILE
  value: {{ printf "%s/%s" (include "fraud-scoring.kafkaCaDir" $) .tls.caKey | quote }}
{{- end }}
{{- with .sasl }}
{{- if .mechanism }}
- name: FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM
  value: {{ .mechanism | quote }}
- name: FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME
  {{- if .username }}
  value: {{ .username | quote }}
  {{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .usernameKey }}
  {{- end }}
- name: FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .passwordKey }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with $log.s3 }}
{{- if .uri }}
- name: FRAUD_DECISION_LOG_S3_URI
  value: {{ .uri | quote }}
- name: FRAUD_DECISION_LOG_S3_OBJECT_RECORDS
  value: {{ .objectRecords | int64 | quote }}
- name: FRAUD_DECISION_LOG_S3_FLUSH_SECONDS
  value: {{ .flushSeconds | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Checks of the decision log's values that a JSON schema cannot express; one
line naming the value to fix.
*/}}
{{- define "fraud-scoring.validateDecisionLog" -}}
{{- $log := .Values.decisionLog }}
{{- $kafka := $log.kafka }}
{{- if gt (int64 $log.batchRecords) (int64 $log.bufferRecords) }}
{{- fail (printf "decisionLog.batchRecords (%d) must be at most decisionLog.bufferRecords (%d)" (int64 $log.batchRecords) (int64 $log.bufferRecords)) }}
{{- end }}
{{- if and $log.s3.uri (gt (int64 $log.s3.objectRecords) (int64 $log.bufferRecords)) }}
{{- fail (printf "decisionLog.s3.objectRecords (%d) must be at most decisionLog.bufferRecords (%d)" (int64 $log.s3.objectRecords) (int64 $log.bufferRecords)) }}
{{- end }}
{{- if and $log.file.existingClaim (not $log.file.enabled) }}
{{- fail "decisionLog.file.existingClaim is set but decisionLog.file.enabled is false: it would be ignored" }}
{{- end }}
{{- if and $kafka.tls.caSecret $kafka.tls.caConfigMap }}
{{- fail "decisionLog.kafka.tls.caSecret and decisionLog.kafka.tls.caConfigMap are mutually exclusive: use one source of the brokers' CA" }}
{{- end }}
{{- if and (or $kafka.tls.caSecret $kafka.tls.caConfigMap) (not $kafka.tls.enabled) }}
{{- fail "decisionLog.kafka.tls.caSecret or caConfigMap is set but decisionLog.kafka.tls.enabled is false: the CA would be ignored" }}
{{- end }}
{{- with $kafka.sasl }}
{{- if .mechanism }}
{{- if not $kafka.tls.enabled }}
{{- fail "decisionLog.kafka.sasl.mechanism is set but decisionLog.kafka.tls.enabled is false: the SASL password would cross the network in clear" }}
{{- end }}
{{- if not .existingSecret }}
{{- fail "decisionLog.kafka.sasl.mechanism needs decisionLog.kafka.sasl.existingSecret (the Secret holding the password)" }}
{{- end }}
{{- if eq (empty .username) (empty .usernameKey) }}
{{- fail "decisionLog.kafka.sasl.mechanism needs exactly one of decisionLog.kafka.sasl.username and decisionLog.kafka.sasl.usernameKey" }}
{{- end }}
{{- else if or .username .usernameKey .existingSecret }}
{{- fail "decisionLog.kafka.sasl.username/usernameKey/existingSecret are set but decisionLog.kafka.sasl.mechanism is empty: they would be ignored" }}
{{- end }}
{{- end }}
{{- if and (not $kafka.brokers) (or $kafka.tls.enabled $kafka.sasl.mechanism) }}
{{- fail "decisionLog.kafka.tls or decisionLog.kafka.sasl is set but decisionLog.kafka.brokers is empty: the Kafka sink is off" }}
{{- end }}
{{- range .Values.config.extraEnv }}
{{- if hasPrefix "FRAUD_DECISION_LOG_" .name }}
{{- fail (printf "config.extraEnv: %s is set by the chart from decisionLog; use the decisionLog values" .name) }}
{{- end }}
{{- end }}
{{- $np := .Values.networkPolicy }}
{{- if and $np.enabled $kafka.brokers }}
{{- if not $np.egress.kafka.to }}
{{- fail "networkPolicy.egress.kafka.to is empty with decisionLog.kafka.brokers: the pods could not reach the brokers (list the Kafka pods, namespace or ipBlock)" }}
{{- end }}
{{- range $kafka.brokers }}
{{- include "fraud-scoring.requirePort" (dict "port" (regexFind "[0-9]+$" .) "ports" $np.egress.kafka.ports "rule" "networkPolicy.egress.kafka.ports" "of" (printf "the broker %s (decisionLog.kafka.brokers)" .)) }}
{{- end }}
{{- end }}
{{- if and $np.enabled $log.s3.uri (not $np.egress.modelStore.to) }}
{{- fail "networkPolicy.egress.modelStore.to is empty with decisionLog.s3.uri: the pods could not reach the object store (list the lakeFS/MinIO pods or S3's ipBlocks)" }}
{{- end }}
{{- end }}
