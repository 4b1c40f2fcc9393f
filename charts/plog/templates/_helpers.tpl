{{/* Names and labels, as `helm create` makes them. */}}
{{- define "plog.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "plog.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A name that is unique in the cluster (ClusterRoles): fullname and namespace. */}}
{{- define "plog.clusterName" -}}
{{- printf "%s-%s" (include "plog.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "plog.jobRole" -}}
{{- printf "%s-job" (include "plog.clusterName" .) -}}
{{- end -}}

{{- define "plog.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plog.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "plog.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "plog.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The pods that serve (layout pod: the one pod of both). */}}
{{- define "plog.serveSelector" -}}
{{ include "plog.selectorLabels" . }}
app.kubernetes.io/component: {{ if eq .Values.layout "pod" }}plog{{ else }}serve{{ end }}
{{- end -}}

{{- define "plog.workerSelector" -}}
{{ include "plog.selectorLabels" . }}
app.kubernetes.io/component: {{ if eq .Values.layout "pod" }}plog{{ else }}worker{{ end }}
{{- end -}}

{{- define "plog.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "plog.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "plog.image" -}}
{{- $repository := required "image.repository is required (an image with plog installed)" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The Secret the env refers to: the user's, else the chart's. */}}
{{- define "plog.secretName" -}}
{{- default (printf "%s-secrets" (include "plog.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "plog.dashboardUrl" -}}
{{- if .Values.dashboardUrl -}}
{{- .Values.dashboardUrl -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" (ne .Values.ingress.tlsSecretName "")) .Values.ingress.host -}}
{{- end -}}
{{- end -}}

{{/* One env entry from the Secret: name, key, optional. */}}
{{- define "plog.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret | quote }}
      key: {{ .key | quote }}
      optional: {{ .optional }}
{{- end -}}

{{/* The environment both containers share. */}}
{{- define "plog.commonEnv" -}}
- name: PLOG_HOME
  value: /var/lib/plog
# the root filesystem is read-only: git, k6 and buildah write under HOME and TMPDIR
- name: HOME
  value: /tmp
- name: TMPDIR
  value: /tmp
- name: PLOG_FORGE
  value: {{ .Values.forge.kind | quote }}
{{- with .Values.forge.apiUrl }}
- name: PLOG_FORGE_API_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.allow.repos }}
- name: PLOG_ALLOW_REPOS
  value: {{ join " " . | quote }}
{{- end }}
{{- with .Values.allow.forgeHosts }}
- name: PLOG_ALLOW_FORGE_HOSTS
  value: {{ join " " . | quote }}
{{- end }}
{{- with .Values.allow.nets }}
- name: PLOG_ALLOW_NETS
  value: {{ join " " . | quote }}
{{- end }}
{{- if .Values.allow.ssh }}
- name: PLOG_ALLOW_SSH
  value: "1"
{{- end }}
{{- with include "plog.dashboardUrl" . }}
- name: PLOG_DASHBOARD_URL
  value: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name | quote }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{- define "plog.serveContainer" -}}
- name: serve
  image: {{ include "plog.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["plog"]
  args:
    - serve
    - --host
    - "0.0.0.0"
    - --port
    - {{ .Values.serve.port | quote }}
    - --threads
    - {{ .Values.serve.threads | quote }}
    - --max-streams
    - {{ .Values.serve.maxStreams | quote }}
    {{- if not .Values.serve.webhook }}
    - --no-webhook
    {{- end }}
    {{- range .Values.serve.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  env:
    {{- include "plog.commonEnv" . | nindent 4 }}
    {{- $secret := include "plog.secretName" . }}
    {{- if .Values.serve.webhook }}
    {{- include "plog.secretEnv" (dict "name" "PLOG_WEBHOOK_SECRET" "secret" $secret "key" .Values.secrets.keys.webhookSecret "optional" false) | nindent 4 }}
    {{- end }}
    {{- include "plog.secretEnv" (dict "name" "PLOG_DASHBOARD_TOKEN" "secret" $secret "key" .Values.secrets.keys.dashboardToken "optional" true) | nindent 4 }}
  {{- with .Values.envFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: http
      containerPort: {{ .Values.serve.port }}
      protocol: TCP
  readinessProbe:
    httpGet:
      path: /healthz
      port: http
    periodSeconds: 5
  livenessProbe:
    httpGet:
      path: /healthz
      port: http
    periodSeconds: 20
    failureThreshold: 6
  {{- with .Values.serve.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: state
      mountPath: /var/lib/plog
    - name: tmp
      mountPath: /tmp
{{- end -}}

{{- define "plog.workerContainer" -}}
{{- $several := and (eq .Values.layout "split") (gt (int .Values.worker.replicas) 1) -}}
- name: worker
  image: {{ include "plog.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["plog"]
  args:
    - worker
    - --lease
    - {{ .Values.worker.lease | quote }}
    {{- range .Values.worker.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  env:
    {{- include "plog.commonEnv" . | nindent 4 }}
    {{- $secret := include "plog.secretName" . }}
    {{- include "plog.secretEnv" (dict "name" "PLOG_GITHUB_TOKEN" "secret" $secret "key" .Values.secrets.keys.githubToken "optional" true) | nindent 4 }}
    {{- include "plog.secretEnv" (dict "name" "PLOG_GITEA_TOKEN" "secret" $secret "key" .Values.secrets.keys.giteaToken "optional" true) | nindent 4 }}
    - name: PLOG_CAPTURE_LISTEN
      value: {{ printf "0.0.0.0:%d" (int .Values.capture.port) | quote }}
    {{- if $several }}
    # several workers: a job's k6 runners must reach the worker that runs it
    - name: POD_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    - name: PLOG_CAPTURE_ADVERTISE
      value: {{ printf "http://$(POD_IP):%d" (int .Values.capture.port) | quote }}
    {{- else }}
    - name: PLOG_CAPTURE_ADVERTISE
      value: {{ printf "http://%s-capture.%s.svc:%d" (include "plog.fullname" .) .Release.Namespace (int .Values.capture.port) | quote }}
    {{- end }}
    {{- if and .Values.rbac.create (eq .Values.rbac.jobAccess "namespace") }}
    # PLog binds this ClusterRole to this ServiceAccount in each job namespace it makes
    - name: PLOG_KUBE_JOB_ROLE
      value: {{ include "plog.jobRole" . | quote }}
    - name: PLOG_KUBE_SERVICE_ACCOUNT
      value: {{ include "plog.serviceAccountName" . | quote }}
    - name: PLOG_KUBE_SERVICE_ACCOUNT_NAMESPACE
      value: {{ .Release.Namespace | quote }}
    {{- end }}
  {{- with .Values.envFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: capture
      containerPort: {{ .Values.capture.port }}
      protocol: TCP
  {{- with .Values.worker.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: state
      mountPath: /var/lib/plog
    - name: tmp
      mountPath: /tmp
    # the API token, in this container only (the pod does not automount it)
    - name: kube-api-access
      mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      readOnly: true
{{- end -}}

{{/* What the kubelet would automount, as a volume the worker alone mounts. */}}
{{- define "plog.kubeApiAccessVolume" -}}
- name: kube-api-access
  projected:
    defaultMode: 292
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                apiVersion: v1
                fieldPath: metadata.namespace
{{- end -}}

{{- define "plog.stateVolume" -}}
- name: state
  {{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-state" (include "plog.fullname" .)) .Values.persistence.existingClaim | quote }}
  {{- else }}
  emptyDir: {}
  {{- end }}
- name: tmp
  emptyDir: {}
{{- end -}}

{{/* Pod fields every PLog pod has. */}}
{{- define "plog.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "plog.podMetadata" -}}
{{- range $key, $value := .Values.podLabels }}
{{ $key | quote }}: {{ $value | quote }}
{{- end }}
{{- end -}}
