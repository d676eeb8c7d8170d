{{- define "kca.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kca.fullname" -}}
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

{{- define "kca.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kca.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kca.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kca.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kca.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kca.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kca.leaseName" -}}
{{- default (include "kca.fullname" .) .Values.leaderElection.id }}
{{- end }}

{{- define "kca.image" -}}
{{- $repository := .Values.image.repository }}
{{- with .Values.image.registry }}{{ $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The policy file's text as it goes into the ConfigMap: policy.inlineText untouched, else
policy.inline through Helm's toYaml.
*/}}
{{- define "kca.policyText" -}}
{{- if .Values.policy.inlineText }}
{{- .Values.policy.inlineText }}
{{- else }}
{{- toYaml .Values.policy.inline }}
{{- end }}
{{- end }}

{{/* The policy as a map, for deriving RBAC (from policy.inlineText when set). */}}
{{- define "kca.policyObject" -}}
{{- if .Values.policy.inlineText }}
{{- $parsed := fromYaml .Values.policy.inlineText }}
{{- if hasKey $parsed "Error" }}
{{- fail (printf "policy.inlineText is not YAML: %s" (get $parsed "Error")) }}
{{- end }}
{{- toJson $parsed }}
{{- else }}
{{- toJson .Values.policy.inline }}
{{- end }}
{{- end }}

{{- define "kca.policyConfigMap" -}}
{{- default (printf "%s-policy" (include "kca.fullname" .)) .Values.policy.existingConfigMap }}
{{- end }}

{{/*
The signers the ServiceAccount may approve for, as a JSON list: rbac.signers plus the literal
selector.signerNames of the inline policy's approve rules. An approve rule that selects no literal
signer (no signerNames, or a glob/regex) cannot be turned into least-privilege RBAC, so it needs
rbac.signers; rendering fails when the result would be empty or a wildcard.
*/}}
{{- define "kca.signers" -}}
{{- $signers := list }}
{{- range .Values.rbac.signers }}
{{- if or (contains "*" .) (contains "?" .) }}
{{- fail (printf "rbac.signers: %q is a pattern; list signer names literally (RBAC resourceNames have no wildcards)" .) }}
{{- end }}
{{- $signers = append $signers . }}
{{- end }}
{{- if not .Values.policy.existingConfigMap }}
{{- $policy := include "kca.policyObject" . | fromJson }}
{{- $field := ternary "policy.inlineText" "policy.inline" (not (empty .Values.policy.inlineText)) }}
{{- range $i, $rule := (get $policy "rules" | default list) }}
{{- if eq (toString $rule.action) "approve" }}
{{- $names := list }}
{{- if $rule.selector }}{{- $names = $rule.selector.signerNames | default list }}{{- end }}
{{- $literal := 0 }}
{{- range $names }}
{{- if and (kindIs "string" .) (not (contains "*" .)) (not (contains "?" .)) }}
{{- $signers = append $signers . }}
{{- $literal = add1 $literal }}
{{- end }}
{{- end }}
{{- if and (or (not $names) (ne (len $names) $literal)) (not $.Values.rbac.signers) }}
{{- fail (printf "%s.rules[%d] (%s) approves for signers given by a pattern or for any signer; list the signers it may approve for in rbac.signers" $field $i $rule.name) }}
{{- end }}
{{- end }}
{{- end }}
{{- else if not .Values.rbac.signers }}
{{- fail "policy.existingConfigMap is set: list the signers its approve rules name in rbac.signers" }}
{{- end }}
{{- $signers | uniq | sortAlpha | toJson }}
{{- end }}
