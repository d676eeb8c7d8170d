// Turns the Deployment of rendered manifests (helm template, or deploy/*.yaml) into the
// `podman run` arguments that run its container as the kubelet would: command/args, env, the
// pod and container securityContext, each ConfigMap volume as a read-only directory in the
// kubelet's atomic-writer layout (<dir>/..<timestamp>/KEY, ..data -> ..<timestamp>, KEY ->
// ..data/KEY; kubernetes/kubernetes pkg/volume/util/atomic_writer.go) and the service-account
// files at /var/run/secrets/kubernetes.io/serviceaccount.
// Usage: node podman_from_manifests.mjs MANIFESTS.yaml VOLUME_ROOT SERVICEACCOUNT_DIR IMAGE
// Prints one argument per line (for `mapfile`); the volumes' host directories are
// VOLUME_ROOT/<volume name>.
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

const [manifestsPath, volumeRoot, serviceAccountDir, image] = process.argv.slice(2);
const docs = parseAllDocuments(fs.readFileSync(manifestsPath, 'utf8')).map((d) => d.toJS()).filter((d) => d);
const deploy = docs.find((d) => d.kind === 'Deployment');
if (!deploy) throw new Error(`${manifestsPath}: no Deployment`);
const pod = deploy.spec.template.spec;
if (pod.containers.length !== 1) throw new Error('expected one container');
const [container] = pod.containers;
const podSecurity = pod.securityContext ?? {};
const security = { ...podSecurity, ...(container.securityContext ?? {}) };
const out = [];
const fail = (message) => { throw new Error(`${manifestsPath}: ${message}`); };

// securityContext, field by field; anything not mapped here fails so the test never silently
// runs a looser container than the manifest asks for.
const known = new Set(['runAsUser', 'runAsGroup', 'runAsNonRoot', 'readOnlyRootFilesystem',
  'allowPrivilegeEscalation', 'capabilities', 'seccompProfile', 'fsGroup', 'privileged']);
for (const key of Object.keys(security)) if (!known.has(key)) fail(`securityContext.${key} is not mapped`);
if (security.runAsUser === undefined) fail('no runAsUser: the test runs the image as the manifest says');
if (security.runAsNonRoot && security.runAsUser === 0) fail('runAsNonRoot with runAsUser 0');
if (security.privileged) fail('privileged');
out.push(`--user=${security.runAsUser}:${security.runAsGroup ?? security.runAsUser}`);
if (security.fsGroup !== undefined) out.push(`--group-add=${security.fsGroup}`);
if (security.readOnlyRootFilesystem) out.push('--read-only', '--read-only-tmpfs=false');
if (security.allowPrivilegeEscalation === false) out.push('--security-opt=no-new-privileges');
for (const cap of security.capabilities?.drop ?? []) out.push(`--cap-drop=${cap}`);
for (const cap of security.capabilities?.add ?? []) out.push(`--cap-add=${cap}`);
const seccomp = security.seccompProfile?.type;
if (seccomp && seccomp !== 'RuntimeDefault') fail(`seccompProfile ${seccomp} is not mapped`);

// resources.limits, as the kubelet enforces them: memory as the cgroup's hard limit with no swap
// on top (the kubelet's default), cpu as a CFS quota. An image that needs more than the manifest
// allows is OOM-killed or starved here as in a cluster. Quantities as Kubernetes writes them
// (k8s.io/apimachinery/pkg/api/resource/quantity.go): decimal or binary suffixes, or m for milli.
const quantitySuffixes = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const quantity = (field, text) => {
  const match = /^([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/.exec(String(text));
  if (!match) fail(`${field}: ${JSON.stringify(text)} is not a Kubernetes quantity`);
  return Number(match[1]) * quantitySuffixes[match[2] ?? ''];
};
for (const [key, value] of Object.entries(container.resources?.limits ?? {})) {
  const field = `resources.limits.${key}`;
  if (key === 'memory') {
    const bytes = Math.ceil(quantity(field, value));
    out.push(`--memory=${bytes}b`, `--memory-swap=${bytes}b`);
  } else if (key === 'cpu') {
    out.push(`--cpus=${quantity(field, value)}`);
  } else {
    fail(`${field} is not mapped`);
  }
}

// Environment: plain values and the downward API fields a Deployment may use.
const fieldValue = { 'metadata.namespace': deploy.metadata.namespace ?? 'default', 'metadata.name': `${deploy.metadata.name}-0`,
  'spec.nodeName': 'node-1', 'status.podIP': '127.0.0.1', 'spec.serviceAccountName': pod.serviceAccountName ?? 'default' };
for (const e of container.env ?? []) {
  if (e.value !== undefined) out.push(`--env=${e.name}=${e.value}`);
  else if (e.valueFrom?.fieldRef && fieldValue[e.valueFrom.fieldRef.fieldPath] !== undefined)
    out.push(`--env=${e.name}=${fieldValue[e.valueFrom.fieldRef.fieldPath]}`);
  else fail(`env ${e.name}: only value and fieldRef are mapped`);
}
if ((container.envFrom ?? []).length) fail('envFrom is not mapped');

// Volumes: ConfigMaps in the kubelet's layout (files 0644 as defaultMode 420, readable by the
// non-root user), mounted read-only.
for (const m of container.volumeMounts ?? []) {
  const volume = pod.volumes.find((v) => v.name === m.name) ?? fail(`volume ${m.name} missing`);
  if (m.subPath) fail(`volumeMount ${m.name} uses subPath`);
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === volume.configMap?.name);
  if (!cm) fail(`volume ${m.name}: ConfigMap ${volume.configMap?.name} is not in the manifests`);
  const dir = path.join(volumeRoot, m.name);
  const stamp = '..2026_01_01_00_00_00.000000001';
  fs.mkdirSync(path.join(dir, stamp), { recursive: true, mode: 0o755 });
  for (const [key, value] of Object.entries(cm.data ?? {})) {
    fs.writeFileSync(path.join(dir, stamp, key), value, { mode: 0o644 });
    fs.symlinkSync(path.join('..data', key), path.join(dir, key));
  }
  fs.symlinkSync(stamp, path.join(dir, '..data'));
  out.push(`--volume=${dir}:${m.mountPath}:ro`);
}
if (pod.automountServiceAccountToken !== false) {
  out.push(`--volume=${serviceAccountDir}:/var/run/secrets/kubernetes.io/serviceaccount:ro`);
}
if (container.command) out.push(`--entrypoint=${JSON.stringify(container.command)}`);
out.push(image);
for (const a of container.args ?? []) out.push(a);
for (const line of out) {
  if (line.includes('\n')) fail(`argument with a newline: ${JSON.stringify(line)}`);
  console.log(line);
}
