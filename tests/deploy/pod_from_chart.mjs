// Turns the Deployment of a `helm template` output into a local process: writes each
// ConfigMap-backed volume's files under ROOT/<mountPath>, and prints the container's args (one per
// line, mount paths re-rooted under ROOT) after its env as KEY=VALUE lines and a `--` separator.
// Usage: node pod_from_chart.mjs RENDERED.yaml ROOT
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

const [renderedPath, root] = process.argv.slice(2);
const docs = parseAllDocuments(fs.readFileSync(renderedPath, 'utf8')).map((d) => d.toJS()).filter((d) => d);
const deploy = docs.find((d) => d.kind === 'Deployment');
const pod = deploy.spec.template.spec;
const [container] = pod.containers;
const mounts = container.volumeMounts ?? [];
for (const m of mounts) {
  const volume = pod.volumes.find((v) => v.name === m.name);
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === volume?.configMap?.name);
  if (!cm) throw new Error(`volume ${m.name}: ConfigMap ${volume?.configMap?.name} is not in the rendering`);
  const dir = path.join(root, m.mountPath);
  fs.mkdirSync(dir, { recursive: true });
  for (const [key, value] of Object.entries(cm.data)) fs.writeFileSync(path.join(dir, key), value);
}
const reroot = (arg) => mounts.reduce((a, m) => a.replaceAll(`${m.mountPath}/`, `${path.join(root, m.mountPath)}/`), arg);
for (const e of container.env ?? []) console.log(`${e.name}=${e.value}`);
console.log('--');
for (const a of container.args ?? []) console.log(reroot(a));
