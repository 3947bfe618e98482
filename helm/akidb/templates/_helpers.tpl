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
app.kubernetes.io/name: {{ include "akidb.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/* Every value is quoted: a name or tag like "123" or "true" must stay a string. */}}
{{- define "akidb.labels" -}}
helm.sh/chart: {{ include "akidb.chart" . | quote }}
{{ include "akidb.selectorLabels" . }}
app.kubernetes.io/version: {{ include "akidb.versionLabel" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: akidb
{{- with .Values.color }}
akidb.io/color: {{ . | quote }}
{{- end }}
{{- end }}

{{/* The image tag as a label value: at most 63 characters, ending alphanumeric. */}}
{{- define "akidb.versionLabel" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | replace "+" "_" | trunc 63 }}
{{- regexReplaceAll "[-_.]+$" $tag "" }}
{{- end }}

{{/*
Pod labels: the user's podLabels merged under the chart's labels, so each key appears once and
the chart's labels (which the StatefulSet selector and the Services match) win.
*/}}
{{- define "akidb.podLabels" -}}
{{- $chart := include "akidb.labels" . | fromYaml }}
{{- toYaml (merge $chart (deepCopy (.Values.podLabels | default dict))) }}
{{- end }}

{{/*
Fails on combinations values.schema.json cannot express (or only without saying why).
Included by statefulset.yaml, which is always rendered.
*/}}
{{- define "akidb.validateValues" -}}
{{- if not .Values.s3.enabled }}
{{- if gt (int64 .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount=%d needs s3.enabled=true: without shared object storage each pod is an independent database with its own volume, so clients behind the Service would see different data. Keep replicaCount at 1 or enable S3." (int64 .Values.replicaCount)) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled=true needs s3.enabled=true: without shared object storage each pod the HPA adds is an independent, empty database, so clients behind the Service would see different data. Disable autoscaling or enable S3." }}
{{- end }}
{{- end }}
{{- if gt (int64 .Values.autoscaling.minReplicas) (int64 .Values.autoscaling.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d)" (int64 .Values.autoscaling.minReplicas) (int64 .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- end }}

{{/* Kubernetes int-or-string: integers as integers (never 1e+06), strings quoted. */}}
{{- define "akidb.intOrString" -}}
{{- if kindIs "string" . }}{{ . | quote }}{{ else }}{{ int64 . }}{{ end }}
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

{{/* DNS domain of the pods under the headless Service: <pod>.<this> resolves to that pod. */}}
{{- define "akidb.podDomain" -}}
{{- printf "%s.%s.svc.%s" (include "akidb.headlessName" .) .Release.Namespace (.Values.clusterDomain | default "cluster.local") }}
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
