import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../../src/packageRoot.js';

const read = (...path: string[]): string => readFileSync(join(packageRoot, ...path), 'utf8');

interface Step {
  uses?: string;
  run?: string;
}
interface Workflow {
  permissions?: unknown;
  concurrency?: unknown;
  env?: Record<string, string>;
  jobs: Record<string, { permissions?: unknown; steps: Step[] }>;
}

const WORKFLOW_DIR = join(packageRoot, '.github', 'workflows');
const workflows = new Map(
  readdirSync(WORKFLOW_DIR)
    .filter((name) => name.endsWith('.yml'))
    .map((name) => [name, parse(readFileSync(join(WORKFLOW_DIR, name), 'utf8')) as Workflow]),
);
const steps = [...workflows.values()].flatMap((workflow) => Object.values(workflow.jobs).flatMap((job) => job.steps));
const scripts = steps.map((step) => step.run ?? '').join('\n') + '\n' + read('deploy', 'e2e', 'run.sh');

/** module -> version, from `go install module@version` lines (and install-tools.sh's list). */
function goInstalls(text: string): Map<string, string> {
  return new Map([...text.matchAll(/(?:go install |")(?:\S+ )?([a-z0-9.-]+\.[a-z]+\/[\w./-]+)@(v[\w.-]+)/g)].map((match) => [match[1] ?? '', match[2] ?? '']));
}

describe('pinned versions across the image, the chart, compose, the workflows and the scripts', () => {
  it('should run every action at a pinned version under least-privilege permissions, one run per ref at a time', () => {
    for (const step of steps) {
      if (step.uses === undefined) continue;
      assert.match(step.uses, /^[\w.-]+\/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/, `${step.uses} is not pinned to a version`);
    }
    for (const [name, workflow] of workflows) {
      assert.deepEqual(workflow.permissions, { contents: 'read' }, `${name}: the default token must be read-only`);
      assert.ok(workflow.concurrency !== undefined, `${name} needs a concurrency group`);
    }
  });

  it('should install the Go tools at the versions scripts/install-tools.sh pins', () => {
    const pinned = goInstalls(read('scripts', 'install-tools.sh'));
    assert.ok(pinned.size >= 4, 'cannot read the pins of scripts/install-tools.sh');
    const used = goInstalls(scripts);
    assert.ok(used.size > 0);
    for (const [module, version] of used) {
      if (pinned.has(module)) assert.equal(version, pinned.get(module), module);
    }
    const probe = /GRPC_HEALTH_PROBE_VERSION=(v[\w.]+)/.exec(read('Dockerfile'))?.[1];
    assert.equal(probe, pinned.get('github.com/grpc-ecosystem/grpc-health-probe'), 'the image builds another grpc_health_probe');
  });

  it("should run the chart's Envoy image in compose and in the workflow's validation step", () => {
    const values = parse(read('deploy', 'helm', 'fraud-scoring', 'values.yaml')) as { envoy: { image: { repository: string; tag: string } } };
    const chartImage = `${values.envoy.image.repository}:${values.envoy.image.tag}`;
    const compose = parse(read('deploy', 'compose', 'docker-compose.yml')) as { services: Record<string, { image?: string }> };
    assert.equal(compose.services.envoy?.image, chartImage);
    assert.equal(workflows.get('ci.yml')?.env?.ENVOY_IMAGE, chartImage);
  });

  it('should run the same lakeFS version in compose and in the e2e cluster', () => {
    const compose = parse(read('deploy', 'compose', 'docker-compose.yml')) as { services: Record<string, { image?: string }> };
    const e2e = /image: (treeverse\/lakefs:\S+)/.exec(read('deploy', 'e2e', 'lakefs.yaml'))?.[1];
    assert.match(compose.services.lakefs?.image ?? '', /^treeverse\/lakefs:\d+\.\d+\.\d+$/);
    assert.equal(e2e, compose.services.lakefs?.image);
  });

  it("should call the README's npm scripts: npm ci, npm run lint, npm run build, npm test", () => {
    for (const command of ['npm ci', 'npm run lint', 'npm run build', 'npm test']) {
      assert.ok(steps.some((step) => step.run?.split('\n').some((line) => line.trim() === command) === true), `no workflow step runs ${command}`);
    }
    const packageScripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const script of ['lint', 'build', 'test']) assert.ok(packageScripts[script] !== undefined, `package.json has no ${script} script`);
  });
});

describe('the image (Dockerfile, .dockerignore)', () => {
  const dockerfile = read('Dockerfile');
  const values = parse(read('deploy', 'helm', 'fraud-scoring', 'values.yaml')) as { securityContext: { runAsUser: number; runAsGroup: number } };

  it("should run as the numeric user the chart's securityContext names", () => {
    const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
    assert.ok(user !== null, 'the image needs a numeric USER');
    assert.deepEqual([Number(user[1]), Number(user[2])], [values.securityContext.runAsUser, values.securityContext.runAsGroup]);
  });

  it('should expose the gRPC and metrics ports the chart probes', () => {
    assert.match(dockerfile, /^EXPOSE 50051 9464$/m);
  });

  it("should never run onnxruntime-node's install script (it downloads CUDA)", () => {
    const installs = dockerfile.split('\n').filter((line) => /^RUN .*\bnpm (ci|install)\b/.test(line));
    assert.ok(installs.length >= 2);
    for (const line of installs) assert.match(line, /--ignore-scripts/, line);
    assert.match(dockerfile, /ONNXRUNTIME_NODE_INSTALL=skip/);
    assert.match(dockerfile, /COPY package\.json package-lock\.json \.npmrc/);
    assert.match(read('.npmrc'), /^onnxruntime-node-install=skip$/m);
  });

  it('should start from Node.js 20 on glibc (Debian) in every Node stage', () => {
    const bases = [...dockerfile.matchAll(/^FROM (?:--platform=\S+ )?(\S+)/gm)].map((match) => match[1] ?? '');
    const nodeBases = bases.filter((base) => /node/.test(base));
    assert.ok(nodeBases.length >= 2);
    for (const base of nodeBases) assert.match(base, /(node:\$\{NODE_VERSION\}-bookworm-slim|nodejs20-debian12)/, base);
    assert.match(dockerfile, /^ARG NODE_VERSION=20\.\d+\.\d+$/m);
  });

  it('should send only an allowlist to the builder: no .env, node_modules, dist, training venv or git history', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    assert.equal(lines[0], '*', '.dockerignore must start by excluding everything');
    const included = lines.filter((line) => line.startsWith('!')).map((line) => line.slice(1).replace(/\/$/, ''));
    for (const forbidden of ['.env', 'node_modules', 'dist', 'training', '.git', '.tools', 'deploy']) {
      assert.ok(!included.includes(forbidden), `${forbidden} must stay out of the build context`);
    }
    for (const needed of ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'src', 'models']) {
      assert.ok(included.includes(needed), `${needed} is needed by the build`);
    }
  });
});
