{{/* NetworkPolicy rules shared by the policies of networkpolicy.yaml. */}}

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
