import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FraudClient, type TransactionInput } from '../../client/fraudClient.js';
import { RedisServer } from '../helpers/redis.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { container, only, renderChart, renderUmbrellaOffline, UMBRELLA, type K8sObject, type RenderOptions } from './chart.js';

const DAY = 86_400;
/** Where the chart mounts the snapshot volume in the pod. */
const MOUNT = '/var/lib/fraud-state';
/** Set by the chart for a pod's network; the spawned process gets free local ports instead. */
const POD_NETWORK = new Set(['FRAUD_GRPC_HOST', 'FRAUD_GRPC_PORT', 'FRAUD_METRICS_PORT']);

function at(id: number, day: number, second: number): TransactionInput {
  return { transactionId: id, customerId: 4_242, terminalId: 77, txAmount: 30, txTimeSeconds: day * DAY + second };
}

/**
 * The service container's environment as the chart renders it, with the
 * snapshot volume's mount point moved to `volume` on this machine.
 */
async function podEnvironment(options: RenderOptions, volume: string): Promise<Record<string, string>> {
  return environmentOf(await renderChart(options), volume);
}

function environmentOf(objects: readonly K8sObject[], volume = ''): Record<string, string> {
  const service = container(only(objects, 'Deployment'), 'fraud-scoring');
  const environment: Record<string, string> = {};
  for (const variable of service.env ?? []) {
    if (POD_NETWORK.has(variable.name) || variable.value === undefined) continue;
    environment[variable.name] = variable.value.startsWith(`${MOUNT}/`) ? join(volume, variable.value.slice(MOUNT.length + 1)) : variable.value;
  }
  return environment;
}

async function start(environment: Record<string, string>): Promise<{ service: SpawnedService; client: FraudClient }> {
  const service = await spawnService(environment);
  await service.waitForLog('serving');
  return { service, client: new FraudClient({ address: service.address, retry: { attempts: 1 } }) };
}

describe('the chart on real processes', () => {
  let volume = '';
  before(async () => {
    volume = await mkdtemp(join(tmpdir(), 'fraud-claim-'));
  });
  after(async () => {
    await rm(volume, { recursive: true, force: true });
  });

  it("should restore, in the upgraded release's new pod, what the old pod recorded before it stopped (Recreate: one after the other)", async function () {
    this.timeout(120_000);
    const before = await podEnvironment({ set: { 'image.tag': '1.0.0' } }, volume);
    const after = await podEnvironment({ set: { 'image.tag': '1.1.0', 'config.logLevel': 'debug' } }, volume);
    assert.equal(after.FRAUD_STATE_SNAPSHOT_PATH, before.FRAUD_STATE_SNAPSHOT_PATH, 'the new pod must read the file the old one wrote');

    const old = await start(before);
    try {
      await old.client.predictBatch([at(1, 5, 36_000), at(2, 5, 40_000)]);
    } finally {
      old.client.close();
      assert.equal(await old.service.kill('SIGTERM'), 0, 'the old pod writes its snapshot and exits cleanly');
    }
    const next = await start(after);
    try {
      const answer = await next.client.predict(at(3, 5, 44_000), { explain: true });
      assert.equal(answer.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 3, "the card's two earlier transactions survived the rollout");
    } finally {
      next.client.close();
      assert.equal(await next.service.kill('SIGTERM'), 0);
    }
  });

  it("should score on history with the umbrella chart's settings, against a redis-server configured as its Valkey", async function () {
    this.timeout(120_000);
    const password = 'umbrella-test-password';
    const umbrella = parse(await readFile(join(UMBRELLA, 'values.yaml'), 'utf8')) as { valkey: { valkeyConfig: string } };
    const server = await RedisServer.start({ password });
    try {
      for (const line of umbrella.valkey.valkeyConfig.split('\n').map((each) => each.trim())) {
        if (line === '' || line.startsWith('#')) continue;
        const [name = '', value = ''] = line.split(/\s+/);
        assert.equal(await server.command('CONFIG', 'SET', name, value), 'OK', line);
      }
      assert.equal(await server.command('CONFIG', 'GET', 'maxmemory-policy'), JSON.stringify(['maxmemory-policy', 'noeviction']));
      assert.equal(await server.command('CONFIG', 'GET', 'appendonly'), JSON.stringify(['appendonly', 'yes']));

      const environment = environmentOf((await renderUmbrellaOffline(UMBRELLA)).objects);
      const url = new URL(environment.FRAUD_REDIS_URL ?? '');
      url.host = `127.0.0.1:${server.port}`;
      // The Secret both sides read: Valkey's default user, the service's FRAUD_REDIS_PASSWORD.
      const pod = await start({ ...environment, FRAUD_REDIS_URL: url.toString(), FRAUD_REDIS_PASSWORD: password });
      try {
        await pod.client.predict(at(21, 9, 36_000));
        const answer = await pod.client.predict(at(22, 9, 40_000), { explain: true });
        assert.equal(answer.features.CUSTOMER_ID_NB_TX_1DAY_WINDOW, 2);
      } finally {
        pod.client.close();
        assert.equal(await pod.service.kill('SIGTERM'), 0);
      }
    } finally {
      await server.stop();
    }
  });
});
