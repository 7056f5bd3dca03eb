{{/*
Names and labels. Every object carries the standard app.kubernetes.io labels; objects of one
component also carry app.kubernetes.io/component, which the selectors include.
*/}}

{{- define "parley.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped prefix of every object name, at most 50 characters so "-presence" and friends fit in 63. */}}
{{- define "parley.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "parley.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "parley.selectorLabels" -}}
app.kubernetes.io/name: {{ include "parley.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "parley.labels" -}}
helm.sh/chart: {{ include "parley.chart" . }}
{{ include "parley.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: parley
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Usage: include "parley.componentName" (dict "root" $ "component" "gateway") */}}
{{- define "parley.componentName" -}}
{{- printf "%s-%s" (include "parley.fullname" .root) .component }}
{{- end }}

{{- define "parley.componentSelectorLabels" -}}
{{ include "parley.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "parley.componentLabels" -}}
{{ include "parley.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "parley.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "parley.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "parley.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "parley.configName" -}}
{{- printf "%s-config" (include "parley.fullname" .) }}
{{- end }}

{{/* In-cluster URLs; the .svc suffix works whatever the cluster domain is. */}}
{{- define "parley.serviceUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "parley.componentName" .) .root.Release.Namespace (int (index .root.Values .component).port) }}
{{- end }}

{{- define "parley.authUrl" -}}
{{- include "parley.serviceUrl" (dict "root" . "component" "auth") }}
{{- end }}

{{- define "parley.jwksUrl" -}}
{{- printf "%s/.well-known/jwks.json" (include "parley.authUrl" .) }}
{{- end }}

{{- define "parley.adminTokenSecretName" -}}
{{- default (printf "%s-admin-token" (include "parley.fullname" .)) .Values.auth.adminToken.existingSecret }}
{{- end }}

{{- define "parley.adminTokenSecretKey" -}}
{{- if .Values.auth.adminToken.existingSecret }}{{ .Values.auth.adminToken.existingSecretKey }}{{ else }}admin-token{{ end }}
{{- end }}

{{- define "parley.signingKeysSecretName" -}}
{{- default (printf "%s-signing-keys" (include "parley.fullname" .)) .Values.auth.signingKeys.existingSecret }}
{{- end }}

{{/* A component's drain in milliseconds, as PARLEY_DRAIN_MS reads it. Usage: (dict "root" $ "component" "gateway") */}}
{{- define "parley.drainMs" -}}
{{- mul (int (index .root.Values .component).drainSeconds) 1000 }}
{{- end }}

{{/*
A component's grace period. Kubernetes kills the pod this long after it starts terminating, and
the preStop sleep counts against it, so it must exceed preStop sleep + drain. 0 = computed.
*/}}
{{- define "parley.terminationGracePeriodSeconds" -}}
{{- $v := index .root.Values .component }}
{{- $needed := add (int $v.preStopSleepSeconds) (int $v.drainSeconds) }}
{{- if eq (int $v.terminationGracePeriodSeconds) 0 }}
{{- add $needed 10 }}
{{- else if le (int $v.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must be greater than %s.preStopSleepSeconds + %s.drainSeconds (%d), or the pod is killed before it has drained; set it to 0 to compute it" .component (int $v.terminationGracePeriodSeconds) .component .component (int $needed)) }}
{{- else }}
{{- $v.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* Lifecycle: sleep before SIGTERM so endpoints and proxies stop routing to the pod first. */}}
{{- define "parley.lifecycle" -}}
lifecycle:
  preStop:
    exec:
      command: ["sleep", "{{ (index .root.Values .component).preStopSleepSeconds }}"]
{{- end }}

{{/* An env entry whose value is a URL from the ConfigMap or from an existing Secret. */}}
{{- define "parley.urlEnv" -}}
- name: {{ .name }}
  valueFrom:
{{- if .values.existingSecret }}
    secretKeyRef:
      name: {{ .values.existingSecret }}
      key: {{ .values.existingSecretKey }}
{{- else }}
    configMapKeyRef:
      name: {{ include "parley.configName" .root }}
      key: {{ .key | default .name }}
{{- end }}
{{- end }}

{{- define "parley.configEnv" -}}
- name: {{ .name }}
  valueFrom:
    configMapKeyRef:
      name: {{ include "parley.configName" .root }}
      key: {{ .name }}
{{- end }}

{{/* Environment every service gets: listen address, NATS, Redis, logs, traces, federation, trusted CAs. */}}
{{- define "parley.commonEnv" -}}
{{- $root := .root -}}
- name: PORT
  value: {{ (index $root.Values .component).port | quote }}
{{ include "parley.configEnv" (dict "root" $root "name" "HOST") }}
{{ include "parley.urlEnv" (dict "root" $root "name" "NATS_URL" "values" $root.Values.nats) }}
{{- $tenantRedis := $root.Values.auth.tenantStore.redis }}
{{- if and (eq .component "auth") (or $tenantRedis.url $tenantRedis.existingSecret) }}
{{ include "parley.urlEnv" (dict "root" $root "name" "REDIS_URL" "key" "PARLEY_AUTH_REDIS_URL" "values" $tenantRedis) }}
{{- else }}
{{ include "parley.urlEnv" (dict "root" $root "name" "REDIS_URL" "values" $root.Values.redis) }}
{{- end }}
{{ include "parley.configEnv" (dict "root" $root "name" "PARLEY_LOG_LEVEL") }}
{{ include "parley.configEnv" (dict "root" $root "name" "OTEL_EXPORTER_OTLP_ENDPOINT") }}
{{ include "parley.configEnv" (dict "root" $root "name" "PARLEY_METRICS_PORT") }}
{{ include "parley.configEnv" (dict "root" $root "name" "PARLEY_METRICS_TENANT_LABELS") }}
{{ include "parley.federationEnv" $root }}
{{- if $root.Values.trustedCA.existingSecret }}
- name: NODE_EXTRA_CA_CERTS
  value: /etc/parley/trusted-ca/{{ $root.Values.trustedCA.key }}
{{- end }}
{{- end }}

{{- define "parley.commonVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.trustedCA.existingSecret }}
- name: trusted-ca
  mountPath: /etc/parley/trusted-ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "parley.commonVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.trustedCA.existingSecret }}
- name: trusted-ca
  secret:
    secretName: {{ .Values.trustedCA.existingSecret }}
    items:
      - key: {{ .Values.trustedCA.key }}
        path: {{ .Values.trustedCA.key }}
{{- end }}
{{- end }}

{{/* Ports and probes on the real health paths: /healthz (alive) and /readyz (ready to serve). */}}
{{- define "parley.portsAndProbes" -}}
{{- $v := index .root.Values .component -}}
ports:
  - name: http
    containerPort: {{ $v.port }}
    protocol: TCP
  - name: metrics
    containerPort: {{ .root.Values.metrics.port }}
    protocol: TCP
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ $v.probes.startup.periodSeconds }}
  failureThreshold: {{ $v.probes.startup.failureThreshold }}
  timeoutSeconds: {{ $v.probes.startup.timeoutSeconds }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ $v.probes.liveness.periodSeconds }}
  failureThreshold: {{ $v.probes.liveness.failureThreshold }}
  timeoutSeconds: {{ $v.probes.liveness.timeoutSeconds }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ $v.probes.readiness.periodSeconds }}
  failureThreshold: {{ $v.probes.readiness.failureThreshold }}
  timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
{{- end }}

{{/* Scheduling: spread replicas over nodes and zones unless the values give constraints. */}}
{{- define "parley.scheduling" -}}
{{- $v := index .root.Values .component -}}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
{{- if $v.topologySpreadConstraints }}
  {{- toYaml $v.topologySpreadConstraints | nindent 2 }}
{{- else }}
{{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "parley.componentSelectorLabels" $ | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
{{- end }}
{{- end }}
{{- end }}

{{/* Pod template metadata: labels and the checksum annotations that roll pods on config changes. */}}
{{- define "parley.podMetadata" -}}
{{- $v := index .root.Values .component -}}
metadata:
  labels:
    {{- include "parley.componentLabels" . | nindent 4 }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print .root.Template.BasePath "/config/configmap.yaml") .root | sha256sum }}
    {{- with .extraAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/* Pod-spec fields every component shares. */}}
{{- define "parley.podCommon" -}}
serviceAccountName: {{ include "parley.serviceAccountName" .root }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{ include "parley.scheduling" . | trim }}
{{- end }}

{{/* The container's image, command and security context. */}}
{{- define "parley.containerCommon" -}}
image: {{ include "parley.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
args:
  - node
  {{- if eq .component "gateway" }}
  {{- /* A small young generation and a slowly growing heap: "Memory" in docs/operations.md. */}}
  - --max-semi-space-size=8
  - --heap-growing-percent=20
  {{- end }}
  - services/{{ .component }}/src/main.ts
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
resources:
  {{- toYaml (index .root.Values .component).resources | nindent 2 }}
{{- end }}

{{/*
A new ES256 signing key as the auth service's key file wants it: a private JWK
{kty EC, crv P-256, d, x, y, kid, alg, use}. sprig's genPrivateKey "ecdsa" gives a P-256 key in
SEC1 DER (PEM "EC PRIVATE KEY"), whose layout is fixed: 7 header bytes, the 32-byte private
scalar, 18 bytes (curve OID, public-key header, 0x04), then X and Y of 32 bytes each. The header
bytes are checked so a change of that layout fails the install instead of producing a bad key.
Usage: include "parley.generatedSigningKeyJwk" "<kid>"
*/}}
{{- define "parley.generatedSigningKeyJwk" -}}
{{- $pem := genPrivateKey "ecdsa" }}
{{- $der := regexReplaceAll "-----[A-Z ]+-----|\\s" $pem "" | b64dec }}
{{- if or (ne (len $der) 121) (ne (substr 0 7 $der | b64enc) "MHcCAQEEIA==") (ne (substr 39 57 $der | b64enc) "oAoGCCqGSM49AwEHoUQDQgAE") }}
{{- fail "auth.signingKeys: could not generate a P-256 key in the expected SEC1 layout; give auth.signingKeys.files or existingSecret instead" }}
{{- end }}
{{- $b64url := dict "d" (substr 7 39 $der) "x" (substr 57 89 $der) "y" (substr 89 121 $der) }}
{{- range $k, $raw := $b64url }}
{{- $_ := set $b64url $k (b64enc $raw | replace "+" "-" | replace "/" "_" | trimSuffix "=" | trimSuffix "=") }}
{{- end }}
{{- dict "kty" "EC" "crv" "P-256" "d" $b64url.d "x" $b64url.x "y" $b64url.y "kid" . "alg" "ES256" "use" "sig" | toJson }}
{{- end }}

{{/* PARLEY_MODERATION_REDIS_URL: the federation's shared moderation Redis when given, else the Redis the gateways use. */}}
{{- define "parley.moderationRedisEnv" -}}
{{- $shared := .Values.federation.moderationRedis -}}
{{- if or $shared.url $shared.existingSecret -}}
{{ include "parley.urlEnv" (dict "root" . "name" "PARLEY_MODERATION_REDIS_URL" "key" "PARLEY_FEDERATION_MODERATION_REDIS_URL" "values" $shared) }}
{{- else -}}
{{ include "parley.urlEnv" (dict "root" . "name" "PARLEY_MODERATION_REDIS_URL" "key" "REDIS_URL" "values" .Values.redis) }}
{{- end -}}
{{- end }}

{{/* The federation settings (empty values = no federation). */}}
{{- define "parley.federationEnv" -}}
{{ include "parley.configEnv" (dict "root" . "name" "PARLEY_REGION") }}
{{ include "parley.configEnv" (dict "root" . "name" "PARLEY_FEDERATION_REGIONS") }}
{{ include "parley.configEnv" (dict "root" . "name" "PARLEY_HISTORY_REGION") }}
{{- end }}
