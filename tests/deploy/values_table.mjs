// The chart README's values table, generated from values.yaml's `# --` comments (the helm-docs
// convention): every value is documented exactly once, by a `# --` comment on it or on the map
// holding it (then the map is one row). An undocumented leaf, or a value documented under an
// already documented map, is an error. Writes the table between the README's
// `<!-- values-table:start -->` and `<!-- values-table:end -->` markers; with --check, only fails
// when the README's table differs. Run through scripts/chart-values-table.sh.
// Usage: node values_table.mjs CHART_DIR [--check]
import fs from 'node:fs';
import { parse } from 'yaml';

const [chartDir, mode] = process.argv.slice(2);
const valuesText = fs.readFileSync(`${chartDir}/values.yaml`, 'utf8');
const values = parse(valuesText);
const errors = [];
const rows = [];
const stack = [];  // {indent, key, documented}
let pending = null;  // the `# --` comment waiting for its key
let lineNo = 0;
for (const line of valuesText.split('\n')) {
  lineNo += 1;
  const start = line.match(/^(\s*)# -- (.*)$/);
  if (start) { pending = [start[2]]; continue; }
  const more = line.match(/^\s*# ?(.*)$/);
  if (more) { if (pending) pending.push(more[1]); continue; }
  const key = line.match(/^(\s*)([A-Za-z0-9_.-]+):(.*)$/);
  if (!key) { if (line.trim() === '') pending = null; continue; }
  const indent = key[1].length;
  while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
  const inDocumented = stack.some((s) => s.documented);
  const path = [...stack.map((s) => s.key), key[2]];
  const leaf = key[3].trim() !== '';
  if (pending && inDocumented) errors.push(`values.yaml:${lineNo}: ${path.join('.')} is documented twice (its map already is)`);
  if (pending && !inDocumented) rows.push({ path, description: pending.join(' ') });
  if (!pending && leaf && !inDocumented) errors.push(`values.yaml:${lineNo}: ${path.join('.')} has no "# --" comment`);
  stack.push({ indent, key: key[2], documented: Boolean(pending) || inDocumented });
  pending = null;
}

const cell = (text) => text.replaceAll('|', '\\|');
const shown = (path) => {
  const value = path.reduce((v, k) => v?.[k], values);
  return `\`${cell(JSON.stringify(value))}\``;
};
const table = ['| value | default | description |', '|---|---|---|',
  ...rows.map((r) => `| \`${r.path.join('.')}\` | ${shown(r.path)} | ${cell(r.description)} |`)].join('\n');

if (errors.length) { console.error(errors.join('\n')); process.exit(1); }
const readmePath = `${chartDir}/README.md`;
const readme = fs.readFileSync(readmePath, 'utf8');
const markers = /(<!-- values-table:start -->)[\s\S]*?(<!-- values-table:end -->)/;
if (!markers.test(readme)) { console.error(`${readmePath}: no values-table markers`); process.exit(1); }
const updated = readme.replace(markers, (_, a, b) => `${a}\n${table}\n${b}`);
if (mode === '--check') {
  if (updated !== readme) {
    console.error(`${readmePath}: the values table is out of date; run scripts/chart-values-table.sh`);
    process.exit(1);
  }
  console.log(`${readmePath}: values table up to date (${rows.length} values)`);
} else {
  fs.writeFileSync(readmePath, updated);
  console.log(`${readmePath}: wrote ${rows.length} values`);
}
