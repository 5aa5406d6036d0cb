import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { packageRoot } from '../../src/packageRoot.js';
import { scrape } from '../helpers/scrape.js';
import { startTestService } from '../helpers/testService.js';
import { runTool } from '../helpers/tools.js';
import { ALERT_CASES, SPAN } from './alertCases.js';
import { renderChart, type ConfigMap, type K8sObject } from './chart.js';

const RULES = join(packageRoot, 'deploy', 'prometheus', 'fraud-scoring.rules.yaml');
const DASHBOARD = join(packageRoot, 'deploy', 'grafana', 'fraud-scoring.json');
const CHART_FILES = join(packageRoot, 'deploy', 'helm', 'fraud-scoring', 'files');
const RUNBOOKS = join(packageRoot, 'docs', 'alerts.md');

/**
 * Metrics the rules and the dashboard use that other parts of the service are
 * adding (the decision log's sinks, TLS, authentication). Each is checked to be
 * missing from the scrape still, so this list is emptied as they land.
 */
const NOT_YET_EXPORTED: readonly string[] = [];
/** Series Prometheus makes itself, not the service. */
const FROM_PROMETHEUS = ['up'];

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface PrometheusRule extends K8sObject {
  spec: RuleFile;
}
interface Dashboard {
  uid: string;
  panels: { id: number; type: string; title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}

function alerts(file: RuleFile): Rule[] {
  return file.groups.flatMap((group) => group.rules).filter((rule) => rule.alert !== undefined);
}

/** An annotation as Prometheus renders it for an alert with `labels` (the rules use only {{ $labels.x }}). */
function rendered(template: string, labels: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? '');
}

/**
 * promtool unit test files for `rules`, one per sampling step (promtool evaluates
 * every rule at its file's evaluation_interval): for each case, the bad series fire
 * the alert at onset + for and not one step before; the good series never.
 */
function promtoolTests(rulesPath: string, rules: RuleFile): string[] {
  const byName = new Map(alerts(rules).map((rule) => [rule.alert, rule]));
  const bySteps = new Map<number, unknown[]>();
  for (const entry of ALERT_CASES) {
    const rule = byName.get(entry.alert);
    if (rule === undefined) throw new Error(`no rule ${entry.alert}`);
    const step = entry.step ?? 1;
    const fires = entry.onset + entry.forMinutes;
    const labels = { ...entry.labels, ...rule.labels };
    const annotations = Object.fromEntries(Object.entries(rule.annotations ?? {}).map(([key, value]) => [key, rendered(value, labels)]));
    const tests = bySteps.get(step) ?? [];
    bySteps.set(step, tests);
    tests.push(
      {
        name: `${entry.alert}: fires at minute ${fires}, not at ${fires - 1}`,
        interval: `${step}m`,
        input_series: entry.bad,
        alert_rule_test: [
          { eval_time: `${fires - 1}m`, alertname: entry.alert, exp_alerts: [] },
          { eval_time: `${fires}m`, alertname: entry.alert, exp_alerts: [{ exp_labels: labels, exp_annotations: annotations }] },
        ],
      },
      {
        name: `${entry.alert}: never on the good series`,
        interval: `${step}m`,
        input_series: entry.good,
        alert_rule_test: [fires, SPAN].map((minute) => ({ eval_time: `${minute}m`, alertname: entry.alert, exp_alerts: [] })),
      },
    );
  }
  return [...bySteps].map(([step, tests]) => stringify({ rule_files: [rulesPath], evaluation_interval: `${step}m`, tests }));
}

/** Runs promtool test rules on each file of promtoolTests(rulesPath, rules). */
async function testRules(folder: string, name: string, rulesPath: string, rules: RuleFile): Promise<void> {
  for (const [index, text] of promtoolTests(rulesPath, rules).entries()) {
    const tests = join(folder, `${name}-${index}.test.yaml`);
    await writeFile(tests, text);
    const result = await runTool('promtool', ['test', 'rules', tests]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  }
}

/** Metric names an expression reads: the service's (fraud_, process_, nodejs_) and Prometheus's `up`. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(?:(?:fraud|process|nodejs)_[a-z0-9_]+|up(?=\{))/g)].map((match) => match[0]);
}

/** A dashboard query as Prometheus gets it: Grafana's variables replaced by values. */
function asQuery(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', '.*').replaceAll('$job', '.*');
}

describe('alert rules and dashboard (deploy/prometheus, deploy/grafana), checked with the real promtool', function () {
  this.timeout(120_000);
  let folder: string;
  let source: RuleFile;
  let dashboard: Dashboard;

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fraud-alerts-'));
    source = parse(await readFile(RULES, 'utf8')) as RuleFile;
    dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('should pass promtool check rules', async () => {
    const result = await runTool('promtool', ['check', 'rules', RULES]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`SUCCESS: ${alerts(source).length} rules found`));
  });

  it('should fire each alert on its bad series at the minute its for: ends, never a minute early, and never on the good series (promtool test rules)', async () => {
    assert.deepEqual([...new Set(ALERT_CASES.map((entry) => entry.alert))].sort(), alerts(source).map((rule) => rule.alert).sort(), 'a case or more per alert');
    await testRules(folder, 'rules', RULES, source);
  });

  it('should give every alert a severity, a summary, a description and a runbook section in docs/alerts.md', async () => {
    const runbooks = await readFile(RUNBOOKS, 'utf8');
    // GitHub's anchors: headings lower-cased, punctuation dropped, spaces as hyphens.
    const anchors = new Set([...runbooks.matchAll(/^#+ (.+)$/gm)].map((match) => (match[1] ?? '').toLowerCase().replace(/[^\w\- ]/g, '').replaceAll(' ', '-')));
    for (const rule of alerts(source)) {
      assert.match(rule.labels?.severity ?? '', /^(critical|warning)$/, `${rule.alert} severity`);
      assert.ok((rule.annotations?.summary ?? '') !== '' && (rule.annotations?.description ?? '') !== '', `${rule.alert} summary and description`);
      const link = /^docs\/alerts\.md#(.+)$/.exec(rule.annotations?.runbook_url ?? '');
      assert.ok(link !== null, `${rule.alert} runbook_url ${String(rule.annotations?.runbook_url)}`);
      assert.ok(anchors.has(link[1] ?? ''), `${rule.alert}: docs/alerts.md has no section #${link[1]}`);
    }
  });

  it('should render the same rules into the chart\'s PrometheusRule, which promtool checks and tests too', async () => {
    const objects = await renderChart({ set: { 'prometheusRule.enabled': 'true', 'prometheusRule.labels.release': 'kube-prometheus-stack' } });
    const rule = objects.find((object): object is PrometheusRule => object.kind === 'PrometheusRule');
    assert.ok(rule !== undefined, 'a PrometheusRule');
    assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(rule.metadata.labels?.release, 'kube-prometheus-stack');
    assert.deepEqual(rule.spec, source);
    const renderedRules = join(folder, 'rendered.rules.yaml');
    await writeFile(renderedRules, stringify(rule.spec));
    const checked = await runTool('promtool', ['check', 'rules', renderedRules]);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    await testRules(folder, 'rendered', renderedRules, rule.spec);
    // Off by default, like the ServiceMonitor.
    assert.ok(!(await renderChart()).some((object) => object.kind === 'PrometheusRule'));
  });

  it('should point the runbook links at runbookBaseUrl when it is set', async () => {
    const objects = await renderChart({ set: { 'prometheusRule.enabled': 'true', 'prometheusRule.runbookBaseUrl': 'https://docs.example.com/fraud/' } });
    const rule = objects.find((object): object is PrometheusRule => object.kind === 'PrometheusRule');
    const links = alerts(rule?.spec ?? { groups: [] }).map((entry) => entry.annotations?.runbook_url ?? '');
    assert.equal(links.length, alerts(source).length);
    for (const link of links) assert.match(link, /^https:\/\/docs\.example\.com\/fraud\/docs\/alerts\.md#[a-z]+$/);
  });

  it('should ship the dashboard in an opt-in ConfigMap labelled for Grafana\'s sidecar, and keep the chart\'s copies identical to deploy/', async () => {
    const objects = await renderChart({ set: { 'grafanaDashboard.enabled': 'true' } });
    const map = objects.find((object): object is ConfigMap => object.kind === 'ConfigMap' && object.metadata.name.endsWith('-dashboard'));
    assert.equal(map?.metadata.labels?.grafana_dashboard, '1');
    assert.equal(map.data?.['fraud-scoring.json'], (await readFile(DASHBOARD, 'utf8')).trimEnd());
    assert.ok(!(await renderChart()).some((object) => object.metadata.name.endsWith('-dashboard')));
    assert.equal(await readFile(join(CHART_FILES, 'prometheus', 'fraud-scoring.rules.yaml'), 'utf8'), await readFile(RULES, 'utf8'), 'run scripts/sync-chart-monitoring.sh');
    assert.equal(await readFile(join(CHART_FILES, 'grafana', 'fraud-scoring.json'), 'utf8'), await readFile(DASHBOARD, 'utf8'), 'run scripts/sync-chart-monitoring.sh');
  });

  it('should have a dashboard whose every panel query parses as PromQL', async () => {
    assert.equal(dashboard.uid, 'fraud-scoring');
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const queries = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));
    assert.ok(queries.length >= 30, `${queries.length} queries`);
    // The variables' label_values(<selector>, label) hold a selector each.
    for (const variable of dashboard.templating.list.filter((entry) => entry.type === 'query')) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
      const selector = /^label_values\((.+), \w+\)$/.exec(query);
      assert.ok(selector !== null, `variable ${variable.name}: ${query}`);
      queries.push({ panel: `variable ${variable.name}`, expr: selector[1] ?? '' });
    }
    for (const { panel, expr } of queries) {
      const result = await runTool('promtool', ['--experimental', 'promql', 'format', asQuery(expr)]);
      assert.equal(result.code, 0, `${panel}: ${expr}\n${result.stderr}`);
    }
  });

  it('should use only metrics a real scrape of the service has (and lint clean with promtool check metrics)', async () => {
    const running = await startTestService();
    let text: string;
    try {
      await running.client.predict({ transactionId: 1, customerId: 1, terminalId: 1, txAmount: 5, txTimeSeconds: 1 });
      text = await scrape(running.service.metricsPort);
    } finally {
      await running.stop();
    }
    const exported = new Set<string>();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(name ?? '');
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name ?? ''}${suffix}`);
    }
    const used = new Set([...alerts(source).map((rule) => rule.expr), ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr))].flatMap(metricNames));
    assert.ok(used.size >= 30, `${used.size} metrics used`);
    const missing = [...used].filter((name) => !exported.has(name) && !NOT_YET_EXPORTED.includes(name) && !FROM_PROMETHEUS.includes(name));
    assert.deepEqual(missing, [], 'metrics the rules or the dashboard use that the service does not export');
    for (const name of NOT_YET_EXPORTED) {
      assert.ok(used.has(name), `${name} is listed but not used`);
      assert.ok(!exported.has(name), `${name} is exported now: take it out of NOT_YET_EXPORTED`);
    }
    const lint = await runTool('promtool', ['check', 'metrics'], text);
    // prom-client's own default Node.js gauges end in _total; the service's metrics must lint clean.
    const problems = `${lint.stdout}${lint.stderr}`.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('nodejs_'));
    assert.deepEqual(problems, []);
  });
});
