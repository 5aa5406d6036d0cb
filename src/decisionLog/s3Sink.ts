import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { DecisionSink } from './decisionSink.js';
import type { EncodedRecord } from './decisionRecords.js';
import { sortableTime } from './fileSink.js';

const gzipAsync = promisify(gzip);

export interface S3SinkOptions {
  /** The sink's own client: closing the sink destroys it. */
  readonly client: S3Client;
  /** The bucket (with lakeFS: the repository). */
  readonly bucket: string;
  /** Key prefix without a trailing slash, possibly empty (with lakeFS: it starts with the branch). */
  readonly prefix: string;
  /** Part of every object name, so replicas never write the same key. */
  readonly instance: string;
  /** For error messages ("AWS S3" when none is configured). */
  readonly endpoint: string | undefined;
}

/**
 * Decision records as gzip JSON Lines objects in S3, MinIO or lakeFS (through
 * its S3 gateway), partitioned by the hour they were decided:
 * `<prefix>/dt=YYYY-MM-DD/hour=HH/<instance>-<UTC time of the first record>-<n>.jsonl.gz`,
 * so a query engine or a training job reads a period by listing its
 * partitions. A batch becomes one object per hour it spans. A retried batch
 * is put again under the same keys, so a retry replaces an object instead of
 * adding a second copy.
 */
export class S3Sink implements DecisionSink {
  readonly name = 's3';
  private sequence = 0;
  private readonly safeInstance: string;
  /** The keys given to a batch on its first attempt (the queue retries with the same array). */
  private readonly keys = new WeakMap<readonly EncodedRecord[], Map<string, string>>();

  constructor(private readonly options: S3SinkOptions) {
    this.safeInstance = options.instance.replace(/[^A-Za-z0-9._-]/g, '_');
  }

  async write(records: readonly EncodedRecord[]): Promise<void> {
    const byHour = new Map<string, EncodedRecord[]>();
    for (const record of records) {
      const partition = hourPartition(record.decidedAtMs);
      const group = byHour.get(partition);
      if (group === undefined) byHour.set(partition, [record]);
      else group.push(record);
    }
    let keys = this.keys.get(records);
    if (keys === undefined) {
      keys = new Map();
      for (const [partition, group] of byHour) {
        const name = `${this.safeInstance}-${sortableTime((group[0] as EncodedRecord).decidedAtMs)}-${String(++this.sequence).padStart(6, '0')}.jsonl.gz`;
        keys.set(partition, [this.options.prefix, partition, name].filter((part) => part !== '').join('/'));
      }
      this.keys.set(records, keys);
    }
    for (const [partition, group] of byHour) {
      const key = keys.get(partition) as string;
      const body = await gzipAsync(Buffer.from(group.map((record) => `${record.json}\n`).join(''), 'utf8'));
      try {
        // No Content-Encoding: the object is a .gz file, not a compressed transfer of a text one.
        await this.options.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: key, Body: body, ContentType: 'application/gzip' }));
      } catch (error) {
        throw new Error(`putting s3://${this.options.bucket}/${key} at ${this.options.endpoint ?? 'AWS S3'} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
  }

  close(): Promise<void> {
    this.options.client.destroy();
    return Promise.resolve();
  }
}

/** dt=2026-12-07/hour=05: the UTC hour a record was decided in. */
export function hourPartition(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}
