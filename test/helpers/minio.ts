import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startOnFreePorts } from './spawnService.js';
import { tool } from './tools.js';
import { waitFor } from './waitFor.js';
import { killProcess } from './killProcess.js';

export const MINIO_USER = 'fraud-test-user';
export const MINIO_PASSWORD = 'fraud-test-password-8c1f';

/**
 * A real MinIO server (built with `go install`) on 127.0.0.1, with a data
 * folder of its own. It can be stopped and started again on the same port and
 * data, to play an outage of the model store.
 */
export class MinioServer {
  readonly endpoint: string;
  readonly client: S3Client;
  private process: ChildProcess | undefined;

  private constructor(
    private readonly port: number,
    private readonly dataDir: string,
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
    this.client = new S3Client({
      endpoint: this.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: MINIO_USER, secretAccessKey: MINIO_PASSWORD },
    });
  }

  static async start(): Promise<MinioServer> {
    const dataDir = await mkdtemp(join(tmpdir(), 'fraud-minio-'));
    return startOnFreePorts(1, async ([port]) => {
      const server = new MinioServer(port as number, dataDir);
      try {
        await server.resume();
      } catch (error) {
        await server.pause();
        throw error;
      }
      return server;
    });
  }

  /** The AWS environment a service needs to read this server. */
  get env(): Record<string, string> {
    return { FRAUD_S3_ENDPOINT: this.endpoint, FRAUD_S3_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: MINIO_USER, AWS_SECRET_ACCESS_KEY: MINIO_PASSWORD };
  }

  async resume(): Promise<void> {
    const consolePort = await freePort();
    const child = spawn(tool('minio'), ['server', this.dataDir, '--address', `127.0.0.1:${this.port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'], {
      env: { PATH: process.env.PATH ?? '', HOME: this.dataDir, MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: MINIO_PASSWORD, MINIO_BROWSER: 'off' },
      stdio: 'ignore',
    });
    this.process = child;
    await waitFor(
      'MinIO to be live',
      async () => {
        if (child.exitCode !== null) throw new Error(`MinIO exited with ${child.exitCode} before it was live`);
        try {
          const response = await fetch(`${this.endpoint}/minio/health/live`);
          return response.ok;
        } catch {
          return false;
        }
      },
      30_000,
      100,
    );
  }

  /** Kills the server (SIGKILL: an outage, not a shutdown). */
  async pause(): Promise<void> {
    await killProcess(this.process);
    this.process = undefined;
  }

  async createBucket(bucket: string): Promise<void> {
    await this.client.send(new CreateBucketCommand({ Bucket: bucket }));
  }

  async put(bucket: string, key: string, body: Uint8Array | string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  }

  async stop(): Promise<void> {
    await this.pause();
    this.client.destroy();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
