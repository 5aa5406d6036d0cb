import type { LakefsServer } from './lakefs.js';
import { MinioServer } from './minio.js';
import { readModel, sha256 } from './modelFixtures.js';
import { bundled } from './paths.js';

export const BUCKET = 'fraud-models';

/** One file to store: its path below the bucket or branch (e.g. models/fraud-binary.json) and its bytes. */
export interface StoredFile {
  readonly path: string;
  readonly bytes: Uint8Array | string;
}

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

export interface PublishOptions {
  /** File stem at the destination (fraud-binary by default). */
  readonly as?: string;
  /** Edits the manifest (to publish a broken one); the sha256 is set first. */
  readonly change?: (manifest: Record<string, unknown>) => void;
  /** Other bytes for the .onnx (the manifest's sha256 follows them). */
  readonly modelBytes?: Uint8Array;
  /** Leave the .onnx out: only the manifest is published. */
  readonly skipModel?: boolean;
}

/**
 * A fixture model as the files a publish writes, in the order it writes them:
 * `<prefix>/<as>.onnx` first, the manifest (the pointer to a version) last.
 */
export function versionFiles(prefix: string, fixtureName: string, options: PublishOptions = {}): StoredFile[] {
  const files = readModel(fixtureName);
  const stem = options.as ?? 'fraud-binary';
  const model = options.modelBytes ?? files.model;
  const manifest: Record<string, unknown> = { ...files.manifest, model_file: `${stem}.onnx`, sha256: sha256(model) };
  options.change?.(manifest);
  const manifestFile = { path: `${prefix}/${stem}.json`, bytes: JSON.stringify(manifest, null, 2) };
  return options.skipModel === true ? [manifestFile] : [{ path: `${prefix}/${stem}.onnx`, bytes: model }, manifestFile];
}

/**
 * Publishes a fixture model to `s3://<bucket>/<prefix>/<as>.onnx` + `.json`
 * the way the pipeline does: the .onnx first, the manifest last.
 */
export async function publish(store: MinioServer, bucket: string, prefix: string, fixtureName: string, options: PublishOptions = {}): Promise<void> {
  for (const file of versionFiles(prefix, fixtureName, options)) await store.put(bucket, file.path, file.bytes);
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

/** The two models a lakeFS test repository starts with: 1.0.0 of the small binary fixture and the bundled scenario model. */
export function firstVersionFiles(): StoredFile[] {
  return [...versionFiles('models', 'binary-zipmap-f32'), ...versionFiles('models', bundled('fraud-scenario'), { as: 'fraud-scenario' })];
}

/**
 * A new lakeFS repository whose main branch holds, merged the documented way,
 * the files of firstVersionFiles(); returns main's head commit id.
 */
export async function createModelRepository(lakefs: LakefsServer, repository: string): Promise<string> {
  await lakefs.createRepository(repository);
  return lakefs.publish(repository, firstVersionFiles(), 'fraud models 1.0.0');
}
