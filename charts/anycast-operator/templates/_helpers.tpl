{{/*
The chart name, truncated to 63 characters (a label value).
*/}}
{{- define "anycast-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The object name prefix: the release name, plus the chart name unless the release name
already contains it. Truncated to 52 characters so that suffixes (-metrics, -metallb,
-token) keep names within 63.
*/}}
{{- define "anycast-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "anycast-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object. app.kubernetes.io/component is the role (hub or spoke).
*/}}
{{- define "anycast-operator.labels" -}}
helm.sh/chart: {{ include "anycast-operator.chart" . }}
{{ include "anycast-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: anycast-operator
app.kubernetes.io/component: {{ .Values.role }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "anycast-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "anycast-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The operator's ServiceAccount (role hub).
*/}}
{{- define "anycast-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "anycast-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount the hub acts as on a spoke, and its token Secret (role spoke).
*/}}
{{- define "anycast-operator.spokeServiceAccountName" -}}
{{- default (include "anycast-operator.fullname" .) .Values.spoke.serviceAccount.name }}
{{- end }}

{{- define "anycast-operator.spokeTokenSecretName" -}}
{{- default (printf "%s-token" (include "anycast-operator.spokeServiceAccountName" .)) .Values.spoke.tokenSecret.name }}
{{- end }}

{{/*
The operator image: repository@digest, or repository:tag (default the appVersion).
*/}}
{{- define "anycast-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Fails the render on values that the schema cannot express.
*/}}
{{- define "anycast-operator.validate" -}}
{{- if not (has .Values.role (list "hub" "spoke")) }}
{{- fail (printf "role must be hub or spoke, not %q" .Values.role) }}
{{- end }}
{{- if and (eq .Values.role "hub") (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: two replicas would reconcile at once" }}
{{- end }}
{{- end }}
