{{/* Pieces shared by the pod templates: secret env, /tmp, probes, affinity. */}}

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
