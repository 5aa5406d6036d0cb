import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { FraudClient, type TransactionInput } from '../../client/fraudClient.js';
import { DecisionRecord } from '../../src/gen/fraud/v1/decision_record.js';
import { MinioServer } from '../helpers/minio.js';
import { sample, scrape } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

const BUCKET = 'fraud-decisions';
const PREFIX = 'log/v1';
const INSTANCE = 'fraud-s3-0';
const OBJECT_RECORDS = 500;
let nextId = 9_000_000;

function transactions(count: number): TransactionInput[] {
  return Array.from({ length: count }, () => {
    const id = nextId++;
    return { transactionId: id, customerId: 300 + (id % 70), terminalId: 400 + (id % 30), txAmount: 12 + (id % 80), txTimeSeconds: 86_400 + (id - 9_000_000) };
  });
}

describe('decision log to object storage (a real MinIO server)', function () {
  this.timeout(120_000);
  let store: MinioServer;
  let service: SpawnedService | undefined;

  before(async () => {
    store = await MinioServer.start();
    await store.createBucket(BUCKET);
  });

  after(async () => {
    await service?.kill('SIGKILL');
    await store.stop();
  });

  /** Every object under the prefix: its key and the records it holds. */
  async function objects(): Promise<{ key: string; records: DecisionRecord[] }[]> {
    const listed = await store.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/` }));
    const found: { key: string; records: DecisionRecord[] }[] = [];
    for (const { Key } of listed.Contents ?? []) {
      const object = await store.client.send(new GetObjectCommand({ Bucket: BUCKET, Key }));
      const text = gunzipSync(await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).toString('utf8');
      const records = text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => DecisionRecord.fromJSON(JSON.parse(line)));
      found.push({ key: Key ?? '', records });
    }
    return found;
  }

  it('should put full objects at once, partitioned by the hour decided, hold every record once through an outage of the store, and put the rest at shutdown', async () => {
    const spawned = await spawnService({
      ...store.env,
      FRAUD_DECISION_LOG_S3_URI: `s3://${BUCKET}/${PREFIX}/`,
      FRAUD_DECISION_LOG_S3_OBJECT_RECORDS: String(OBJECT_RECORDS),
      // Longer than the test: only full objects are put before the shutdown.
      FRAUD_DECISION_LOG_S3_FLUSH_SECONDS: '3600',
      FRAUD_DECISION_LOG_INSTANCE: INSTANCE,
    });
    service = spawned;
    const client = new FraudClient({ address: spawned.address, retry: { attempts: 1 } });
    const metric = async (series: string): Promise<number> => sample(await scrape(spawned.metricsPort), series) ?? Number.NaN;
    try {
      await spawned.waitForLog('serving');
      const sent: number[] = [];
      const scoreAll = async (list: TransactionInput[]): Promise<void> => {
        for (let start = 0; start < list.length; start += 100) await client.predictBatch(list.slice(start, start + 100));
        sent.push(...list.map((transaction) => Number(transaction.transactionId)));
      };
      await scoreAll(transactions(1_200));
      await waitFor('two full objects', async () => (await metric('fraud_decision_log_records_total{sink="s3"}')) === 2 * OBJECT_RECORDS, 30_000, 50);
      assert.equal(await metric('fraud_decision_log_buffered_records{sink="s3"}'), 200);

      await store.pause();
      await scoreAll(transactions(400));
      await waitFor('a failed put', async () => (await metric('fraud_decision_log_write_failures_total{sink="s3"}')) > 0, 60_000, 100);
      await store.resume();
      await waitFor('the object held during the outage', async () => (await metric('fraud_decision_log_records_total{sink="s3"}')) === 3 * OBJECT_RECORDS, 60_000, 100);

      spawned.process.kill('SIGTERM');
      assert.equal(await spawned.exited, 0);
      const stored = await objects();
      const keyPattern = new RegExp(`^${PREFIX}/dt=(\\d{4}-\\d{2}-\\d{2})/hour=(\\d{2})/${INSTANCE}-\\d{8}T\\d{9}Z-\\d{6}\\.jsonl\\.gz$`);
      for (const { key, records } of stored) {
        const match = keyPattern.exec(key);
        assert.ok(match !== null, key);
        assert.ok(records.length > 0 && records.length <= OBJECT_RECORDS, `${key}: ${records.length} records`);
        for (const record of records) {
          const decided = record.decidedAt?.toISOString() ?? '';
          assert.equal(`${decided.slice(0, 10)}/${decided.slice(11, 13)}`, `${match[1]}/${match[2]}`, `${key} holds a record decided at ${decided}`);
        }
      }
      const ids = stored.flatMap(({ records }) => records.map((record) => Number(record.transactionId)));
      assert.equal(ids.length, sent.length, 'every record once');
      assert.deepEqual([...ids].sort((a, b) => a - b), [...sent].sort((a, b) => a - b));
      assert.equal(
        spawned.logs.filter((line) => line.level === 'warn' && /writing to the sink failed/.test(line.msg)).length,
        1,
        'the outage is logged once',
      );
    } finally {
      client.close();
    }
  });
});
