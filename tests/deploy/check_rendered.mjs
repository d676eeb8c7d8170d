// Validates one `helm template` output against the Kubernetes (kubernetes-models) and
// prometheus-operator schemas, and asserts what the chart promises: restricted security
// contexts, least-privilege RBAC (no wildcards, approve only on the expected signers), probes
// and ports that agree with the controller's flags, and alerts/dashboard over real metrics.
// Writes the rendered policy (if any) to POLICY_OUT for `kube-csr-approver validate-policy`.
// Usage: KCA_REPO_DIR=REPO node check_rendered.mjs RENDERED.yaml CASE_JSON POLICY_OUT
import fs from 'node:fs';
import { parseAllDocuments } from 'yaml';

const [renderedPath, caseJson, policyOut] = process.argv.slice(2);
const expected = JSON.parse(caseJson);
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };

const docs = parseAllDocuments(fs.readFileSync(renderedPath, 'utf8'))
  .map((d) => d.toJS()).filter((d) => d);

const modelPaths = {
  'v1/Namespace': 'kubernetes-models/v1/Namespace',
  'v1/ServiceAccount': 'kubernetes-models/v1/ServiceAccount',
  'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap',
  'v1/Service': 'kubernetes-models/v1/Service',
  'v1/Pod': 'kubernetes-models/v1/Pod',
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'batch/v1/Job': 'kubernetes-models/batch/v1/Job',
  'networking.k8s.io/v1/NetworkPolicy': 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding',
  'rbac.authorization.k8s.io/v1/Role': 'kubernetes-models/rbac.authorization.k8s.io/v1/Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding',
  'monitoring.coreos.com/v1/ServiceMonitor': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PrometheusRule': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
};

const byKind = {};
for (const doc of docs) {
  const key = `${doc.apiVersion}/${doc.kind}`;
  const id = `${doc.kind} ${doc.metadata?.name}`;
  (byKind[doc.kind] ??= []).push(doc);
  if (!modelPaths[key]) { failures.push(`${id}: no schema known for ${key}`); continue; }
  const mod = await import(modelPaths[key]);
  try {
    new mod[doc.kind](doc).validate();
  } catch (e) {
    failures.push(`${id}: schema validation failed: ${e.message}`);
  }
}

const one = (kind) => {
  const list = byKind[kind] ?? [];
  check(list.length === 1, `expected exactly one ${kind}, got ${list.length}`);
  return list[0];
};

// Security contexts: restricted Pod Security Standard for every pod the chart makes.
function checkPodSecurity(id, podSpec, hostNetwork = false) {
  const psc = podSpec.securityContext ?? {};
  check(psc.runAsNonRoot === true, `${id}: pod runAsNonRoot must be true`);
  check(Number.isInteger(psc.runAsUser) && psc.runAsUser > 0, `${id}: pod runAsUser must be a non-zero UID`);
  check(psc.seccompProfile?.type === 'RuntimeDefault', `${id}: pod seccompProfile must be RuntimeDefault`);
  for (const c of podSpec.containers) {
    const sc = c.securityContext ?? {};
    const cid = `${id} container ${c.name}`;
    check(sc.allowPrivilegeEscalation === false, `${cid}: allowPrivilegeEscalation must be false`);
    check(sc.readOnlyRootFilesystem === true, `${cid}: readOnlyRootFilesystem must be true`);
    check(sc.runAsNonRoot === true, `${cid}: runAsNonRoot must be true`);
    check(JSON.stringify(sc.capabilities?.drop) === '["ALL"]', `${cid}: capabilities.drop must be [ALL]`);
    check(!sc.capabilities?.add, `${cid}: no capabilities may be added`);
    check(!sc.privileged, `${cid}: must not be privileged`);
    check(c.resources?.limits?.memory && c.resources?.requests?.memory && c.resources?.requests?.cpu,
      `${cid}: memory limit and cpu/memory requests must be set`);
  }
  check(Boolean(podSpec.hostNetwork) === hostNetwork && !podSpec.hostPID && !podSpec.hostIPC,
    `${id}: host namespaces (hostNetwork only when asked for)`);
}

const deploy = one('Deployment');
if (deploy) {
  const pod = deploy.spec.template.spec;
  checkPodSecurity('Deployment', pod, expected.hostNetwork ?? false);
  check(deploy.spec.replicas === expected.replicas, `Deployment replicas ${deploy.spec.replicas} != ${expected.replicas}`);
  const c = pod.containers[0];
  const args = c.args ?? [];
  check(args[0] === 'run', 'container args must start with the run subcommand');
  const flag = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  check(args.includes('--leader-elect') === (expected.replicas > 1),
    `--leader-elect must be set exactly when replicas > 1 (args: ${args.join(' ')})`);
  const portOf = (name) => c.ports.find((p) => p.name === name)?.containerPort;
  check(flag('metrics-bind-address')?.endsWith(`:${portOf('metrics')}`), 'metrics port and --metrics-bind-address disagree');
  check(flag('health-probe-bind-address')?.endsWith(`:${portOf('health')}`), 'health port and --health-probe-bind-address disagree');
  check(c.livenessProbe?.httpGet?.path === '/healthz' && c.livenessProbe.httpGet.port === 'health', 'liveness probe must GET /healthz on the health port');
  check(c.readinessProbe?.httpGet?.path === '/readyz' && c.readinessProbe.httpGet.port === 'health', 'readiness probe must GET /readyz on the health port');
  const mount = c.volumeMounts.find((m) => m.name === 'policy');
  check(mount && !mount.subPath && mount.readOnly, 'policy must be mounted read-only as a directory (no subPath: hot reload)');
  const policyPath = flag('policy');
  check(mount && policyPath?.startsWith(`${mount.mountPath}/`), `--policy ${policyPath} is not inside the policy mount`);
  const volume = pod.volumes.find((v) => v.name === 'policy');
  const key = policyPath?.slice(policyPath.lastIndexOf('/') + 1);
  const cm = (byKind.ConfigMap ?? []).find((m) => m.metadata.name === volume?.configMap?.name);
  // The pre-install hook validates exactly the text the Deployment will mount.
  const hook = (byKind.Job ?? []).find((j) => j.metadata.annotations?.['helm.sh/hook']?.includes('pre-install'));
  check(Boolean(hook) === (expected.policyInline && (expected.validateHook ?? true)),
    `validate-policy hook Job present must be ${expected.policyInline && (expected.validateHook ?? true)}`);
  if (hook) {
    const hookPod = hook.spec.template.spec;
    checkPodSecurity(`Job ${hook.metadata.name}`, hookPod);
    const hc = hookPod.containers[0];
    check(hc.image === c.image, 'the hook Job must run the Deployment\'s image');
    check(JSON.stringify([...(hc.command ?? []), ...(hc.args ?? [])].slice(1, 2)) === '["validate-policy"]',
      `hook Job must run validate-policy, runs ${[...(hc.command ?? []), ...(hc.args ?? [])].join(' ')}`);
    const hookCm = (byKind.ConfigMap ?? []).find((m) => m.metadata.name === hookPod.volumes[0]?.configMap?.name);
    check(hookCm?.metadata.annotations?.['helm.sh/hook']?.includes('pre-install'), 'hook ConfigMap must be a pre-install hook too');
    check(cm && hookCm && hookCm.data[key] === cm.data[key], 'hook ConfigMap must hold the same policy text');
  }
  if (expected.policyInline) {
    check(cm && typeof cm.data?.[key] === 'string', `ConfigMap ${volume?.configMap?.name} must hold the policy under key ${key}`);
    if (cm) fs.writeFileSync(policyOut, cm.data[key]);
  } else {
    check(!cm, 'with an existing ConfigMap the chart must not render one');
  }
  const sa = (byKind.ServiceAccount ?? [])[0];
  check(sa && pod.serviceAccountName === sa.metadata.name, 'Deployment must run as the chart\'s ServiceAccount');
}

// RBAC: exactly the grants the controller needs, no wildcards.
const role = one('ClusterRole');
if (role) {
  for (const r of role.rules) {
    for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs']) {
      for (const v of r[field] ?? []) check(!String(v).includes('*'), `ClusterRole: wildcard in ${field}: ${v}`);
    }
  }
  const grants = role.rules.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${r.apiGroups.join(',')}/${res}:${v}`))).sort();
  const want = [
    'certificates.k8s.io/certificatesigningrequests:get', 'certificates.k8s.io/certificatesigningrequests:list',
    'certificates.k8s.io/certificatesigningrequests:watch', 'certificates.k8s.io/certificatesigningrequests/approval:patch',
    'events.k8s.io/events:create',
    // reservedSANs applies to every rule: IP SANs are compared with the cluster's ServiceCIDRs.
    'networking.k8s.io/servicecidrs:list',
  ];
  if (expected.signers.length) want.push('certificates.k8s.io/signers:approve');
  // Node identity rules: only when the policy uses them (or rbac.nodeIdentity says so).
  if (expected.nodeAddresses) want.push('/nodes:get', '/nodes:list', '/nodes:watch');
  if (expected.requestorAuthorized) want.push('authorization.k8s.io/subjectaccessreviews:create');
  check(JSON.stringify(grants) === JSON.stringify(want.sort()), `ClusterRole grants ${grants} != ${want}`);
  const approve = role.rules.find((r) => r.verbs.includes('approve'));
  const names = approve ? [...(approve.resourceNames ?? [])].sort() : [];
  check(!approve || names.length > 0, 'approve on signers must be limited by resourceNames');
  check(JSON.stringify(names) === JSON.stringify([...expected.signers].sort()),
    `approve resourceNames ${names} != expected ${expected.signers}`);
  for (const r of role.rules) {
    if (!r.verbs.includes('approve')) check(!r.resourceNames, 'only the approve rule carries resourceNames');
  }
}
const roles = byKind.Role ?? [];
check(roles.length === (expected.replicas > 1 ? 1 : 0), `leader-election Role count ${roles.length}`);
for (const r of roles) {
  const grants = r.rules.flatMap((x) => x.resources.flatMap((res) => x.verbs.map((v) => `${x.apiGroups}/${res}:${v}`))).sort();
  check(JSON.stringify(grants) === JSON.stringify(['coordination.k8s.io/leases:create', 'coordination.k8s.io/leases:get', 'coordination.k8s.io/leases:update']),
    `Role ${r.metadata.name} grants ${grants}`);
  check(r.metadata.namespace === deploy?.metadata.namespace, 'leader-election Role must be in the release namespace');
}

check(((byKind.PodDisruptionBudget ?? []).length === 1) === expected.pdb, `PodDisruptionBudget present must be ${expected.pdb}`);
const testPods = byKind.Pod ?? [];
const wantTestPod = expected.helmTestPod ?? true;
check(testPods.length === (wantTestPod ? 1 : 0), `helm test Pods: ${testPods.length}`);
check(testPods.every((p) => p.metadata.annotations?.['helm.sh/hook'] === 'test'), 'a bare Pod must be a helm test hook');
for (const p of testPods) {
  checkPodSecurity(`Pod ${p.metadata.name}`, p.spec);
  check(p.spec.containers[0].command.join(' ').includes('/readyz'), 'helm test must query /readyz');
}

// Monitoring: the alerts and the dashboard must use metrics the controller exports.
const metrics = ['decisions_total', 'decision_errors_total', 'decision_latency_seconds', 'pending_csrs',
  'oldest_pending_csr_age_seconds', 'api_requests_total', 'watch_restarts_total', 'policy_reloads_total',
  'policy_info', 'policy_last_reload_successful', 'leader', 'build_info'].map((m) => `kube_csr_approver_${m}`);
const metricRe = /kube_csr_approver_[a-z_]+/g;
// GitHub's anchors of docs/operations.md's "### Name" headings (lowercased).
// KCA_REPO_DIR: the checkout (chart_test.sh sets it).
const operations = `${process.env.KCA_REPO_DIR}/docs/operations.md`;
const runbookAnchors = new Set([...fs.readFileSync(operations, 'utf8').matchAll(/^### (\S+)$/gm)].map((m) => m[1].toLowerCase()));
const known = (name) => metrics.some((m) => name === m || name === `${m}_bucket`);
if (expected.monitoring) {
  one('ServiceMonitor');
  const rule = one('PrometheusRule');
  const alerts = rule ? rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort() : [];
  const wantAlerts = expected.alerts ?? ['KubeCsrApproverDecisionErrors', 'KubeCsrApproverDenialsSpike',
    'KubeCsrApproverNoLeader', 'KubeCsrApproverPendingCsrTooOld', 'KubeCsrApproverPolicyReloadFailing',
    'KubeCsrApproverTwoLeaders', 'KubeCsrApproverWatchFailing'];
  check(JSON.stringify(alerts) === JSON.stringify([...wantAlerts].sort()), `alerts: ${alerts}`);
  const namespace = deploy?.metadata.namespace;
  for (const r of rule?.spec.groups.flatMap((g) => g.rules) ?? []) {
    for (const m of String(r.expr).match(metricRe) ?? []) check(known(m), `alert ${r.alert} uses unknown metric ${m}`);
    // One alert per release: every selector names the release namespace, every aggregation keeps it.
    for (const sel of String(r.expr).match(/kube_csr_approver_[a-z_]+\{[^}]*\}/g) ?? []) {
      check(sel.includes(`namespace="${namespace}"`), `alert ${r.alert}: ${sel} does not select namespace ${namespace}`);
    }
    for (const agg of String(r.expr).match(/\b(sum|max|min|avg|count)\b\s*(by\s*\([^)]*\))?\s*\(/g) ?? []) {
      check(/by\s*\([^)]*namespace/.test(agg), `alert ${r.alert}: "${agg}" drops the namespace label`);
    }
    const anchor = r.alert.toLowerCase();
    check(r.annotations?.runbook_url?.endsWith(`docs/operations.md#${anchor}`), `alert ${r.alert}: runbook_url ${r.annotations?.runbook_url}`);
    check(runbookAnchors.has(anchor), `alert ${r.alert}: docs/operations.md has no section "### ${r.alert}"`);
    check(r.annotations?.summary && r.annotations?.description, `alert ${r.alert}: summary and description`);
    for (const [k, v] of Object.entries(expected.alertLabels?.[r.alert] ?? {})) {
      check(r.labels?.[k] === v, `alert ${r.alert}: label ${k}=${r.labels?.[k]}, want ${v}`);
    }
  }
  const dash = (byKind.ConfigMap ?? []).find((m) => m.metadata.labels?.grafana_dashboard === '1');
  check(dash, 'dashboard ConfigMap with the grafana_dashboard label');
  if (dash) {
    const json = JSON.parse(Object.values(dash.data)[0]);
    const exprs = json.panels.flatMap((p) => p.targets.map((t) => t.expr));
    const used = new Set(exprs.flatMap((e) => e.match(metricRe) ?? []));
    for (const m of used) check(known(m), `dashboard uses unknown metric ${m}`);
    // A panel shows one kind of quantity in one unit: seconds, or counts and rates.
    for (const p of json.panels) {
      const kinds = new Set(p.targets.map((t) => (/_seconds/.test(t.expr) ? 'seconds' : 'count')));
      check(kinds.size === 1, `dashboard panel "${p.title}" mixes seconds and counts`);
      const unit = p.fieldConfig?.defaults?.unit;
      check((unit === 's') === kinds.has('seconds'), `dashboard panel "${p.title}": unit ${unit} for ${[...kinds]}`);
    }
    const rules = json.panels.find((p) => p.title === 'Policy rules in force');
    check(rules?.targets[0].legendFormat === '{{rules}}' && rules?.options?.textMode === 'name',
      'the "Policy rules in force" stat must show the rules label of policy_info (its value is always 1)');
    for (const m of ['decisions_total', 'pending_csrs', 'oldest_pending_csr_age_seconds', 'decision_latency_seconds_bucket',
      'api_requests_total', 'watch_restarts_total', 'leader', 'policy_reloads_total', 'decision_errors_total',
      'policy_last_reload_successful']) {
      check(used.has(`kube_csr_approver_${m}`), `dashboard has no panel over kube_csr_approver_${m}`);
    }
  }
} else {
  check(!byKind.ServiceMonitor && !byKind.PrometheusRule, 'monitoring objects must be off by default');
}

// Case-specific expectations: {"Kind:dotted.path": value}, path segments may be array indexes;
// "Kind:path~" means the JSON text of the value contains the given string (or each of a list).
for (const [where, want] of Object.entries(expected.expect ?? {})) {
  const [kind, rawPath] = where.split(':');
  const contains = rawPath.endsWith('~');
  const path = contains ? rawPath.slice(0, -1) : rawPath;
  const got = path.split('.').reduce((v, k) => v?.[k], (byKind[kind] ?? [])[0]);
  const canonical = (v) => JSON.stringify(v ?? null, (k, x) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
  const text = canonical(got);
  const ok = contains ? [want].flat().every((w) => text.includes(w)) : text === canonical(want);
  check(ok, `${where}: got ${JSON.stringify(got)}, want ${contains ? 'something containing ' : ''}${JSON.stringify(want)}`);
}

if (failures.length) {
  console.error(`${renderedPath}:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`${renderedPath}: ${docs.length} manifests valid`);
