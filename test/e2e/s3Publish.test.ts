import { GetObjectCommand } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FraudClient } from '../../client/fraudClient.js';
import { ModelTask } from '../../src/gen/fraud/v1/fraud_service.js';
import { packageRoot } from '../../src/packageRoot.js';
import { MINIO_PASSWORD, MINIO_USER, MinioServer } from '../helpers/minio.js';
import { readModel } from '../helpers/modelFixtures.js';
import { BUCKET, publish, s3Env } from '../helpers/modelStore.js';
import { bundled } from '../helpers/paths.js';
import { spawnService } from '../helpers/spawnService.js';
import { transaction } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const execFileAsync = promisify(execFile);
const MANIFEST_KEY = 'main/models/fraud-binary.json';

/**
 * Versions published with `training/run publish`, the way people save them
 * (every version as fraud-binary.onnx + fraud-binary.json), to a real MinIO:
 * each .onnx is stored under its content, so the manifest alone says which
 * version serves. The state checked here is both what a replica starting
 * between a new version's .onnx and its manifest finds (the old manifest
 * beside the new bytes) and a rollback done by putting an old manifest back.
 */
describe('models published with training/run publish (a real MinIO server): the manifest is the only pointer to a version', function () {
  this.timeout(300_000);
  let store: MinioServer;
  let folder = '';

  before(async () => {
    store = await MinioServer.start();
    await store.createBucket(BUCKET);
    await publish(store, BUCKET, 'main/models', bundled('fraud-scenario'), { as: 'fraud-scenario' });
    folder = await mkdtemp(join(tmpdir(), 'fraud-publish-'));
  });

  after(async () => {
    await store.stop();
    if (folder !== '') await rm(folder, { recursive: true, force: true });
  });

  /** A fixture version saved locally as fraud-binary.onnx and fraud-binary.json; returns the manifest's path. */
  async function savedAsFraudBinary(fixture: string, subfolder: string): Promise<string> {
    const files = readModel(fixture);
    const path = join(folder, subfolder);
    await mkdir(path, { recursive: true });
    await writeFile(join(path, 'fraud-binary.onnx'), files.model);
    await writeFile(join(path, 'fraud-binary.json'), JSON.stringify({ ...files.manifest, model_file: 'fraud-binary.onnx' }, null, 2));
    return join(path, 'fraud-binary.json');
  }

  async function trainingPublish(manifest: string): Promise<void> {
    const env = { ...process.env, AWS_ACCESS_KEY_ID: MINIO_USER, AWS_SECRET_ACCESS_KEY: MINIO_PASSWORD, AWS_REGION: 'us-east-1' };
    const args = ['publish', '--endpoint', store.endpoint, '--repository', BUCKET, '--ref', 'main', '--prefix', 'models', manifest];
    await execFileAsync(join(packageRoot, 'training', 'run'), args, { env });
  }

  async function storedManifest(): Promise<Uint8Array> {
    const answer = await store.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: MANIFEST_KEY }));
    assert.ok(answer.Body !== undefined);
    return answer.Body.transformToByteArray();
  }

  it('should serve the version an older stored manifest names after a newer version of the same file name was published', async () => {
    await trainingPublish(await savedAsFraudBinary('binary-zipmap-f32', 'v1'));
    const first = await storedManifest();
    await trainingPublish(await savedAsFraudBinary('binary-zipmap-f32-v2', 'v2'));
    await store.put(BUCKET, MANIFEST_KEY, first);

    // A manifest whose .onnx does not match is refused after 1 s rather than waited for (the default 120 s).
    const service = await spawnService(s3Env(store, { FRAUD_MODEL_PENDING_SECONDS: '1' }));
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    try {
      await service.waitForLog('listening');
      const binary = await waitFor('the binary model serving or refused', async () => {
        const { models } = await client.getModelInfo();
        const entry = models.find((candidate) => candidate.task === ModelTask.MODEL_TASK_BINARY);
        return entry !== undefined && (entry.serving || entry.lastError !== '') ? entry : undefined;
      });
      assert.equal(binary.lastError, '');
      assert.equal(binary.model?.version, '1.0.0');
      const answer = await client.predict(transaction({ txAmount: 250 }));
      assert.equal(answer.model?.version, '1.0.0');
    } finally {
      client.close();
      await service.kill();
    }
  });
});
