import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import type { ModelScore, ScoredModel } from '../../src/state/modelScores.js';
import { restoreSnapshot, writeSnapshot } from '../../src/state/stateSnapshot.js';
import type { TransactionEvent } from '../../src/state/stateStore.js';
import { TransactionIndex } from '../../src/state/transactionIndex.js';
import { f64, u32, u64 } from '../helpers/littleEndian.js';

/** The embedded store's scores: columns moved with their transaction in the index, snapshots, memory stated. */

const OPTIONS = { latenessSeconds: 3600, historyDays: { customer: 30, terminal: 37 }, maxEntities: 100_000, maxTransactions: 100_000 };
const START = 1_700_000_000;
const MODELS: ScoredModel[] = [
  { task: 'binary', name: 'fraud-binary', version: '1.0.0', revision: 'sha256:aaaaaaaaaaaa' },
  { task: 'binary', name: 'fraud-binary', version: '1.1.0', revision: 'lakefs-commit-0f3e' },
  { task: 'multiclass', name: 'fraud-scenario', version: '1.0.0', revision: '"etag"' },
];
/** Doubles whose every bit matters: the smallest subnormal, the largest below 1, a sum with a rounding error. */
const EXACT = [5e-324, 1 - 2 ** -53, 0.1 + 0.2, 0, 1, 1 / 3];

const bits = (value: number): string => {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(value);
  return bytes.toString('hex');
};

/** A transaction's scores as comparable strings: model, probability bits, alerted. */
const described = (scores: readonly ModelScore[]): string[] => scores.map((score) => `${score.model.revision} ${bits(score.fraudProbability)} ${score.alerted}`);

describe('embedded store: kept scores', () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'kept-scores-'));
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('should keep the right scores with the right ids through growth past 16 384 slots and removals that shift probe runs', () => {
    const index = new TransactionIndex();
    const total = 60_000;
    const probability = (id: number): number => id / total + 2 ** -40;
    for (let id = 0; id < total; id++) {
      index.add(BigInt(id), BigInt(id % 97), BigInt(id % 89), START + id);
      // Scores while the table grows: those kept before a grow must move with their entries.
      assert.equal(index.keepScore(BigInt(id), BigInt(id % 97), BigInt(id % 89), 1 + (id % 3), probability(id), id % 2 === 0), 'kept');
      if (id % 5 === 0) assert.equal(index.keepScore(BigInt(id), BigInt(id % 97), BigInt(id % 89), 4, 1 - probability(id), false), 'kept');
    }
    const check = (from: number): void => {
      for (let id = 0; id < total; id++) {
        const scores = index.scoresOf(BigInt(id));
        if (id < from) {
          assert.deepEqual(scores, [], `id ${id} was forgotten`);
          continue;
        }
        const expected = [{ code: 1 + (id % 3), probability: probability(id), alerted: id % 2 === 0 }];
        if (id % 5 === 0) expected.push({ code: 4, probability: 1 - probability(id), alerted: false });
        assert.deepEqual(scores, expected, `id ${id}`);
      }
    };
    check(0);
    // The oldest go (each removal shifts back the entries of its probe run), then the limit takes more.
    assert.equal(index.forget(START + 25_000, total), 0);
    check(25_000);
    index.forget(Number.NEGATIVE_INFINITY, 20_000);
    check(40_000);
    // A slot freed and taken again holds no scores of its former entry.
    index.add(7n, 1n, 1n, START);
    assert.deepEqual(index.scoresOf(7n), []);
  });

  it('should state the memory remembered transactions cost: 91 bytes per place of the ring written, with the score columns, 4 per table slot', () => {
    // Sized for its limit (100,000: 131,072 places): the table from the start, no place of the ring written yet.
    const store = new MemoryStateStore(OPTIONS);
    assert.equal(store.stats().bytes.transaction, 262_144 * 4);
    // 10,000 entries in an index of the default size: the ring doubles once it is full, the table with it; 10,000 places written.
    const index = new TransactionIndex();
    for (let id = 1; id <= 10_000; id++) index.add(BigInt(id), 1n, 1n, START + id);
    assert.equal(index.bytes, 10_000 * 91 + 32_768 * 4);
  });

  it('should restore from a snapshot every score bit for bit, with its model revision, first-wins still in force', async () => {
    const store = new MemoryStateStore(OPTIONS);
    const events: TransactionEvent[] = EXACT.map((_, index) => ({ id: BigInt(index + 1), customerId: 3n, terminalId: 4n, amount: 5, time: START + index }));
    await store.record(events, () => undefined, { allOrNothing: true });
    await store.keepScores(
      events.map((recorded, index) => ({
        transactionId: recorded.id,
        customerId: 3n,
        terminalId: 4n,
        scores: MODELS.slice(0, 1 + (index % 3)).map((model, position) => ({ model, fraudProbability: EXACT[(index + position) % EXACT.length] as number, alerted: position !== 1 })),
      })),
    );
    const path = join(folder, 'scores.snapshot');
    await writeSnapshot(store, path, 3);
    const restored = new MemoryStateStore(OPTIONS);
    assert.equal((await restoreSnapshot(restored, path, 3))?.format, 5);
    const reports = events.map((recorded) => ({ transactionId: recorded.id, outcome: 'fraud' as const, knownAt: recorded.time + 60 }));
    // A retry scored again by a kept revision changes nothing, in the restored store too.
    await restored.keepScores([{ transactionId: 1n, customerId: 3n, terminalId: 4n, scores: [{ model: MODELS[0] as ScoredModel, fraudProbability: 0.5, alerted: false }] }]);
    const expected = (await store.reportOutcomes(reports)).map((result) => described(result.joined?.scores ?? []));
    const actual = (await restored.reportOutcomes(reports)).map((result) => described(result.joined?.scores ?? []));
    assert.deepEqual(actual, expected);
    assert.equal(expected.flat().length, 12);
  });

  it('should restore a format-3 snapshot (no scores): its transactions keep none, and keep them from then on', async () => {
    const header = Buffer.from(JSON.stringify({ format: 3, specVersion: 3, writtenAt: new Date(START * 1000).toISOString(), shutdown: true }));
    const parts: Buffer[] = [Buffer.from('FRAUDST2'), u32(header.length), header, f64(START + 10)];
    // A transaction without an outcome (id 5, customer 6, terminal 7), format 3: its corrections byte ends it.
    parts.push(Buffer.from([3]), u64(5n), u64(6n), u64(7n), f64(START + 10), Buffer.from([0]), f64(0), Buffer.from([0]));
    parts.push(Buffer.from([0]));
    const bytes = Buffer.concat(parts);
    const path = join(folder, 'format-3.snapshot');
    await writeFile(path, Buffer.concat([bytes, u32(crc32(bytes))]));
    const store = new MemoryStateStore(OPTIONS);
    assert.equal((await restoreSnapshot(store, path, 3))?.format, 3);
    assert.deepEqual(store.transactions.scoresOf(5n), []);
    await store.keepScores([{ transactionId: 5n, customerId: 6n, terminalId: 7n, scores: [{ model: MODELS[2] as ScoredModel, fraudProbability: 0.625, alerted: true }] }]);
    const [result] = await store.reportOutcomes([{ transactionId: 5n, outcome: 'fraud', knownAt: START + 20 }]);
    assert.deepEqual(result?.joined, { eventTime: START + 10, scores: [{ model: MODELS[2], fraudProbability: 0.625, alerted: true }] });
  });
});
