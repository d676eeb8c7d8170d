// Runs every query of the Grafana dashboard (and its namespace variable's) against a Prometheus
// server's HTTP API (/api/v1/query) and fails unless each returns data. $namespace and
// $__rate_interval are replaced as Grafana would. Also checks what the stats must show after the
// known scenario of prometheus_test.sh: EXPECT_JSON maps a panel title to the value (or, for
// "Policy rules in force", the `rules` label) its first series must show.
// Usage: node query_dashboard.mjs DASHBOARD.json PROMETHEUS_URL NAMESPACE RATE_INTERVAL EXPECT_JSON
import fs from 'node:fs';

const [dashboardPath, prometheus, namespace, rateInterval, expectJson] = process.argv.slice(2);
const dashboard = JSON.parse(fs.readFileSync(dashboardPath, 'utf8'));
const expected = JSON.parse(expectJson);
const failures = [];

async function query(expr) {
  const url = `${prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`;
  const response = await fetch(url);
  const body = await response.json();
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? response.status}`);
  return body.data.result;
}
const substitute = (expr) => expr.replaceAll('$namespace', namespace).replaceAll('$__rate_interval', rateInterval);

const variable = dashboard.templating.list.find((v) => v.name === 'namespace');
const values = variable.query.query.match(/^label_values\((.*), namespace\)$/);
const series = await query(values[1]);
if (!series.some((s) => s.metric.namespace === namespace)) failures.push(`variable namespace: ${namespace} not offered`);

let queries = 0;
for (const panel of dashboard.panels) {
  for (const target of panel.targets) {
    const expr = substitute(target.expr);
    queries += 1;
    try {
      const result = await query(expr);
      if (result.length === 0) { failures.push(`panel "${panel.title}": no data for ${expr}`); continue; }
      if (panel.title in expected) {
        const first = result[0];
        const shown = panel.title === 'Policy rules in force' ? first.metric.rules : first.value[1];
        if (String(shown) !== String(expected[panel.title])) {
          failures.push(`panel "${panel.title}" shows ${shown}, want ${expected[panel.title]}`);
        }
      }
    } catch (e) {
      failures.push(`panel "${panel.title}": ${e.message}`);
    }
  }
}
if (failures.length) {
  console.error(`dashboard queries against ${prometheus}:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`dashboard: all ${queries} queries returned data`);
