{{/*
The settings the chart renders, written once. Each row: the variable, the value(s) that set
it, and its rendered value ("" = not rendered: unset, or not needed in this mode). Rows
marked "env" are set on the containers themselves (deployments), not in the ConfigMap.
"smartpapers.settings" (the ConfigMap / hook env) and "smartpapers.managedSettings" (what
config.extra must not repeat) both derive from this table.
*/}}
{{- define "smartpapers.settingsTable" -}}
{{- $v := .Values }}
{{- $jwt := eq $v.config.auth.mode "jwt" }}
{{- $j := $v.config.auth.jwt }}
{{- $rl := $v.config.rateLimit }}
{{- $tr := $v.config.tracing }}
{{- $traced := ne ($tr.otlpEndpoint | toString) "" }}
{{- $rows := list
  (list "SMARTPAPERS_MONGO_URI" "config.mongo.existingSecret" "" "env")
  (list "SMARTPAPERS_MONGO_DB" "config.mongo.database" ($v.config.mongo.database | toString))
  (list "SMARTPAPERS_AWS_REGION" "config.sqs.region" ($v.config.sqs.region | toString))
  (list "SMARTPAPERS_SQS_QUEUE_URL" "config.sqs.queueUrl" ($v.config.sqs.queueUrl | toString))
  (list "SMARTPAPERS_SQS_DLQ_URL" "config.sqs.dlqUrl" (default "" $v.config.sqs.dlqUrl | toString))
  (list "SMARTPAPERS_SQS_QUEUE_NAME" "config.sqs.queueName" ($v.config.sqs.queueName | toString))
  (list "SMARTPAPERS_SQS_DLQ_NAME" "config.sqs.dlqName" ($v.config.sqs.dlqName | toString))
  (list "SMARTPAPERS_SQS_PRIORITY_QUEUE_URL" "config.sqs.priorityQueueUrl" (default "" $v.config.sqs.priorityQueueUrl | toString))
  (list "SMARTPAPERS_SQS_PRIORITY_DLQ_URL" "config.sqs.priorityDlqUrl" (default "" $v.config.sqs.priorityDlqUrl | toString))
  (list "SMARTPAPERS_SQS_PRIORITY_QUEUE_NAME" "config.sqs.priorityQueueName" ($v.config.sqs.priorityQueueName | toString))
  (list "SMARTPAPERS_SQS_PRIORITY_DLQ_NAME" "config.sqs.priorityDlqName" ($v.config.sqs.priorityDlqName | toString))
  (list "SMARTPAPERS_SQS_MAX_RECEIVE_COUNT" "config.sqs.maxReceiveCount" ($v.config.sqs.maxReceiveCount | toString))
  (list "SMARTPAPERS_SQS_ENDPOINT_URL" "config.sqs.endpointUrl" (default "" $v.config.sqs.endpointUrl | toString))
  (list "SMARTPAPERS_SQS_WAIT_TIME_SECONDS" "config.sqs.waitTimeSeconds" ($v.config.sqs.waitTimeSeconds | toString))
  (list "SMARTPAPERS_SQS_VISIBILITY_TIMEOUT_SECONDS" "config.sqs.visibilityTimeoutSeconds" ($v.config.sqs.visibilityTimeoutSeconds | toString))
  (list "SMARTPAPERS_AUTH_MODE" "config.auth.mode" ($v.config.auth.mode | toString))
  (list "SMARTPAPERS_JWT_JWKS_URL" "config.auth.jwt.jwksUrl" (ternary ($j.jwksUrl | toString) "" $jwt))
  (list "SMARTPAPERS_JWT_ISSUER" "config.auth.jwt.issuer" (ternary ($j.issuer | toString) "" $jwt))
  (list "SMARTPAPERS_JWT_AUDIENCE" "config.auth.jwt.audience" (ternary ($j.audience | toString) "" $jwt))
  (list "SMARTPAPERS_JWT_ALGORITHMS" "config.auth.jwt.algorithms" (ternary ($j.algorithms | toJson) "" $jwt))
  (list "SMARTPAPERS_JWT_STAFF_CLAIM" "config.auth.jwt.staffClaim" (ternary ($j.staffClaim | toString) "" $jwt))
  (list "SMARTPAPERS_JWT_STAFF_ROLE" "config.auth.jwt.staffRole" (ternary ($j.staffRole | toString) "" $jwt))
  (list "SMARTPAPERS_JWT_INSTITUTE_CLAIM" "config.auth.jwt.instituteClaim" (ternary ($j.instituteClaim | toString) "" $jwt))
  (list "SMARTPAPERS_JWT_PREMIUM_CLAIM" "config.auth.jwt.premiumClaim" (ternary ($j.premiumClaim | toString) "" $jwt))
  (list "SMARTPAPERS_JWT_PREMIUM_ROLE" "config.auth.jwt.premiumRole" (ternary ($j.premiumRole | toString) "" $jwt))
  (list "SMARTPAPERS_RATE_LIMIT_SUBMISSIONS" "config.rateLimit.submissions" (ternary "" (int $rl.submissions | toString) (kindIs "invalid" $rl.submissions)))
  (list "SMARTPAPERS_RATE_LIMIT_STATUS_POLLS" "config.rateLimit.statusPolls" (ternary "" (int $rl.statusPolls | toString) (kindIs "invalid" $rl.statusPolls)))
  (list "SMARTPAPERS_RATE_LIMIT_WINDOW_SECONDS" "config.rateLimit.windowSeconds" (int $rl.windowSeconds | toString))
  (list "SMARTPAPERS_API_CORS_ORIGINS" "config.api.corsOrigins" (default (list) $v.config.api.corsOrigins | toJson))
  (list "SMARTPAPERS_PREMIUM_INSTITUTES" "config.api.premiumInstitutes" (default (list) $v.config.api.premiumInstitutes | toJson))
  (list "SMARTPAPERS_API_DOCS_ENABLED" "config.api.docsEnabled" ($v.config.api.docsEnabled | toString))
  (list "SMARTPAPERS_SUBMISSIONS_MODE" "config.api.submissionsMode" ($v.config.api.submissionsMode | toString))
  (list "SMARTPAPERS_API_LIMIT_CONCURRENCY" "config.api.limitConcurrency" (ternary "" (int $v.config.api.limitConcurrency | toString) (kindIs "invalid" $v.config.api.limitConcurrency)))
  (list "OTEL_EXPORTER_OTLP_ENDPOINT" "config.tracing.otlpEndpoint" ($tr.otlpEndpoint | toString))
  (list "OTEL_TRACES_SAMPLER" "config.tracing.sampleRatio" (ternary "parentbased_traceidratio" "" $traced))
  (list "OTEL_TRACES_SAMPLER_ARG" "config.tracing.sampleRatio" (ternary ($tr.sampleRatio | toString) "" $traced))
  (list "SMARTPAPERS_LOG_LEVEL" "config.log.level" ($v.config.log.level | toString))
  (list "SMARTPAPERS_LOG_FORMAT" "config.log.format" ($v.config.log.format | toString))
  (list "SMARTPAPERS_API_HOST" "(fixed by the chart)" "" "env")
  (list "SMARTPAPERS_API_PORT" "api.port" "" "env")
  (list "SMARTPAPERS_API_GRACEFUL_TIMEOUT_SECONDS" "api.gracefulTimeoutSeconds" "" "env")
  (list "SMARTPAPERS_WORKER_CONCURRENCY" "worker.concurrency" "" "env")
  (list "SMARTPAPERS_WORKER_PRIORITY_SHARE" "worker.priorityShare" "" "env")
  (list "SMARTPAPERS_WORKER_DRAIN_TIMEOUT_SECONDS" "worker.drainTimeoutSeconds" "" "env")
  (list "SMARTPAPERS_WORKER_METRICS_HOST" "(fixed by the chart)" "" "env")
  (list "SMARTPAPERS_WORKER_METRICS_PORT" "worker.metricsPort" "" "env")
}}
{{- toJson $rows }}
{{- end }}

{{/* The name of the settings ConfigMap. */}}
{{- define "smartpapers.configName" -}}
{{- include "smartpapers.componentName" (dict "ctx" . "suffix" "config") }}
{{- end }}

{{/*
Settings as a YAML map (SMARTPAPERS_* -> string): the ConfigMap's data and the queue
bootstrap hook's env (the hook runs before the ConfigMap exists); then config.extra.
*/}}
{{- define "smartpapers.settings" -}}
{{- range (include "smartpapers.settingsTable" . | fromJsonArray) }}
{{- if and (ne (index . 2) "") (lt (len .) 4) }}
{{ index . 0 }}: {{ index . 2 | quote }}
{{- end }}
{{- end }}
{{- range $k, $v := .Values.config.extra }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/* Every variable the chart renders -> the value that sets it. */}}
{{- define "smartpapers.managedSettings" -}}
{{- range (include "smartpapers.settingsTable" . | fromJsonArray) }}
{{ index . 0 }}: {{ index . 1 | quote }}
{{- end }}
{{- end }}
