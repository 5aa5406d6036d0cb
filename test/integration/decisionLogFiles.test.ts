import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { TransactionInput } from '../../client/fraudClient.js';
import { DecisionRecord } from '../../src/gen/fraud/v1/decision_record.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const INSTANCE = 'fraud-files-0';
let nextId = 5_000_000;

function transactions(count: number): TransactionInput[] {
  return Array.from({ length: count }, () => {
    const id = nextId++;
    return { transactionId: id, customerId: 100 + (id % 50), terminalId: 200 + (id % 20), txAmount: 10 + (id % 90), txTimeSeconds: 86_400 + (id - 5_000_000) };
  });
}

/** The transaction ids in a finished or open file, in the order written. */
async function idsIn(path: string): Promise<number[]> {
  // One gzip member per write: gunzip reads the concatenation as one stream.
  const text = gunzipSync(await readFile(path)).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => Number(DecisionRecord.fromJSON(JSON.parse(line)).transactionId));
}

describe('decision log to local files', function () {
  this.timeout(60_000);
  const services: TestService[] = [];
  const dirs: string[] = [];

  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.stop()));
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function start(env: Record<string, string>): Promise<TestService> {
    const service = await startTestService({ FRAUD_DECISION_LOG_INSTANCE: INSTANCE, ...env });
    services.push(service);
    return service;
  }

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'fraud-decisions-'));
    dirs.push(dir);
    return dir;
  }

  const metric = async (service: TestService, series: string): Promise<number> => sample(await scrape(service.service.metricsPort), series) ?? Number.NaN;

  it('should rotate files by size, name them in time order, keep only the newest FRAUD_DECISION_LOG_FILE_KEEP, and hold every record of those in order', async () => {
    const dir = await tempDir();
    const maxBytes = 4096;
    const service = await start({
      FRAUD_DECISION_LOG_DIR: dir,
      FRAUD_DECISION_LOG_FILE_MAX_BYTES: String(maxBytes),
      FRAUD_DECISION_LOG_FILE_KEEP: '3',
      FRAUD_DECISION_LOG_BATCH_RECORDS: '20',
    });
    const sent: number[] = [];
    for (let call = 0; call < 30; call++) {
      const batch = transactions(40);
      await service.client.predictBatch(batch);
      sent.push(...batch.map((transaction) => Number(transaction.transactionId)));
    }
    await waitFor('every record written', async () => (await metric(service, 'fraud_decision_log_records_total{sink="file"}')) === sent.length);
    const names = (await readdir(dir)).sort();
    const finished = names.filter((name) => name.endsWith('.jsonl.gz'));
    const open = names.filter((name) => name.endsWith('.jsonl.gz.open'));
    assert.equal(finished.length, 3, `kept: ${names.join(', ')}`);
    assert.ok(open.length <= 1, names.join(', '));
    for (const name of names) assert.match(name, new RegExp(`^decisions-\\d{8}T\\d{9}Z-${INSTANCE}-\\d{6}\\.jsonl\\.gz(\\.open)?$`));
    for (const name of finished) assert.ok((await stat(join(dir, name))).size >= maxBytes, `${name} was finished before ${maxBytes} bytes`);
    if (open[0] !== undefined) assert.ok((await stat(join(dir, open[0]))).size < maxBytes);
    // Sorted by name is the order written: the files kept hold the newest records, contiguous and in order, up to the last one sent.
    const kept: number[] = [];
    for (const name of [...finished, ...open]) kept.push(...(await idsIn(join(dir, name))));
    assert.deepEqual(kept, sent.slice(sent.length - kept.length));
    assert.ok(kept.length < sent.length, 'older files were deleted');
  });

  it('should append the records of several calls together: each waits until FRAUD_DECISION_LOG_BATCH_RECORDS wait or FRAUD_DECISION_LOG_FILE_FLUSH_SECONDS pass, and shutdown appends what waits', async () => {
    const dir = await tempDir();
    const service = await start({ FRAUD_DECISION_LOG_DIR: dir, FRAUD_DECISION_LOG_BATCH_RECORDS: '10', FRAUD_DECISION_LOG_FILE_FLUSH_SECONDS: '3600' });
    const count = async (series: string): Promise<number> => {
      const value = await metric(service, series);
      return Number.isNaN(value) ? 0 : value;
    };
    const written = (): Promise<number> => count('fraud_decision_log_records_total{sink="file"}');
    const waiting = (): Promise<number> => count('fraud_decision_log_buffered_records{sink="file"}');
    const sent = transactions(13);
    for (const transaction of sent.slice(0, 9)) await service.client.predict(transaction);
    await waitFor('9 records waiting', async () => (await waiting()) === 9);
    assert.equal(await written(), 0, 'nothing is appended before a batch fills or the flush interval passes');
    await service.client.predict(sent[9] as TransactionInput);
    await waitFor('the batch of 10 appended', async () => (await written()) === 10);
    for (const transaction of sent.slice(10)) await service.client.predict(transaction);
    await waitFor('3 records waiting', async () => (await waiting()) === 3);
    assert.equal(await written(), 10);
    await services.splice(0)[0]?.stop();
    const names = await readdir(dir);
    assert.equal(names.length, 1);
    assert.deepEqual(await idsIn(join(dir, names[0] as string)), sent.map((transaction) => Number(transaction.transactionId)));
  });

  it('should finish the open file after FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS without new records, and on shutdown', async () => {
    const dir = await tempDir();
    const service = await start({ FRAUD_DECISION_LOG_DIR: dir, FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS: '1' });
    const first = transactions(5);
    await service.client.predictBatch(first);
    await waitFor('the file to be finished by age', async () => (await readdir(dir)).some((name) => name.endsWith('.jsonl.gz')), 10_000, 50);
    const [finished] = await readdir(dir);
    assert.ok(finished !== undefined);
    assert.deepEqual(await idsIn(join(dir, finished)), first.map((transaction) => Number(transaction.transactionId)));

    const second = transactions(7);
    for (const transaction of second) await service.client.predict(transaction);
    await services.splice(0)[0]?.stop();
    const names = (await readdir(dir)).sort();
    assert.equal(names.filter((name) => name.endsWith('.open')).length, 0, `a file left open at shutdown: ${names.join(', ')}`);
    const last = names.at(-1);
    assert.ok(last !== undefined && last !== finished);
    assert.deepEqual(await idsIn(join(dir, last)), second.map((transaction) => Number(transaction.transactionId)));
  });

  it('should finish, at its first write, the file a crashed process of the same instance left open, and delete an empty one', async () => {
    const dir = await tempDir();
    const leftover = `decisions-20260101T000000000Z-${INSTANCE}-000007.jsonl.gz`;
    const empty = `decisions-20260101T000000001Z-${INSTANCE}-000008.jsonl.gz`;
    const otherInstance = `decisions-20260101T000000000Z-fraud-files-9-000001.jsonl.gz`;
    await writeFile(join(dir, `${leftover}.open`), gzipSync('{"transactionId":"42"}\n'));
    await writeFile(join(dir, `${empty}.open`), '');
    await writeFile(join(dir, `${otherInstance}.open`), gzipSync('{"transactionId":"43"}\n'));
    const service = await start({ FRAUD_DECISION_LOG_DIR: dir });
    await service.client.predict(transactions(1)[0] as TransactionInput);
    await waitFor('the record written', async () => (await metric(service, 'fraud_decision_log_records_total{sink="file"}')) === 1);
    const names = await readdir(dir);
    assert.ok(names.includes(leftover), names.join(', '));
    assert.deepEqual(await idsIn(join(dir, leftover)), [42]);
    assert.ok(!names.some((name) => name.startsWith(empty)), names.join(', '));
    assert.ok(names.includes(`${otherInstance}.open`), 'another instance\'s open file is its own');
  });

  it('should buffer at most FRAUD_DECISION_LOG_BUFFER_RECORDS while the directory cannot be written, count the rest as dropped, answer every call, and write the buffered records once it can', async () => {
    const parent = await tempDir();
    const dir = join(parent, 'decisions');
    // A file where the directory should be: every write fails until it is removed.
    await writeFile(dir, 'not a directory');
    const service = await start({ FRAUD_DECISION_LOG_DIR: dir, FRAUD_DECISION_LOG_BUFFER_RECORDS: '100', FRAUD_DECISION_LOG_BATCH_RECORDS: '30' });
    const sent = transactions(250);
    for (let start = 0; start < sent.length; start += 50) await service.client.predictBatch(sent.slice(start, start + 50));
    for (const transaction of transactions(3)) await service.client.predict(transaction);
    await waitFor('a failed write', async () => (await metric(service, 'fraud_decision_log_write_failures_total{sink="file"}')) > 0);
    assert.equal(await metric(service, 'fraud_decision_log_buffered_records{sink="file"}'), 100);
    assert.equal(await metric(service, 'fraud_decision_log_records_dropped_total{sink="file",reason="buffer_full"}'), 153);
    assert.equal(await metric(service, 'fraud_decision_log_records_total{sink="file"}'), 0);
    assert.equal(service.logs.filter((line) => line.level === 'warn' && /the buffer is full/.test(line.msg)).length, 1);

    await rm(dir);
    await waitFor('the buffered records written', async () => (await metric(service, 'fraud_decision_log_records_total{sink="file"}')) === 100, 20_000, 50);
    await services.splice(0)[0]?.stop();
    const written: number[] = [];
    for (const name of (await readdir(dir)).sort()) written.push(...(await idsIn(join(dir, name))));
    // The oldest 100 were kept; newer records were dropped, not older ones.
    assert.deepEqual(written, sent.slice(0, 100).map((transaction) => Number(transaction.transactionId)));
  });
});
