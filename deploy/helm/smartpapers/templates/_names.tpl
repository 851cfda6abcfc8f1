{{/* vim: set filetype=mustache: */}}
{{/* Names, labels, annotations and image references (helm create's helpers). */}}

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
