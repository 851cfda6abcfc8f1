{{/* Which optional parts render (CRD-gated) and their derived values. */}}

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
