{{/*
Named templates of the mcp-sidecar chart.

The public ones, for a chart of your own that puts the sidecar into its pod (docs/kubernetes.md,
"Your own chart"), take the mcp-sidecar chart's context: in a parent chart that lists mcp-sidecar as
a dependency, that is (index .Subcharts "mcp-sidecar").

  mcp-sidecar.container   the sidecar container (add under initContainers when sidecar.native is
                          true, under containers otherwise)
  mcp-sidecar.volumes     the volumes it mounts: the config, the key Secrets, /tmp
  mcp-sidecar.config      the rendered config.yaml (hash it into a checksum/config annotation)
*/}}

{{- define "mcp-sidecar.name" -}}
{{- default "mcp-sidecar" .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcp-sidecar.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "mcp-sidecar" .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mcp-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mcp-sidecar.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mcp-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mcp-sidecar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mcp-sidecar.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Whole seconds (rounded up) of a sidecar duration such as 500ms, 20s, 1.5m, 1h or 1d. */}}
{{- define "mcp-sidecar.seconds" -}}
{{- $text := . | toString | nospace }}
{{- $number := regexFind "^[0-9.]+" $text }}
{{- $factor := get (dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 "d" 86400.0) (trimPrefix $number $text) }}
{{- mulf ($number | float64) ($factor | float64) | ceil | int }}
{{- end }}

{{/* The Mode B storage kind: "" in Mode A, else memory or redis. */}}
{{- define "mcp-sidecar.storageType" -}}
{{- with .Values.config.auth_server }}
{{- dig "storage" "type" "memory" . }}
{{- end }}
{{- end }}

{{/* Refusals that need more than values.schema.json can say; each names the value to change. */}}
{{- define "mcp-sidecar.validate" -}}
{{- $v := .Values }}
{{- $storage := include "mcp-sidecar.storageType" . }}
{{- if and $v.deployment.enabled (not $v.mcpServer.image.repository) }}
{{- fail "mcpServer.image.repository: set the image of your MCP server" }}
{{- end }}
{{- if and (eq $storage "memory") $v.autoscaling.enabled }}
{{- fail "autoscaling.enabled: Mode B keeps clients, codes and tokens in one process with memory storage; set config.auth_server.storage.type: redis (with redis_config) to run several replicas" }}
{{- end }}
{{- if and (eq $storage "memory") (gt (int $v.replicaCount) 1) }}
{{- fail "replicaCount: Mode B with memory storage runs one replica; set config.auth_server.storage.type: redis (with redis_config) to run several" }}
{{- end }}
{{- if and $storage (or $v.autoscaling.enabled (gt (int $v.replicaCount) 1)) }}
{{- range $name := list "signingKeys" "hmacSecrets" }}
{{- if not (index $v.secrets $name).existingSecret }}
{{- fail (printf "secrets.%s.existingSecret: several Mode B replicas must sign and verify with the same keys; make them with mcp-sidecar keygen and store them in a Secret" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $v.autoscaling.enabled (not (dig "requests" "cpu" "" ($v.mcpServer.resources | default dict))) }}
{{- fail "mcpServer.resources.requests.cpu: the HorizontalPodAutoscaler scales on CPU utilization, which needs a CPU request on every container" }}
{{- end }}
{{- if has (int $v.mcpServer.port) (list (int $v.sidecar.port) (int ($v.sidecar.metricsPort | default 0))) }}
{{- fail "mcpServer.port: the MCP server and the sidecar share the pod's network; give them different ports" }}
{{- end }}
{{- if not $v.config.auth_server }}
{{- range $name := list "signingKeys" "hmacSecrets" "upstreamClientSecret" "redis" }}
{{- if (index $v.secrets $name).existingSecret }}
{{- fail (printf "secrets.%s.existingSecret: used only by Mode B; add config.auth_server or remove it" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $v.secrets.redis.existingSecret (ne $storage "redis") }}
{{- fail "secrets.redis.existingSecret: set config.auth_server.storage.type: redis, or remove it" }}
{{- end }}
{{- if and $v.secrets.introspectionClientSecret.existingSecret (ne (dig "type" "" ($v.config.incoming_auth | default dict)) "oidc") }}
{{- fail "secrets.introspectionClientSecret.existingSecret: needs config.incoming_auth.type: oidc" }}
{{- end }}
{{- $server := $v.config.server | default dict }}
{{- range $key, $value := dict "port" "sidecar.port" "metrics_port" "sidecar.metricsPort" }}
{{- if hasKey $server $key }}
{{- fail (printf "config.server.%s: the chart writes it from %s; set that instead" $key $value) }}
{{- end }}
{{- end }}
{{- range $key, $value := dict "signing_key_config" "secrets.signingKeys" "hmac_secret_files" "secrets.hmacSecrets" }}
{{- if hasKey ($v.config.auth_server | default dict) $key }}
{{- fail (printf "config.auth_server.%s: the chart writes it from %s (an existing Secret, mounted read-only); set that instead" $key $value) }}
{{- end }}
{{- end }}
{{- $needed := add (include "mcp-sidecar.seconds" ($server.drain_timeout | default "20s")) (include "mcp-sidecar.seconds" ($server.shutdown_delay | default "0s")) }}
{{- if and (not (kindIs "invalid" $v.terminationGracePeriodSeconds)) (le (int $v.terminationGracePeriodSeconds) (int $needed)) }}
{{- fail (printf "terminationGracePeriodSeconds: must be more than config.server.shutdown_delay + drain_timeout (%d s), or the kubelet kills the sidecar mid-drain" (int $needed)) }}
{{- end }}
{{- end }}

{{/* Seconds the kubelet waits after SIGTERM: the value, or shutdown_delay + drain_timeout + 10. */}}
{{- define "mcp-sidecar.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- $server := .Values.config.server | default dict }}
{{- add (include "mcp-sidecar.seconds" ($server.drain_timeout | default "20s")) (include "mcp-sidecar.seconds" ($server.shutdown_delay | default "0s")) 10 }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds | int }}
{{- end }}
{{- end }}

{{/*
The sidecar's config.yaml: the `config` value, plus what the chart knows: the ports, a backend for
the MCP server on loopback when `config.backends` is empty, and the files of the key Secrets. Those
paths are relative, so the sidecar resolves them against the config file's folder, /etc/mcp-sidecar.
*/}}
{{- define "mcp-sidecar.config" -}}
{{- $v := .Values }}
{{- $s := $v.secrets }}
{{- $cfg := deepCopy ($v.config | default dict) }}
{{- $server := $cfg.server | default dict }}
{{- $_ := set $server "port" (int $v.sidecar.port) }}
{{- if $v.sidecar.metricsPort }}
{{- $_ := set $server "metrics_port" (int $v.sidecar.metricsPort) }}
{{- end }}
{{- $_ := set $cfg "server" $server }}
{{- if not $cfg.backends }}
{{- $url := printf "http://127.0.0.1:%d%s" (int $v.mcpServer.port) $v.mcpServer.path }}
{{- $_ := set $cfg "backends" (list (dict "name" $v.mcpServer.name "url" $url "path" $v.mcpServer.publicPath)) }}
{{- end }}
{{- if $s.introspectionClientSecret.existingSecret }}
{{- $incoming := $cfg.incoming_auth | default dict }}
{{- $oidc := $incoming.oidc | default dict }}
{{- $_ := set $oidc "client_secret_file" (printf "secrets/introspection/%s" $s.introspectionClientSecret.key) }}
{{- $_ := set $incoming "oidc" $oidc }}
{{- $_ := set $cfg "incoming_auth" $incoming }}
{{- end }}
{{- with $cfg.auth_server }}
{{- if $s.signingKeys.existingSecret }}
{{- $fallbacks := list }}
{{- range $s.signingKeys.fallbackKeys }}
{{- $fallbacks = append $fallbacks (printf "secrets/signing/%s" .) }}
{{- end }}
{{- $_ := set . "signing_key_config" (dict "signing_key_file" (printf "secrets/signing/%s" $s.signingKeys.currentKey) "fallback_key_files" $fallbacks) }}
{{- end }}
{{- if $s.hmacSecrets.existingSecret }}
{{- $files := list }}
{{- range $s.hmacSecrets.keys }}
{{- $files = append $files (printf "secrets/hmac/%s" .) }}
{{- end }}
{{- $_ := set . "hmac_secret_files" $files }}
{{- end }}
{{- if $s.upstreamClientSecret.existingSecret }}
{{- $upstream := first (.upstreams | default list) | default dict }}
{{- if not (has $upstream.type (list "oidc" "oauth2")) }}
{{- fail "secrets.upstreamClientSecret: config.auth_server.upstreams[0] must be of type oidc or oauth2 (a static upstream has no client secret)" }}
{{- end }}
{{- $section := printf "%s_config" $upstream.type }}
{{- $settings := get $upstream $section | default dict }}
{{- $_ := set $settings "client_secret_file" (printf "secrets/upstream/%s" $s.upstreamClientSecret.key) }}
{{- $_ := set $upstream $section $settings }}
{{- end }}
{{- $storage := .storage | default dict }}
{{- if and (eq $storage.type "redis") $storage.redis_config (not $storage.redis_config.key_prefix) }}
{{- /* Releases sharing one Redis need different prefixes; the braces are the cluster hash tag. */}}
{{- $_ := set $storage.redis_config "key_prefix" (printf "mcp-sidecar:{%s.%s}:" $.Release.Namespace (include "mcp-sidecar.fullname" $)) }}
{{- end }}
{{- if $s.redis.existingSecret }}
{{- $redis := dig "storage" "redis_config" dict . }}
{{- $acl := dict "password_file" (printf "secrets/redis/%s" $s.redis.passwordKey) }}
{{- with $s.redis.usernameKey }}
{{- $_ := set $acl "username_file" (printf "secrets/redis/%s" .) }}
{{- end }}
{{- $_ := set $redis "acl_user_config" $acl }}
{{- with $s.redis.caCertKey }}
{{- $tls := $redis.tls | default dict }}
{{- $_ := set $tls "ca_cert_file" (printf "secrets/redis/%s" .) }}
{{- $_ := set $redis "tls" $tls }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* The Secrets mounted into the sidecar: volume name, Secret, folder under secrets/, items. */}}
{{- define "mcp-sidecar.secretMounts" -}}
{{- $s := .Values.secrets }}
{{- $mounts := list }}
{{- if $s.signingKeys.existingSecret }}
{{- $mounts = append $mounts (dict "name" "mcp-sidecar-signing-keys" "secret" $s.signingKeys.existingSecret "dir" "signing" "keys" (prepend $s.signingKeys.fallbackKeys $s.signingKeys.currentKey)) }}
{{- end }}
{{- if $s.hmacSecrets.existingSecret }}
{{- $mounts = append $mounts (dict "name" "mcp-sidecar-hmac-secrets" "secret" $s.hmacSecrets.existingSecret "dir" "hmac" "keys" $s.hmacSecrets.keys) }}
{{- end }}
{{- if $s.upstreamClientSecret.existingSecret }}
{{- $mounts = append $mounts (dict "name" "mcp-sidecar-upstream-secret" "secret" $s.upstreamClientSecret.existingSecret "dir" "upstream" "keys" (list $s.upstreamClientSecret.key)) }}
{{- end }}
{{- if $s.introspectionClientSecret.existingSecret }}
{{- $mounts = append $mounts (dict "name" "mcp-sidecar-introspection-secret" "secret" $s.introspectionClientSecret.existingSecret "dir" "introspection" "keys" (list $s.introspectionClientSecret.key)) }}
{{- end }}
{{- if $s.redis.existingSecret }}
{{- $mounts = append $mounts (dict "name" "mcp-sidecar-redis-credentials" "secret" $s.redis.existingSecret "dir" "redis" "keys" (compact (list $s.redis.passwordKey $s.redis.usernameKey $s.redis.caCertKey))) }}
{{- end }}
{{- toYaml (dict "mounts" $mounts) }}
{{- end }}

{{/* The sidecar's volumes: its config, the key Secrets (read-only, mode 0400) and /tmp. */}}
{{- define "mcp-sidecar.volumes" -}}
- name: mcp-sidecar-config
  configMap:
    name: {{ include "mcp-sidecar.fullname" . }}
- name: mcp-sidecar-tmp
  emptyDir:
    sizeLimit: 64Mi
{{- range (include "mcp-sidecar.secretMounts" . | fromYaml).mounts }}
- name: {{ .name }}
  secret:
    secretName: {{ .secret }}
    # SECURITY: the sidecar warns about key files that group or others can read.
    defaultMode: 0400
    items:
      {{- range .keys }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end }}
{{- end }}

{{/* The sidecar image's tag: sidecar.image.tag, or the chart's appVersion. */}}
{{- define "mcp-sidecar.imageTag" -}}
{{- $tag := .Values.sidecar.image.tag }}
{{- if and (not $tag) .Chart }}
{{- $tag = .Chart.AppVersion }}
{{- end }}
{{- required "sidecar.image.tag: set the sidecar image tag" $tag }}
{{- end }}

{{- define "mcp-sidecar.image" -}}
{{- printf "%s:%s" .Values.sidecar.image.repository (include "mcp-sidecar.imageTag" .) }}
{{- end }}

{{/* The sidecar container. */}}
{{- define "mcp-sidecar.container" -}}
{{- $v := .Values.sidecar -}}
name: mcp-sidecar
image: {{ include "mcp-sidecar.image" . | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
{{- if $v.native }}
# A native sidecar: started before the MCP server, stopped after it.
restartPolicy: Always
{{- end }}
args: [serve]
env:
  - name: MCP_SIDECAR_CONFIG
    value: /etc/mcp-sidecar/config.yaml
  - name: TMPDIR
    value: /tmp
  {{- with $v.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
ports:
  - name: http
    containerPort: {{ $v.port }}
    protocol: TCP
  {{- if $v.metricsPort }}
  - name: metrics
    containerPort: {{ $v.metricsPort }}
    protocol: TCP
  {{- end }}
startupProbe:
  httpGet:
    path: /health
    port: http
  {{- toYaml $v.startupProbe | nindent 2 }}
livenessProbe:
  httpGet:
    path: /health
    port: http
  {{- toYaml $v.livenessProbe | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  {{- toYaml $v.readinessProbe | nindent 2 }}
{{- with $v.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.securityContext | nindent 2 }}
volumeMounts:
  - name: mcp-sidecar-config
    mountPath: /etc/mcp-sidecar/config.yaml
    subPath: config.yaml
    readOnly: true
  - name: mcp-sidecar-tmp
    mountPath: /tmp
  {{- range (include "mcp-sidecar.secretMounts" . | fromYaml).mounts }}
  - name: {{ .name }}
    mountPath: /etc/mcp-sidecar/secrets/{{ .dir }}
    readOnly: true
  {{- end }}
{{- end }}


{{- define "mcp-sidecar.webhook.fullname" -}}
{{- printf "%s-webhook" (include "mcp-sidecar.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* Not the app's selector labels: neither the app's Service nor its Deployment selects these. */}}
{{- define "mcp-sidecar.webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-sidecar.name" . | trunc 55 | trimSuffix "-" }}-webhook
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: inject-webhook
{{- end }}

{{- define "mcp-sidecar.webhook.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mcp-sidecar.webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The webhook's webhook.yaml (sidecar/webhook/settings.py): the same `sidecar` and `secrets` values
the chart's own pod is built from, so an injected sidecar is the one "mcp-sidecar.container" renders.
*/}}
{{- define "mcp-sidecar.webhook.config" -}}
{{- $sidecar := deepCopy .Values.sidecar }}
{{- $_ := set $sidecar.image "tag" (include "mcp-sidecar.imageTag" .) }}
{{- /* Helm drops a value set to null; the webhook must see the null, not take its default. */}}
{{- range $key := list "metricsPort" "resources" }}
{{- $_ := set $sidecar $key (index $.Values.sidecar $key) }}
{{- end }}
{{- $config := dict "sidecar" $sidecar "secrets" .Values.secrets }}
{{- with .Values.webhook.configMap }}
{{- $_ := set $config "configMap" . }}
{{- end }}
{{- toYaml $config }}
{{- end }}