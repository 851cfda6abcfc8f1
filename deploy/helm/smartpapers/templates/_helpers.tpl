{{/* vim: set filetype=mustache: */}}
{{/*
Expand the name of the chart.
*/}}
{{- define "smartpapers.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (63 chars max, DNS-1123).
If the release name contains the chart name it is used as the full name.
Component suffixes (-api, -worker, ...) need 7 more characters, so trim to 55.
*/}}
{{- define "smartpapers.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version as used by the chart label.
*/}}
{{- define "smartpapers.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. Call with (dict "ctx" $ "component" "api").
*/}}
{{- define "smartpapers.labels" -}}
helm.sh/chart: {{ include "smartpapers.chart" .ctx }}
{{ include "smartpapers.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: smartpapers
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels (immutable in Deployments: never add to them).
*/}}
{{- define "smartpapers.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smartpapers.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/*
metadata.annotations for every object: commonAnnotations (+ extra dict).
Call with (dict "ctx" $ "extra" $dict). Renders nothing when empty.
*/}}
{{- define "smartpapers.annotations" -}}
{{- $all := merge (deepCopy (default (dict) .extra)) (deepCopy .ctx.Values.commonAnnotations) }}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
"<fullname>-<suffix>", the fullname shortened so the result stays <= 63 characters.
Call with (dict "ctx" $ "suffix" "queue-bootstrap").
*/}}
{{- define "smartpapers.componentName" -}}
{{- $max := sub 62 (len .suffix) | int }}
{{- printf "%s-%s" (include "smartpapers.fullname" .ctx | trunc $max | trimSuffix "-") .suffix }}
{{- end }}

{{/* Component names */}}
{{- define "smartpapers.api.fullname" -}}
{{- include "smartpapers.componentName" (dict "ctx" . "suffix" "api") }}
{{- end }}
{{- define "smartpapers.worker.fullname" -}}
{{- include "smartpapers.componentName" (dict "ctx" . "suffix" "worker") }}
{{- end }}

{{- define "smartpapers.api.serviceAccountName" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (include "smartpapers.api.fullname" .) .Values.api.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.api.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "smartpapers.worker.serviceAccountName" -}}
{{- if .Values.worker.serviceAccount.create }}
{{- default (include "smartpapers.worker.fullname" .) .Values.worker.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.worker.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference. Call with (dict "image" .Values.api.image "ctx" $).
The digest wins over the tag; the tag defaults to the chart appVersion.
*/}}
{{- define "smartpapers.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
Is the KEDA ScaledObject rendered? Returns "true" or "".
*/}}
{{- define "smartpapers.keda.active" -}}
{{- if and .Values.keda.enabled (or .Values.keda.force (.Capabilities.APIVersions.Has "keda.sh/v1alpha1")) }}true{{- end }}
{{- end }}

{{/*
Are the prometheus-operator / Grafana objects rendered? Returns "true" or "".
*/}}
{{- define "smartpapers.monitoring.active" -}}
{{- if and .Values.monitoring.enabled (or .Values.monitoring.force (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) }}true{{- end }}
{{- end }}

{{/* Labels for monitoring objects: chart labels + monitoring.additionalLabels. */}}
{{- define "smartpapers.monitoring.labels" -}}
{{ include "smartpapers.labels" . }}
{{- with .ctx.Values.monitoring.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* KEDA queueLength: explicit value or worker.concurrency. */}}
{{- define "smartpapers.keda.queueLength" -}}
{{- if gt (int .Values.keda.queueLength) 0 }}{{ int .Values.keda.queueLength }}{{ else }}{{ int .Values.worker.concurrency }}{{ end }}
{{- end }}

{{/* The name of the settings ConfigMap. */}}
{{- define "smartpapers.configName" -}}
{{- include "smartpapers.componentName" (dict "ctx" . "suffix" "config") }}
{{- end }}

{{/*
Settings as a YAML map (SMARTPAPERS_* -> string). Single source for the ConfigMap and the
queue bootstrap hook (which runs before the ConfigMap exists).
*/}}
{{- define "smartpapers.settings" -}}
SMARTPAPERS_MONGO_DB: {{ .Values.config.mongo.database | quote }}
SMARTPAPERS_AWS_REGION: {{ .Values.config.sqs.region | quote }}
SMARTPAPERS_SQS_QUEUE_URL: {{ .Values.config.sqs.queueUrl | quote }}
{{- with .Values.config.sqs.dlqUrl }}
SMARTPAPERS_SQS_DLQ_URL: {{ . | quote }}
{{- end }}
SMARTPAPERS_SQS_QUEUE_NAME: {{ .Values.config.sqs.queueName | quote }}
SMARTPAPERS_SQS_DLQ_NAME: {{ .Values.config.sqs.dlqName | quote }}
SMARTPAPERS_SQS_MAX_RECEIVE_COUNT: {{ .Values.config.sqs.maxReceiveCount | toString | quote }}
{{- with .Values.config.sqs.endpointUrl }}
SMARTPAPERS_SQS_ENDPOINT_URL: {{ . | quote }}
{{- end }}
SMARTPAPERS_SQS_WAIT_TIME_SECONDS: {{ .Values.config.sqs.waitTimeSeconds | toString | quote }}
SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS: {{ .Values.config.sqs.visibilityTimeoutSeconds | toString | quote }}
SMARTPAPERS_AUTH_MODE: {{ .Values.config.auth.mode | quote }}
{{- if eq .Values.config.auth.mode "jwt" }}
SMARTPAPERS_JWT_JWKS_URL: {{ .Values.config.auth.jwt.jwksUrl | quote }}
SMARTPAPERS_JWT_ISSUER: {{ .Values.config.auth.jwt.issuer | quote }}
SMARTPAPERS_JWT_AUDIENCE: {{ .Values.config.auth.jwt.audience | quote }}
SMARTPAPERS_JWT_ALGORITHMS: {{ .Values.config.auth.jwt.algorithms | toJson | quote }}
SMARTPAPERS_JWT_STAFF_CLAIM: {{ .Values.config.auth.jwt.staffClaim | quote }}
SMARTPAPERS_JWT_STAFF_ROLE: {{ .Values.config.auth.jwt.staffRole | quote }}
SMARTPAPERS_JWT_INSTITUTE_CLAIM: {{ .Values.config.auth.jwt.instituteClaim | quote }}
{{- end }}
{{- $rl := .Values.config.rateLimit }}
{{- if not (kindIs "invalid" $rl.submissions) }}
SMARTPAPERS_RATE_LIMIT_SUBMISSIONS: {{ int $rl.submissions | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" $rl.statusPolls) }}
SMARTPAPERS_RATE_LIMIT_STATUS_POLLS: {{ int $rl.statusPolls | toString | quote }}
{{- end }}
SMARTPAPERS_RATE_LIMIT_WINDOW_SECONDS: {{ int $rl.windowSeconds | toString | quote }}
SMARTPAPERS_API_CORS_ORIGINS: {{ default (list) .Values.config.api.corsOrigins | toJson | quote }}
SMARTPAPERS_API_DOCS_ENABLED: {{ .Values.config.api.docsEnabled | toString | quote }}
{{- if not (kindIs "invalid" .Values.config.api.limitConcurrency) }}
SMARTPAPERS_API_LIMIT_CONCURRENCY: {{ int .Values.config.api.limitConcurrency | toString | quote }}
{{- end }}
SMARTPAPERS_LOG_LEVEL: {{ .Values.config.log.level | quote }}
SMARTPAPERS_LOG_FORMAT: {{ .Values.config.log.format | quote }}
{{- range $k, $v := .Values.config.extra }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/*
Settings the chart renders itself (ConfigMap or container env), each with the value that
sets it: config.extra must not repeat them (a duplicate ConfigMap key, or an env var that
silently wins over the ConfigMap).
*/}}
{{- define "smartpapers.managedSettings" -}}
SMARTPAPERS_MONGO_URI: config.mongo.existingSecret
SMARTPAPERS_MONGO_DB: config.mongo.database
SMARTPAPERS_AWS_REGION: config.sqs.region
SMARTPAPERS_SQS_QUEUE_URL: config.sqs.queueUrl
SMARTPAPERS_SQS_DLQ_URL: config.sqs.dlqUrl
SMARTPAPERS_SQS_QUEUE_NAME: config.sqs.queueName
SMARTPAPERS_SQS_DLQ_NAME: config.sqs.dlqName
SMARTPAPERS_SQS_MAX_RECEIVE_COUNT: config.sqs.maxReceiveCount
SMARTPAPERS_SQS_ENDPOINT_URL: config.sqs.endpointUrl
SMARTPAPERS_SQS_WAIT_TIME_SECONDS: config.sqs.waitTimeSeconds
SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS: config.sqs.visibilityTimeoutSeconds
SMARTPAPERS_AUTH_MODE: config.auth.mode
SMARTPAPERS_JWT_JWKS_URL: config.auth.jwt.jwksUrl
SMARTPAPERS_JWT_ISSUER: config.auth.jwt.issuer
SMARTPAPERS_JWT_AUDIENCE: config.auth.jwt.audience
SMARTPAPERS_JWT_ALGORITHMS: config.auth.jwt.algorithms
SMARTPAPERS_JWT_STAFF_CLAIM: config.auth.jwt.staffClaim
SMARTPAPERS_JWT_STAFF_ROLE: config.auth.jwt.staffRole
SMARTPAPERS_JWT_INSTITUTE_CLAIM: config.auth.jwt.instituteClaim
SMARTPAPERS_RATE_LIMIT_SUBMISSIONS: config.rateLimit.submissions
SMARTPAPERS_RATE_LIMIT_STATUS_POLLS: config.rateLimit.statusPolls
SMARTPAPERS_RATE_LIMIT_WINDOW_SECONDS: config.rateLimit.windowSeconds
SMARTPAPERS_API_CORS_ORIGINS: config.api.corsOrigins
SMARTPAPERS_API_DOCS_ENABLED: config.api.docsEnabled
SMARTPAPERS_API_LIMIT_CONCURRENCY: config.api.limitConcurrency
SMARTPAPERS_LOG_LEVEL: config.log.level
SMARTPAPERS_LOG_FORMAT: config.log.format
SMARTPAPERS_API_HOST: (fixed by the chart)
SMARTPAPERS_API_PORT: api.port
SMARTPAPERS_API_GRACEFUL_TIMEOUT_SECONDS: api.gracefulTimeoutSeconds
SMARTPAPERS_WORKER_CONCURRENCY: worker.concurrency
SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS: worker.drainTimeoutSeconds
SMARTPAPERS_WORKER_METRICS_HOST: (fixed by the chart)
SMARTPAPERS_WORKER_METRICS_PORT: worker.metricsPort
{{- end }}

{{/*
Secret-sourced env shared by API, worker and hooks: the MongoDB URI and, for emulators only,
dummy AWS credentials.
*/}}
{{- define "smartpapers.secretEnv" -}}
- name: SMARTPAPERS_MONGO_URI
  valueFrom:
    secretKeyRef:
      name: {{ .Values.config.mongo.existingSecret }}
      key: {{ .Values.config.mongo.existingSecretKey }}
{{- include "smartpapers.awsEmulatorEnv" . }}
{{- end }}

{{- define "smartpapers.awsEmulatorEnv" -}}
{{- with .Values.awsEmulatorCredentials.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.awsEmulatorCredentials.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.awsEmulatorCredentials.secretAccessKeyKey }}
{{- end }}
{{- end }}

{{/* Pod-level volumes and container mounts for the writable /tmp. */}}
{{- define "smartpapers.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}
{{- define "smartpapers.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
An HTTP probe. Call with (dict "probe" .Values.api.livenessProbe "path" "/healthz" "port" "http").
*/}}
{{- define "smartpapers.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
successThreshold: {{ .probe.successThreshold }}
{{- end }}

{{/*
Render-time validation of settings that span several values (values.schema.json checks
each value alone). Included once, from configmap.yaml.
*/}}
{{- define "smartpapers.validate" -}}
{{- $v := .Values }}
{{- if not $v.config.mongo.existingSecret }}
{{- fail "config.mongo.existingSecret is required: the name of an existing Secret holding the MongoDB URI (credentials never go in values)" }}
{{- end }}
{{- if not $v.config.sqs.queueUrl }}
{{- fail "config.sqs.queueUrl is required: the URL of the main SQS queue" }}
{{- end }}
{{- if eq $v.config.auth.mode "jwt" }}
{{- $missing := list }}
{{- range $key := list "jwksUrl" "issuer" "audience" }}
{{- if not (index $v.config.auth.jwt $key) }}
{{- $missing = append $missing (printf "config.auth.jwt.%s" $key) }}
{{- end }}
{{- end }}
{{- if $missing }}
{{- fail (printf "config.auth.mode=jwt needs config.auth.jwt.jwksUrl, config.auth.jwt.issuer and config.auth.jwt.audience (missing: %s); the API refuses to start without them" (join ", " $missing)) }}
{{- end }}
{{- end }}
{{- $managed := include "smartpapers.managedSettings" . | fromYaml }}
{{- range $k, $_ := $v.config.extra }}
{{- if hasKey $managed $k }}
{{- fail (printf "config.extra.%s is rendered by the chart: set %s instead" $k (get $managed $k)) }}
{{- end }}
{{- end }}
{{- if and $v.awsEmulatorCredentials.existingSecret (not $v.config.sqs.endpointUrl) }}
{{- fail "awsEmulatorCredentials.existingSecret is only allowed with an SQS emulator (config.sqs.endpointUrl); on AWS use IRSA or EKS Pod Identity" }}
{{- end }}
{{- $wait := int $v.config.sqs.waitTimeSeconds }}
{{- $drain := int $v.worker.drainTimeoutSeconds }}
{{- if lt (int $v.worker.terminationGracePeriodSeconds) (add $wait $drain 5) }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d) must be >= config.sqs.waitTimeSeconds + worker.drainTimeoutSeconds + 5 (%d)" (int $v.worker.terminationGracePeriodSeconds) (add $wait $drain 5)) }}
{{- end }}
{{- if le (int $v.config.sqs.visibilityTimeoutSeconds) (add $drain 10) }}
{{- fail (printf "config.sqs.visibilityTimeoutSeconds (%d) must be > worker.drainTimeoutSeconds + 10 (%d)" (int $v.config.sqs.visibilityTimeoutSeconds) (add $drain 10)) }}
{{- end }}
{{- if lt (int $v.api.terminationGracePeriodSeconds) (add $v.api.preStopSleepSeconds $v.api.gracefulTimeoutSeconds 5) }}
{{- fail (printf "api.terminationGracePeriodSeconds (%d) must be >= api.preStopSleepSeconds + api.gracefulTimeoutSeconds + 5 (%d)" (int $v.api.terminationGracePeriodSeconds) (add $v.api.preStopSleepSeconds $v.api.gracefulTimeoutSeconds 5)) }}
{{- end }}
{{- if gt (int $v.keda.minReplicaCount) (int $v.keda.maxReplicaCount) }}
{{- fail "keda.minReplicaCount must be <= keda.maxReplicaCount" }}
{{- end }}
{{- if and $v.keda.fallback.enabled (or (lt (int $v.keda.fallback.replicas) (int $v.keda.minReplicaCount)) (gt (int $v.keda.fallback.replicas) (int $v.keda.maxReplicaCount))) }}
{{- fail "keda.fallback.replicas must be within [keda.minReplicaCount, keda.maxReplicaCount]" }}
{{- end }}
{{- if and (eq $v.keda.authentication.mode "secret") (not $v.awsEmulatorCredentials.existingSecret) }}
{{- fail "keda.authentication.mode=secret reads awsEmulatorCredentials.existingSecret, which is empty" }}
{{- end }}
{{- if and (eq $v.keda.authentication.mode "existing") (not $v.keda.authentication.existing.name) }}
{{- fail "keda.authentication.mode=existing needs keda.authentication.existing.name" }}
{{- end }}
{{- if and $v.api.autoscaling.enabled (gt (int $v.api.autoscaling.minReplicas) (int $v.api.autoscaling.maxReplicas)) }}
{{- fail "api.autoscaling.minReplicas must be <= api.autoscaling.maxReplicas" }}
{{- end }}
{{- end }}

{{/*
The TCP port of a URL: the explicit one, else 80 for http and 443 otherwise.
*/}}
{{- define "smartpapers.urlPort" -}}
{{- $u := urlParse . }}
{{- $port := regexFind ":[0-9]+$" $u.host | trimPrefix ":" }}
{{- if $port }}{{ $port }}{{ else if eq $u.scheme "http" }}80{{ else }}443{{ end }}
{{- end }}

{{/*
Egress rules of the API and worker NetworkPolicies: DNS, MongoDB, the SQS endpoint, the
EKS Pod Identity agent (AWS only) and, when "jwks" is true, the JWKS host.
Call with (dict "ctx" $ "jwks" true).
*/}}
{{- define "smartpapers.netpol.dns" -}}
# DNS (CoreDNS / kube-dns)
- to:
    {{- toYaml .Values.networkPolicy.dnsTo | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{- define "smartpapers.netpol.egress" -}}
{{- $v := .ctx.Values }}
{{- $np := $v.networkPolicy }}
{{ include "smartpapers.netpol.dns" .ctx }}
{{- if not .noMongo }}
# MongoDB
- ports:
    {{- range $np.mongo.ports }}
    - port: {{ int . }}
      protocol: TCP
    {{- end }}
  {{- with $np.mongo.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- if $v.config.sqs.endpointUrl }}
# SQS emulator ({{ $v.config.sqs.endpointUrl }})
- ports:
    - port: {{ include "smartpapers.urlPort" $v.config.sqs.endpointUrl | int }}
      protocol: TCP
  {{- with $np.sqs.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- else }}
# SQS (and STS for IRSA) over HTTPS
- ports:
    - port: 443
      protocol: TCP
  {{- with $np.sqs.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- if $np.eksPodIdentityAgent }}
# EKS Pod Identity agent (AWS credentials)
- to:
    - ipBlock:
        cidr: 169.254.170.23/32
    - ipBlock:
        cidr: fd00:ec2::23/128
  ports:
    - port: 80
      protocol: TCP
{{- end }}
{{- end }}
{{- if and .jwks (eq $v.config.auth.mode "jwt") }}
# JWKS of the OIDC provider ({{ $v.config.auth.jwt.jwksUrl }})
- ports:
    - port: {{ include "smartpapers.urlPort" $v.config.auth.jwt.jwksUrl | int }}
      protocol: TCP
  {{- with $np.jwks.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- with $np.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The ingress controller as a NetworkPolicyPeer (empty when both selectors are empty).
*/}}
{{- define "smartpapers.netpol.ingressControllerPeer" -}}
{{- $ic := .Values.networkPolicy.ingressController }}
{{- if or $ic.namespaceSelector $ic.podSelector }}
- {{- with $ic.namespaceSelector }}
  namespaceSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  podSelector:
    {{- toYaml (default (dict) $ic.podSelector) | nindent 4 }}
{{- end }}
{{- end }}

{{/*
Pod affinity: the user's `affinity`, else a Bitnami-style anti-affinity preset.
Call with (dict "ctx" $ "component" "api" "values" .Values.api).
*/}}
{{- define "smartpapers.affinity" -}}
{{- if .values.affinity }}
{{- toYaml .values.affinity }}
{{- else if eq .values.podAntiAffinityPreset "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "smartpapers.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 12 }}
{{- else if eq .values.podAntiAffinityPreset "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "smartpapers.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 10 }}
{{- end }}
{{- end }}
