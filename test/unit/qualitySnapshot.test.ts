import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import type { ModelTask } from '../../src/models/modelTask.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { MemoryQualityLedger } from '../../src/quality/memoryQualityLedger.js';
import type { LedgerLimits, QualityUpdate } from '../../src/quality/qualityLedger.js';
import { encodeLedger, ledgerSnapshotPart } from '../../src/quality/qualitySnapshot.js';
import type { ModelScore, ScoredModel } from '../../src/state/modelScores.js';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import { SnapshotScheduler } from '../../src/state/snapshotScheduler.js';
import { restoreSnapshot, writeSnapshot } from '../../src/state/stateSnapshot.js';
import type { TransactionEvent } from '../../src/state/stateStore.js';
import { f64, u32, u64 } from '../helpers/littleEndian.js';

const OPTIONS = { latenessSeconds: 3600, historyDays: { customer: 30, terminal: 37 }, maxEntities: 100_000, maxTransactions: 100_000 };
const DAY = 86_400;
const D = 20_000;
const LIMITS: LedgerLimits = { retentionDays: 5, maxRevisionsPerTask: 3 };

const model = (revision: string, task: ModelTask = 'binary', version = '2.0.0'): ScoredModel => ({ task, name: `fraud-${task}`, version, revision });
const CHAMPION = model('sha256:champion');
const CHALLENGER = model('sha256:challenger', 'binary', '2.1.0');
const SCENARIO = model('sha256:scenario', 'multiclass');
const score = (scored: ScoredModel, fraudProbability: number): ModelScore => ({ model: scored, fraudProbability, alerted: fraudProbability >= 0.5 });

/** Drops told by a ledger, by kind. */
function events(): { dropped: (reason: string, scores: number) => void; revisionDropped: (task: ModelTask) => void; told: string[] } {
  const told: string[] = [];
  return {
    told,
    dropped: (reason, scores) => told.push(`${reason}:${scores}`),
    revisionDropped: (task) => told.push(`revision:${task}`),
  };
}

/**
 * Three revisions over four event days: applied outcomes with scores that
 * are no short decimal (the delays sum to fractions of a second), and
 * corrections both ways.
 */
async function filledLedger(told = events()): Promise<MemoryQualityLedger> {
  const ledger = new MemoryQualityLedger(LIMITS, told);
  const updates: QualityUpdate[] = [];
  for (let index = 0; index < 60; index++) {
    const eventTime = (D + (index % 4)) * DAY + index * 137.3;
    const scores = [score(CHAMPION, (index * 0.0173) % 1), score(CHALLENGER, Math.sqrt(index) / 8 - Math.floor(Math.sqrt(index) / 8)), score(SCENARIO, 1 / (index + 3))];
    updates.push({ outcome: index % 3 === 0 ? 'fraud' : 'legitimate', knownAt: eventTime + 3_600.123 * (1 + (index % 5)), joined: { eventTime, scores: scores.slice(0, 1 + (index % 3)) } });
  }
  await ledger.record(updates);
  // Corrections: fraud to legitimate and back.
  const first = updates[0] as QualityUpdate;
  await ledger.record([{ outcome: 'legitimate', knownAt: first.knownAt + 10.5, replaced: { outcome: 'fraud', knownAt: first.knownAt }, joined: first.joined }]);
  const second = updates[4] as QualityUpdate;
  await ledger.record([{ outcome: 'fraud', knownAt: second.knownAt + 0.25, replaced: { outcome: 'legitimate', knownAt: second.knownAt }, joined: second.joined }]);
  // The champion updated last: the challenger is the least recently updated binary revision.
  await ledger.record([{ outcome: 'legitimate', knownAt: (D + 3) * DAY + 50, joined: { eventTime: (D + 3) * DAY + 40, scores: [score(CHAMPION, 0.03125)] } }]);
  return ledger;
}

/** A store with one transaction: the history beside the quality. */
async function storeWithHistory(): Promise<MemoryStateStore> {
  const store = new MemoryStateStore(OPTIONS);
  const event: TransactionEvent = { id: 7n, customerId: 8n, terminalId: 9n, amount: 12, time: D * DAY };
  await store.record([event], () => undefined, { allOrNothing: true });
  await store.reportOutcomes([{ transactionId: 7n, outcome: 'fraud', knownAt: D * DAY + 60 }]);
  return store;
}

/** The scheduler of a service, with its metrics and the lines it logs. */
function scheduler(store: MemoryStateStore, path: string): { scheduler: SnapshotScheduler; metrics: Metrics; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  const metrics = new Metrics();
  const created = new SnapshotScheduler({ store, path, intervalMs: 60_000, specVersion: 3, logger: createLogger('info', sink), metrics, retentionSeconds: 40 * DAY });
  return { scheduler: created, metrics, lines };
}

async function value(metrics: Metrics, name: string, result?: string): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((each) => each.name === name);
  return metric?.values.find((each) => result === undefined || each.labels.result === result)?.value;
}

/** Where a format-5 file's quality part lies: [start, end) of its bytes, its checksum after them. */
function qualityBytesOf(file: Buffer): { start: number; end: number } {
  const headerEnd = 12 + file.readUInt32LE(8);
  const start = headerEnd + 4;
  return { start, end: start + file.readUInt32LE(headerEnd) };
}

describe('live quality in the state snapshot', () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'quality-snapshot-'));
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('should restore every revision, day, count, bin and delay sum bit for bit, and what retention and eviction go by', async () => {
    const toldOriginal = events();
    const ledger = await filledLedger(toldOriginal);
    const store = await storeWithHistory();
    const path = join(folder, 'round-trip.snapshot');
    await writeSnapshot(store, path, 3, { quality: () => encodeLedger(ledger.content()) });
    const back = new MemoryStateStore(OPTIONS);
    const restored = await restoreSnapshot(back, path, 3);
    assert.equal(restored?.format, 5);
    assert.equal(back.transactions.get(7n)?.outcome, 1, 'the history beside it');
    const { quality } = restored;
    assert.ok(quality.state === 'read', quality.state);
    const toldRestored = events();
    const again = new MemoryQualityLedger(LIMITS, toldRestored);
    const summary = ledgerSnapshotPart(again).restore(quality.bytes);
    assert.deepEqual(summary, { revisions: 3, days: 12 });
    // deepStrictEqual compares numbers with Object.is: every double exactly.
    assert.deepStrictEqual(again.content(), ledger.content());
    const query = { task: undefined, revisions: [], firstDay: 0, lastDay: D + 10 };
    assert.deepStrictEqual(await again.read(query), await ledger.read(query));
    assert.ok((await ledger.read(query)).some((revision) => [...revision.days.values()].some((counts) => !Number.isInteger(counts.delaySeconds))), 'fractional delay sums');
    // Retention goes on from the same newest day: day D - 2 is outside 5 days behind D + 3 in both.
    const old: QualityUpdate = { outcome: 'fraud', knownAt: (D - 2) * DAY + 5, joined: { eventTime: (D - 2) * DAY, scores: [score(CHAMPION, 0.9)] } };
    // Two new binary revisions: the second evicts the least recently updated, the challenger, in both (the order of updates is restored).
    const newcomer: QualityUpdate = { outcome: 'legitimate', knownAt: (D + 3) * DAY + 9, joined: { eventTime: (D + 3) * DAY, scores: [score(model('sha256:new1'), 0.1), score(model('sha256:new2'), 0.2)] } };
    for (const each of [ledger, again]) await each.record([old, newcomer]);
    assert.deepEqual(toldRestored.told, toldOriginal.told);
    assert.deepEqual(toldRestored.told, ['outside_retention:1', 'revision:binary']);
    assert.deepEqual(
      again.content().revisions.map((revision) => revision.model.revision),
      ['sha256:champion', 'sha256:scenario', 'sha256:new1', 'sha256:new2'],
    );
    assert.deepStrictEqual(again.content(), ledger.content());
  });

  it('should write live quality as it was when the history\'s capture began, while outcomes keep being counted', async () => {
    const store = new MemoryStateStore(OPTIONS);
    const transactions: TransactionEvent[] = Array.from({ length: 5_000 }, (_, index) => ({ id: BigInt(index + 1), customerId: BigInt(index), terminalId: BigInt(index % 40), amount: 3, time: D * DAY + index }));
    await store.record(transactions, () => undefined, { allOrNothing: true });
    const ledger = await filledLedger();
    const expected = ledger.content();
    const path = join(folder, 'during.snapshot');
    const progress = { writing: true, counted: 0 };
    const written = writeSnapshot(store, path, 3, { sliceMs: 0, quality: () => encodeLedger(ledger.content()) }).finally(() => {
      progress.writing = false;
    });
    while (progress.writing) {
      await ledger.record([{ outcome: 'fraud', knownAt: (D + 3) * DAY + 1, joined: { eventTime: (D + 3) * DAY, scores: [score(CHALLENGER, 0.5)] } }]);
      progress.counted++;
      await nextTurn();
    }
    await written;
    assert.ok(progress.counted > 3, `only ${progress.counted} outcomes were counted while the snapshot was written`);
    const restored = await restoreSnapshot(new MemoryStateStore(OPTIONS), path, 3);
    const again = new MemoryQualityLedger(LIMITS, events());
    assert.ok(restored?.quality.state === 'read');
    ledgerSnapshotPart(again).restore(restored.quality.bytes);
    assert.deepStrictEqual(again.content(), expected);
  });

  it('should restore through the scheduler once the ledger is attached, said in the log and metrics, and write it with every snapshot', async () => {
    const ledger = await filledLedger();
    const path = join(folder, 'scheduled.snapshot');
    const first = scheduler(await storeWithHistory(), path);
    first.scheduler.attachQuality(ledgerSnapshotPart(ledger));
    await first.scheduler.stop();
    const store = new MemoryStateStore(OPTIONS);
    const second = scheduler(store, path);
    await second.scheduler.restore();
    const again = new MemoryQualityLedger(LIMITS, events());
    second.scheduler.attachQuality(ledgerSnapshotPart(again));
    assert.deepStrictEqual(again.content(), ledger.content());
    assert.equal(await value(second.metrics, 'fraud_state_snapshot_quality_restores_total', 'restored'), 1);
    assert.equal(await value(second.metrics, 'fraud_state_snapshot_quality_unreadable'), 0);
    assert.deepEqual(
      second.lines.filter((line) => line.msg === 'live quality restored from the state snapshot').map((line) => [line.revisions, line.days]),
      [[3, 12]],
    );
  });

  it('should restore a snapshot of format 4 (before live quality) with its history and empty quality', async () => {
    const path = join(folder, 'format-4.snapshot');
    const header = Buffer.from(JSON.stringify({ format: 4, specVersion: 3, writtenAt: new Date(D * DAY * 1000).toISOString(), shutdown: true }));
    const parts: Buffer[] = [Buffer.from('FRAUDST2'), u32(header.length), header, f64(D * DAY + 10)];
    // A transaction (id 5, customer 6, terminal 7) reported fraud, no correction, no score.
    parts.push(Buffer.from([3]), u64(5n), u64(6n), u64(7n), f64(D * DAY + 10), Buffer.from([1]), f64(D * DAY + 100), Buffer.from([0]), Buffer.from([0]));
    parts.push(Buffer.from([0]));
    const bytes = Buffer.concat(parts);
    await writeFile(path, Buffer.concat([bytes, u32(crc32(bytes))]));
    const store = new MemoryStateStore(OPTIONS);
    const { scheduler: restorer, metrics, lines } = scheduler(store, path);
    await restorer.restore();
    const ledger = new MemoryQualityLedger(LIMITS, events());
    restorer.attachQuality(ledgerSnapshotPart(ledger));
    assert.equal(store.transactions.get(5n)?.outcome, 1);
    assert.deepStrictEqual(ledger.content(), { newest: Number.NEGATIVE_INFINITY, sequence: 0, revisions: [] });
    assert.equal(await value(metrics, 'fraud_state_snapshot_restores_total', 'restored'), 1);
    assert.equal(await value(metrics, 'fraud_state_snapshot_quality_restores_total', 'none'), 1);
    assert.equal(await value(metrics, 'fraud_state_snapshot_quality_unreadable'), 0);
    assert.equal(lines.filter((line) => line.level === 'error').length, 0);
  });

  for (const damage of ['one changed byte in a count', 'a part this version cannot decode'] as const) {
    it(`should start with empty quality, counted and logged once, and restore the history, from ${damage}`, async () => {
      const path = join(folder, `damaged-${damage.length}.snapshot`);
      const ledger = await filledLedger();
      await writeSnapshot(await storeWithHistory(), path, 3, { shutdown: true, quality: () => (damage === 'a part this version cannot decode' ? Buffer.from('FRAUDQL1 of another kind') : encodeLedger(ledger.content())) });
      if (damage === 'one changed byte in a count') {
        const file = await readFile(path);
        // The lowest byte of the last double: a count of a bin, which decodes all the same.
        const { end } = qualityBytesOf(file);
        file[end - 8] = (file[end - 8] as number) ^ 0x01;
        await writeFile(path, file);
      }
      const store = new MemoryStateStore(OPTIONS);
      const { scheduler: restorer, metrics, lines } = scheduler(store, path);
      await restorer.restore();
      const again = new MemoryQualityLedger(LIMITS, events());
      restorer.attachQuality(ledgerSnapshotPart(again));
      assert.equal(store.transactions.get(7n)?.outcome, 1, 'the history is restored');
      assert.equal(await value(metrics, 'fraud_state_snapshot_restores_total', 'restored'), 1);
      assert.deepEqual(again.content().revisions, []);
      assert.equal(await value(metrics, 'fraud_state_snapshot_quality_restores_total', 'unreadable'), 1);
      assert.equal(await value(metrics, 'fraud_state_snapshot_quality_unreadable'), 1);
      const errors = lines.filter((line) => line.level === 'error');
      assert.deepEqual(
        errors.map((line) => line.msg),
        ['live quality in the state snapshot unreadable: starting with EMPTY live quality (the history is restored if it was readable)'],
      );
      assert.match(String(errors[0]?.error), damage === 'one changed byte in a count' ? /checksum mismatch in the live-quality part/ : /live-quality part/);
      // The next snapshot writes the quality of this process over it.
      await again.record([{ outcome: 'fraud', knownAt: D * DAY + 70, joined: { eventTime: D * DAY, scores: [score(CHAMPION, 0.75)] } }]);
      await restorer.stop();
      const third = new MemoryQualityLedger(LIMITS, events());
      const next = scheduler(new MemoryStateStore(OPTIONS), path);
      await next.scheduler.restore();
      next.scheduler.attachQuality(ledgerSnapshotPart(third));
      assert.deepStrictEqual(third.content(), again.content());
    });
  }

  it('should refuse the whole snapshot when the length of the quality part is damaged (the history cannot be found without it)', async () => {
    const path = join(folder, 'length.snapshot');
    const ledger = await filledLedger();
    await writeSnapshot(await storeWithHistory(), path, 3, { quality: () => encodeLedger(ledger.content()) });
    const file = await readFile(path);
    const { start } = qualityBytesOf(file);
    file[start - 4] = (file[start - 4] as number) ^ 0x01;
    await writeFile(path, file);
    const store = new MemoryStateStore(OPTIONS);
    await assert.rejects(restoreSnapshot(store, path, 3), /checksum mismatch/);
    assert.equal(store.transactions.size, 0);
  });
});
