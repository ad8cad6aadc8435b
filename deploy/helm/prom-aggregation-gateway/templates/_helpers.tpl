{{/* The chart's names, labels, and the checks and computed values the templates share. */}}

{{- define "pag.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pag.fullname" -}}
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

{{- define "pag.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pag.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{- define "pag.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "pag.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}

{{- define "pag.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Fails the render on values that make no sense together. Included by every workload template.
*/}}
{{- define "pag.validate" -}}
{{- if .Values.persistence.enabled }}
{{- if eq .Values.kind "DaemonSet" }}
{{- fail "persistence.enabled needs kind: Deployment or StatefulSet: one snapshot file has one writer, and a DaemonSet runs a pod per node" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (eq .Values.kind "Deployment") }}
{{- fail (printf "persistence.enabled needs replicas: 1, not %d: one snapshot file has one writer; use kind: StatefulSet for a claim per pod" (int .Values.replicas)) }}
{{- end }}
{{- end }}
{{- if and .Values.persistence.enabled .Values.persistence.existingClaim (eq .Values.kind "StatefulSet") }}
{{- fail "persistence.existingClaim does not go with kind: StatefulSet, which makes a claim per pod" }}
{{- end }}
{{- $managed := dict "apiListen" "ports.api" "lifecycleListen" "ports.lifecycle" "persistenceFile" "persistence" "persistenceInterval" "persistence.interval" "AuthUsers" "auth" "webConfigFile" "webConfig" "rulesFile" "rules" }}
{{- range $flag, $value := dict "remoteWriteURL" "remoteWrite.urls" "remoteWriteInterval" "remoteWrite.interval" "remoteWriteLabel" "remoteWrite.labels" "remoteWriteHeader" "remoteWrite.headers" "remoteWriteUsername" "remoteWrite.username" "remoteWritePassword" "remoteWrite.password" "remoteWritePasswordFile" "remoteWrite.password" "remoteWriteBearerToken" "remoteWrite.bearerToken" "remoteWriteBearerTokenFile" "remoteWrite.bearerToken" }}
{{- $_ := set $managed $flag $value }}
{{- end }}
{{- range $flag, $value := .Values.config }}
{{- if hasKey $managed $flag }}
{{- fail (printf "config.%s is set by the chart: use %s instead" $flag (get $managed $flag)) }}
{{- end }}
{{- end }}
{{- if and .Values.auth.users .Values.auth.existingSecret }}
{{- fail "auth: give users or existingSecret, not both" }}
{{- end }}
{{- if and .Values.webConfig.content .Values.webConfig.existingSecret }}
{{- fail "webConfig: give content or existingSecret, not both" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled .Values.podMonitor.enabled }}
{{- fail "serviceMonitor and podMonitor would both scrape every pod: enable one" }}
{{- end }}
{{- if and .Values.partialSums.enabled (not (or .Values.serviceMonitor.enabled .Values.podMonitor.enabled)) }}
{{- fail "partialSums.enabled relabels the scrape of podMonitor or serviceMonitor: enable one (or write the scrape job as docs/scaling.md shows)" }}
{{- end }}
{{- if .Values.prometheusRule.enabled }}
{{- if not .Values.partialSums.enabled }}
{{- fail "prometheusRule.enabled records sums over gateway_replica, which partialSums.enabled sets" }}
{{- end }}
{{- if not (or .Values.prometheusRule.counters .Values.prometheusRule.histograms) }}
{{- fail "prometheusRule.enabled needs the families to sum: prometheusRule.counters or prometheusRule.histograms" }}
{{- end }}
{{- end }}
{{- $rw := .Values.remoteWrite }}
{{- if and $rw.bearerToken (or $rw.username $rw.password) }}
{{- fail "remoteWrite takes Basic auth (username and password) or a bearerToken, not both" }}
{{- end }}
{{- if and $rw.existingSecret (or $rw.password $rw.bearerToken) }}
{{- fail "remoteWrite: give password or bearerToken, or existingSecret, not both" }}
{{- end }}
{{- if and $rw.password (not $rw.username) }}
{{- fail "remoteWrite.password needs remoteWrite.username" }}
{{- end }}
{{- if and $rw.username (not (or $rw.password $rw.existingSecret)) }}
{{- fail "remoteWrite.username needs remoteWrite.password or remoteWrite.existingSecret (key password)" }}
{{- end }}
{{- if and (not $rw.urls) (or $rw.username $rw.password $rw.bearerToken $rw.existingSecret $rw.labels $rw.headers) }}
{{- fail "remoteWrite settings without remoteWrite.urls send nothing: give the receivers' URLs" }}
{{- end }}
{{- end }}

{{/*
Remote write credentials: "password" (Basic, with remoteWrite.username), "bearer-token", or
nothing. With existingSecret, a username means its key password, else its key bearer-token.
*/}}
{{- define "pag.remoteWriteSecretKey" -}}
{{- $rw := .Values.remoteWrite }}
{{- if $rw.urls }}
{{- if $rw.username }}password
{{- else if or $rw.bearerToken $rw.existingSecret }}bearer-token
{{- end }}
{{- end }}
{{- end }}
{{- define "pag.remoteWriteSecret" -}}
{{- default (printf "%s-remote-write" (include "pag.fullname" .)) .Values.remoteWrite.existingSecret }}
{{- end }}

{{/* The remote write labels: remoteWrite.labels, and with partial sums gateway_replica. */}}
{{- define "pag.remoteWriteLabels" -}}
{{- $labels := deepCopy (default (dict) .Values.remoteWrite.labels) }}
{{- if and .Values.partialSums.enabled (not (hasKey $labels "gateway_replica")) }}
{{- $_ := set $labels "gateway_replica" "$(POD_NAME)" }}
{{- end }}
{{- $entries := list }}
{{- range $name, $value := $labels }}
{{- $entries = append $entries (printf "%s=%s" $name $value) }}
{{- end }}
{{- join "," $entries }}
{{- end }}

{{/*
The memory limit: resources.limits.memory if set, else twice the gateway's four byte budgets
(from config, or the flags' defaults) plus 240 MiB for the runtime, in Mi. values.yaml explains.
*/}}
{{- define "pag.memoryLimit" -}}
{{- if .Values.resources.limits.memory }}
{{- .Values.resources.limits.memory }}
{{- else }}
{{- $c := .Values.config }}
{{- $sum := 0 }}
{{- range $flag, $default := dict "maxStoreBytes" 268435456 "maxRequestBufferBytes" 67108864 "maxScrapeBacklogBytes" 67108864 "maxPushCacheBytes" 8388608 }}
{{- $sum = add $sum (int64 (default $default (get $c $flag))) }}
{{- end }}
{{- with .Values.remoteWrite.urls }}
{{- /* Each receiver's queue, and the copy of the store that each interval sends. */}}
{{- $sum = add $sum (mul (len .) (int64 (default 67108864 (get $c "remoteWriteMaxQueueBytes")))) (int64 (default 268435456 (get $c "maxStoreBytes"))) }}
{{- end }}
{{- printf "%dMi" (add (div (mul 2 $sum) 1048576) 240) }}
{{- end }}
{{- end }}

{{/* Whether the web config turns TLS on, and whether it requires client certificates. */}}
{{- define "pag.tls" -}}
{{- if and .Values.webConfig.content (hasKey .Values.webConfig.content "tls_server_config") }}true{{ end }}
{{- end }}
{{- define "pag.clientCertRequired" -}}
{{- if include "pag.tls" . }}
{{- $type := default "" (get .Values.webConfig.content.tls_server_config "client_auth_type") }}
{{- if has $type (list "RequireAnyClientCert" "RequireAndVerifyClientCert") }}true{{ end }}
{{- end }}
{{- end }}

{{- define "pag.webConfigSecret" -}}
{{- default (printf "%s-web-config" (include "pag.fullname" .)) .Values.webConfig.existingSecret }}
{{- end }}
{{- define "pag.authSecret" -}}
{{- default (printf "%s-auth" (include "pag.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/*
How the kubelet probes: webConfig.probe if set, else from webConfig.content: TCP when client
certificates are required (the kubelet has none), HTTPS with TLS, else HTTP.
*/}}
{{- define "pag.probeKind" -}}
{{- if .Values.webConfig.probe }}{{ .Values.webConfig.probe }}
{{- else if include "pag.clientCertRequired" . }}TCP
{{- else if include "pag.tls" . }}HTTPS
{{- else }}HTTP
{{- end }}
{{- end }}

{{- define "pag.probe" -}}
{{- $root := index . 0 }}
{{- $path := index . 1 }}
{{- $kind := include "pag.probeKind" $root }}
{{- if eq $kind "TCP" }}
tcpSocket:
  port: lifecycle
{{- else }}
httpGet:
  path: {{ $path | quote }}
  port: lifecycle
  scheme: {{ $kind }}
{{- end }}
{{- end }}

{{/* The pod template, shared by the Deployment and the DaemonSet. */}}
{{- define "pag.podTemplate" -}}
metadata:
  labels:
    {{- include "pag.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  containers:
    - name: gateway
      image: {{ include "pag.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy | quote }}
      args: [start]
      ports:
        - name: api
          containerPort: {{ .Values.ports.api }}
          protocol: TCP
        - name: lifecycle
          containerPort: {{ .Values.ports.lifecycle }}
          protocol: TCP
      env:
        {{- if .Values.remoteWrite.urls }}
        # First, so that later values can say $(POD_NAME), as remoteWrite.labels can.
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- end }}
        - name: PAG_APILISTEN
          value: {{ printf ":%d" (int .Values.ports.api) | quote }}
        - name: PAG_LIFECYCLELISTEN
          value: {{ printf ":%d" (int .Values.ports.lifecycle) | quote }}
        {{- range $flag, $value := .Values.config }}
        - name: {{ printf "PAG_%s" (upper $flag) }}
          value: {{ if kindIs "slice" $value }}{{ join "," $value | quote }}{{ else if and (kindIs "float64" $value) (eq $value (float64 (int64 $value))) }}{{ int64 $value | toString | quote }}{{ else }}{{ toString $value | quote }}{{ end }}
        {{- end }}
        {{- if .Values.persistence.enabled }}
        - name: PAG_PERSISTENCEFILE
          value: /var/lib/pag/aggregate.prom
        - name: PAG_PERSISTENCEINTERVAL
          value: {{ .Values.persistence.interval | quote }}
        {{- end }}
        {{- if or .Values.auth.users .Values.auth.existingSecret }}
        - name: PAG_AUTHUSERS
          valueFrom:
            secretKeyRef:
              name: {{ include "pag.authSecret" . | quote }}
              key: authUsers
        {{- end }}
        {{- if or .Values.webConfig.content .Values.webConfig.existingSecret }}
        - name: PAG_WEBCONFIGFILE
          value: /etc/prom-aggregation-gateway/web/web-config.yml
        {{- end }}
        {{- if .Values.rules }}
        - name: PAG_RULESFILE
          value: /etc/prom-aggregation-gateway/rules/rules.yml
        {{- end }}
        {{- with .Values.remoteWrite.urls }}
        - name: PAG_REMOTEWRITEURL
          value: {{ join "," . | quote }}
        - name: PAG_REMOTEWRITEINTERVAL
          value: {{ $.Values.remoteWrite.interval | quote }}
        {{- with include "pag.remoteWriteLabels" $ }}
        - name: PAG_REMOTEWRITELABEL
          value: {{ . | quote }}
        {{- end }}
        {{- with $.Values.remoteWrite.headers }}
        - name: PAG_REMOTEWRITEHEADER
          value: {{ $entries := list }}{{ range $name, $value := . }}{{ $entries = append $entries (printf "%s=%s" $name $value) }}{{ end }}{{ join "," $entries | quote }}
        {{- end }}
        {{- with $.Values.remoteWrite.username }}
        - name: PAG_REMOTEWRITEUSERNAME
          value: {{ . | quote }}
        {{- end }}
        {{- $key := include "pag.remoteWriteSecretKey" $ }}
        {{- if eq $key "password" }}
        # The secret is a file, read at each request: never in the environment.
        - name: PAG_REMOTEWRITEPASSWORDFILE
          value: /etc/prom-aggregation-gateway/remote-write/password
        {{- else if eq $key "bearer-token" }}
        # The secret is a file, read at each request: never in the environment.
        - name: PAG_REMOTEWRITEBEARERTOKENFILE
          value: /etc/prom-aggregation-gateway/remote-write/bearer-token
        {{- end }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      livenessProbe:
        {{- include "pag.probe" (list . "/-/healthy") | trim | nindent 8 }}
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        {{- include "pag.probe" (list . "/-/ready") | trim | nindent 8 }}
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        requests:
          {{- toYaml .Values.resources.requests | nindent 10 }}
        limits:
          {{- with (omit .Values.resources.limits "memory") }}
          {{- toYaml . | nindent 10 }}
          {{- end }}
          memory: {{ include "pag.memoryLimit" . | quote }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if .Values.persistence.enabled }}
        - name: state
          mountPath: /var/lib/pag
        {{- end }}
        {{- if or .Values.webConfig.content .Values.webConfig.existingSecret }}
        - name: web-config
          mountPath: /etc/prom-aggregation-gateway/web
          readOnly: true
        {{- end }}
        {{- if .Values.webConfig.tlsSecret }}
        - name: tls
          mountPath: /etc/prom-aggregation-gateway/tls
          readOnly: true
        {{- end }}
        {{- if .Values.rules }}
        - name: rules
          mountPath: /etc/prom-aggregation-gateway/rules
          readOnly: true
        {{- end }}
        {{- if include "pag.remoteWriteSecretKey" . }}
        - name: remote-write
          mountPath: /etc/prom-aggregation-gateway/remote-write
          readOnly: true
        {{- end }}
  volumes:
    # The root filesystem is read-only; the gateway writes nowhere else but the snapshot.
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
    {{- if and .Values.persistence.enabled (ne .Values.kind "StatefulSet") }}
    - name: state
      persistentVolumeClaim:
        claimName: {{ default (printf "%s-state" (include "pag.fullname" .)) .Values.persistence.existingClaim | quote }}
    {{- end }}
    {{- if or .Values.webConfig.content .Values.webConfig.existingSecret }}
    - name: web-config
      secret:
        secretName: {{ include "pag.webConfigSecret" . | quote }}
        items:
          - key: web-config.yml
            path: web-config.yml
    {{- end }}
    {{- if .Values.webConfig.tlsSecret }}
    - name: tls
      secret:
        secretName: {{ .Values.webConfig.tlsSecret | quote }}
    {{- end }}
    {{- if .Values.rules }}
    - name: rules
      configMap:
        name: {{ printf "%s-rules" (include "pag.fullname" .) | quote }}
    {{- end }}
    {{- with include "pag.remoteWriteSecretKey" . }}
    - name: remote-write
      secret:
        secretName: {{ include "pag.remoteWriteSecret" $ | quote }}
        # 0440: the owner and the pod's fsGroup read it.
        defaultMode: 288
        items:
          - key: {{ . }}
            path: {{ . }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
