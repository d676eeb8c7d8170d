// Writes the `groups` of the PrometheusRule in a `helm template` output as a Prometheus rule
// file, for promtool. With --no-annotations, annotations are dropped (the unit tests compare
// labels; check_rendered.mjs checks the annotations).
// Usage: node extract_rules.mjs RENDERED.yaml OUT.yaml [--no-annotations]
import fs from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';

const [renderedPath, outPath, option] = process.argv.slice(2);
const rules = parseAllDocuments(fs.readFileSync(renderedPath, 'utf8'))
  .map((d) => d.toJS()).filter((d) => d?.kind === 'PrometheusRule');
if (rules.length !== 1) {
  console.error(`${renderedPath}: expected one PrometheusRule, found ${rules.length}`);
  process.exit(1);
}
const groups = rules[0].spec.groups;
if (option === '--no-annotations') {
  for (const group of groups) for (const rule of group.rules) delete rule.annotations;
}
fs.writeFileSync(outPath, stringify({ groups }));
