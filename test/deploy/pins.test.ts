import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { SERVICE_NODE_FLAGS } from '../../src/nodeFlags.js';
import { packageRoot } from '../../src/packageRoot.js';

const read = (...path: string[]): string => readFileSync(join(packageRoot, ...path), 'utf8');
const packageJson = JSON.parse(read('package.json')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
  allowScripts: Record<string, boolean | undefined>;
};

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

describe('the Node.js runtime and installs', () => {
  it('should run this suite on the Node.js of the `node` devDependency, a Node 24 LTS release the engines allow', () => {
    assert.equal(process.versions.node, packageJson.devDependencies.node, `mocha runs on ${process.execPath}`);
    assert.match(packageJson.engines.node, /^>=24\.\d+$/);
    const minimum = (packageJson.engines.node.slice(2).split('.') as [string, string]).map(Number);
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    assert.ok(major === minimum[0] && minor >= (minimum[1] ?? 0), `${process.versions.node} against ${packageJson.engines.node}`);
    assert.equal(packageJson.devDependencies['@types/node']?.match(/\d+/)?.[0], String(major), 'the Node.js types of another major');
  });

  it('should set up the same Node.js major in the workflows', () => {
    const major = packageJson.devDependencies.node?.split('.')[0];
    const setups = steps.filter((step) => step.uses?.startsWith('actions/setup-node@'));
    assert.ok(setups.length >= 2);
    for (const [name, workflow] of workflows) {
      if ([...Object.values(workflow.jobs)].some((job) => job.steps.some((step) => step.uses?.startsWith('actions/setup-node@')))) {
        assert.equal(workflow.env?.NODE_VERSION, major, `${name}: NODE_VERSION`);
      }
    }
  });

  it("should skip onnxruntime-node's CUDA download in .npmrc and with the package's environment variable wherever npm installs", () => {
    // .npmrc covers an `npm ci` typed by hand (npm 11 warns that it does not know the key and that a later major
    // version will stop reading it); the environment variable, set by every script and workflow, outlives that.
    const settings = read('.npmrc')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split('='));
    assert.deepEqual(
      settings.filter(([key]) => !['fund', 'audit', 'update-notifier'].includes(key ?? '')),
      [['onnxruntime-node-install', 'skip']],
    );
    const shellScripts = ['.ci/run', 'scripts/start.sh', 'scripts/test-all.sh', 'scripts/check-deploy.sh', 'deploy/e2e/run.sh'];
    for (const path of shellScripts) {
      const lines = read(path).split('\n');
      const installs = lines.map((line, index) => [line, index] as const).filter(([line]) => /\bnpm (ci|install|i)\b/.test(line) && !line.trim().startsWith('#'));
      assert.ok(installs.length > 0, `${path} installs nothing`);
      for (const [line, index] of installs) {
        const exported = lines.slice(0, index).some((earlier) => /^export ONNXRUNTIME_NODE_INSTALL=skip$/.test(earlier));
        assert.ok(exported || /ONNXRUNTIME_NODE_INSTALL=skip npm (ci|install)\b/.test(line), `${path}:${index + 1}: ${line.trim()}`);
      }
    }
    for (const [name, workflow] of workflows) {
      if (Object.values(workflow.jobs).some((job) => job.steps.some((step) => /\bnpm (ci|install)\b/.test(step.run ?? '')))) {
        assert.equal(workflow.env?.ONNXRUNTIME_NODE_INSTALL, 'skip', `${name} installs without ONNXRUNTIME_NODE_INSTALL=skip`);
      }
    }
    assert.match(read('docs', 'testing.md'), /ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
  });

  it("should let npm's install-script policy run the Node.js download and never onnxruntime-node's script", () => {
    // npm >= 11.19 runs only approved install scripts without a warning (and may block the others):
    // the `node` package's fetches the Node.js binary the scripts run on.
    assert.equal(packageJson.allowScripts.node, true);
    assert.equal(packageJson.allowScripts['onnxruntime-node'], false);
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
    // Each installing stage also sets the package's own switch, before its install.
    const installingStages = dockerfile.split(/^FROM /m).filter((text) => /^RUN .*\bnpm (ci|install)\b/m.test(text));
    assert.equal(installingStages.length, installs.length);
    for (const stage of installingStages) {
      assert.match(stage, /^ENV .*\bONNXRUNTIME_NODE_INSTALL=skip\b[^]*^RUN .*\bnpm (ci|install)\b/m, stage.split('\n')[0]);
    }
  });

  it('should start from Node.js 24 on glibc (Debian) in every Node stage, the version npm scripts run', () => {
    const bases = [...dockerfile.matchAll(/^FROM (?:--platform=\S+ )?(\S+)/gm)].map((match) => match[1] ?? '');
    const nodeBases = bases.filter((base) => /node/.test(base));
    assert.ok(nodeBases.length >= 3);
    for (const base of nodeBases) assert.match(base, /(node:\$\{NODE_VERSION\}-bookworm-slim|nodejs24-debian12)/, base);
    const pinned = /^ARG NODE_VERSION=(\S+)$/m.exec(dockerfile)?.[1];
    assert.equal(pinned, packageJson.devDependencies.node, 'the image builds on another Node.js than npm scripts run');
    assert.match(pinned ?? '', /^24\.\d+\.\d+$/);
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

  it('should start the service with the V8 heap flags its memory bounds are sized for, in the image and in npm start', () => {
    const cmd = /^CMD (\[.*\])$/m.exec(read('Dockerfile'))?.[1] ?? '[]';
    assert.deepEqual(JSON.parse(cmd), [...SERVICE_NODE_FLAGS, 'dist/src/main.js']);
    assert.match(read('scripts', 'start.sh'), new RegExp(`^exec node ${SERVICE_NODE_FLAGS.join(' ')} dist/src/main\\.js$`, 'm'));
  });
});
