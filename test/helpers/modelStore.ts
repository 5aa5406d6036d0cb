import { MinioServer } from './minio.js';
import { readModel, sha256 } from './modelFixtures.js';
import { bundled } from './paths.js';

export const BUCKET = 'fraud-models';

/** The service reading both models from MinIO in the lakeFS layout s3://<repository>/<branch>/models/. */
export function s3Env(store: MinioServer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...store.env,
    FRAUD_BINARY_MODEL_URI: `s3://${BUCKET}/main/models/fraud-binary.json`,
    FRAUD_SCENARIO_MODEL_URI: `s3://${BUCKET}/main/models/fraud-scenario.json`,
    FRAUD_MODEL_POLL_SECONDS: '1',
    FRAUD_MODEL_RETRY_MAX_SECONDS: '1',
    ...extra,
  };
}

/**
 * Publishes a fixture model to `s3://<bucket>/<prefix>/<as>.onnx` + `.json`
 * the way the pipeline does: the .onnx first, the manifest (the pointer to a
 * version) last. `change` edits the manifest (to publish a broken one).
 */
export async function publish(
  store: MinioServer,
  bucket: string,
  prefix: string,
  fixtureName: string,
  options: { as?: string; change?: (manifest: Record<string, unknown>) => void; modelBytes?: Uint8Array; skipModel?: boolean } = {},
): Promise<void> {
  const files = readModel(fixtureName);
  const stem = options.as ?? 'fraud-binary';
  const model = options.modelBytes ?? files.model;
  const manifest: Record<string, unknown> = { ...files.manifest, model_file: `${stem}.onnx`, sha256: sha256(model) };
  options.change?.(manifest);
  if (options.skipModel !== true) await store.put(bucket, `${prefix}/${stem}.onnx`, model);
  await store.put(bucket, `${prefix}/${stem}.json`, JSON.stringify(manifest, null, 2));
}

/**
 * A MinIO server holding, at s3://fraud-models/main/models/, version 1.0.0 of
 * the small binary fixture and the bundled scenario model.
 */
export async function startModelStore(): Promise<MinioServer> {
  const store = await MinioServer.start();
  await store.createBucket(BUCKET);
  await publish(store, BUCKET, 'main/models', 'binary-zipmap-f32');
  await publish(store, BUCKET, 'main/models', bundled('fraud-scenario'), { as: 'fraud-scenario' });
  return store;
}
