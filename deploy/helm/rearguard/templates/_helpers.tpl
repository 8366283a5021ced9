{{- define "rearguard.labels" -}}
app.kubernetes.io/name: rearguard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "rearguard.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "rearguard.serviceAccount" -}}
{{ .Values.serviceAccount.name }}
{{- end }}

{{/* The Temporal connection, as the Temporal CLI reads it (README "Connecting to Temporal"). */}}
{{- define "rearguard.temporalEnv" -}}
- { name: TEMPORAL_ADDRESS, value: {{ .Values.temporal.address | quote }} }
- { name: TEMPORAL_NAMESPACE, value: {{ .Values.temporal.namespace | quote }} }
- { name: REARGUARD_TASK_QUEUE, value: {{ .Values.temporal.taskQueue | quote }} }
{{- if .Values.temporal.tlsSecret }}
- { name: TEMPORAL_TLS_CLIENT_CERT_PATH, value: /etc/rearguard/temporal-tls/tls.crt }
- { name: TEMPORAL_TLS_CLIENT_KEY_PATH, value: /etc/rearguard/temporal-tls/tls.key }
- { name: TEMPORAL_TLS_SERVER_CA_CERT_PATH, value: /etc/rearguard/temporal-tls/ca.crt }
{{- end }}
{{- if .Values.temporal.apiKey.secret }}
- name: TEMPORAL_API_KEY
  valueFrom: { secretKeyRef: { name: {{ .Values.temporal.apiKey.secret | quote }}, key: {{ .Values.temporal.apiKey.key | quote }} } }
{{- end }}
{{- end }}

{{- define "rearguard.temporalVolume" -}}
{{- if .Values.temporal.tlsSecret }}
- name: temporal-tls
  secret: { secretName: {{ .Values.temporal.tlsSecret | quote }} }
{{- end }}
{{- end }}

{{- define "rearguard.temporalMount" -}}
{{- if .Values.temporal.tlsSecret }}
- { name: temporal-tls, mountPath: /etc/rearguard/temporal-tls, readOnly: true }
{{- end }}
{{- end }}

{{- define "rearguard.auditVolume" -}}
- name: audit
{{- if .Values.worker.auditClaim }}
  persistentVolumeClaim: { claimName: {{ .Values.worker.auditClaim | quote }} }
{{- else }}
  emptyDir: {}
{{- end }}
{{- end }}
