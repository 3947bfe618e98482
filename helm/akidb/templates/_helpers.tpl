{{/* Chart name, truncated to the 63 characters DNS labels allow. */}}
{{- define "akidb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, plus the chart name unless it already contains it. */}}
{{- define "akidb.fullname" -}}
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

{{- define "akidb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of the release (StatefulSet selectors are immutable). */}}
{{- define "akidb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "akidb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "akidb.labels" -}}
helm.sh/chart: {{ include "akidb.chart" . }}
{{ include "akidb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: akidb
{{- with .Values.color }}
akidb.io/color: {{ . }}
{{- end }}
{{- end }}

{{- define "akidb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "akidb.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "akidb.headlessName" -}}
{{- printf "%s-headless" (include "akidb.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Secret holding the API keys: the user's existing one or the chart's. */}}
{{- define "akidb.authSecretName" -}}
{{- default (include "akidb.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "akidb.s3SecretName" -}}
{{- default (include "akidb.fullname" .) .Values.s3.existingSecret }}
{{- end }}

{{- define "akidb.authEnabled" -}}
{{- if or .Values.auth.existingSecret .Values.auth.apiKey }}true{{ end }}
{{- end }}

{{- define "akidb.s3CredsEnabled" -}}
{{- if and .Values.s3.enabled (or .Values.s3.existingSecret .Values.s3.accessKeyId) }}true{{ end }}
{{- end }}

{{/* True when the chart must create its own Secret. */}}
{{- define "akidb.createSecret" -}}
{{- if or (and .Values.auth.apiKey (not .Values.auth.existingSecret)) (and .Values.s3.enabled .Values.s3.accessKeyId (not .Values.s3.existingSecret)) }}true{{ end }}
{{- end }}

{{- define "akidb.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
