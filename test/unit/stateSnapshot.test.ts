import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { CUSTOMER_DAY_STRIDE, FRAUD_STRIDE, RECENT_STRIDE, TERMINAL_DAY_STRIDE, dayOf } from '../../src/features/entityHistory.js';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import { SnapshotError, restoreSnapshot, writeSnapshot } from '../../src/state/stateSnapshot.js';
import type { TransactionEvent } from '../../src/state/stateStore.js';
import { f64, u32, u64 } from '../helpers/littleEndian.js';

const OPTIONS = { latenessSeconds: 3600, historyDays: { customer: 30, terminal: 37 }, maxEntities: 100_000, maxTransactions: 100_000 };
const DAY = 86_400;
const START = 1_700_000_000;

/**
 * A store with `cards` cards of three transactions each (days 0, 1, 2) at 50
 * terminals, a fraud outcome for every tenth card's first, corrected to
 * legitimate for every twentieth (and back to fraud for every fortieth), and
 * legitimate corrected to fraud for every tenth card's second.
 */
async function filledStore(cards: number, maxEntities = OPTIONS.maxEntities): Promise<MemoryStateStore> {
  const store = new MemoryStateStore({ ...OPTIONS, maxEntities });
  const transactions: TransactionEvent[] = [];
  for (let day = 0; day < 3; day++) {
    for (let card = 0; card < cards; card++) {
      transactions.push({ id: BigInt(day * 1_000_000 + card), customerId: BigInt(card), terminalId: BigInt(100_000 + (card % 50)), amount: 10 + card, time: START + day * DAY + card });
    }
  }
  await store.record(transactions, () => undefined, { allOrNothing: true });
  const outcomes = [];
  for (let card = 0; card < cards; card += 10) outcomes.push({ transactionId: BigInt(card), outcome: 'fraud' as const, knownAt: START + 2 * DAY });
  await store.reportOutcomes(outcomes);
  const corrections = [];
  for (let card = 0; card < cards; card += 20) corrections.push({ transactionId: BigInt(card), outcome: 'legitimate' as const, knownAt: START + 2 * DAY + 10, supersedes: true });
  for (let card = 0; card < cards; card += 40) corrections.push({ transactionId: BigInt(card), outcome: 'fraud' as const, knownAt: START + 2 * DAY + 20, supersedes: true });
  for (let card = 0; card < cards; card += 10) {
    corrections.push({ transactionId: BigInt(1_000_000 + card), outcome: 'legitimate' as const, knownAt: START + 2 * DAY });
    corrections.push({ transactionId: BigInt(1_000_000 + card), outcome: 'fraud' as const, knownAt: START + 2 * DAY + 30, supersedes: true });
  }
  const statuses = (await store.reportOutcomes(corrections)).map((result) => result.status);
  assert.ok(statuses.every((status) => status === 'corrected' || status === 'applied'), statuses.join());
  return store;
}

/** Everything a store holds, in a canonical order, for comparison. */
function content(store: MemoryStateStore): unknown {
  const customers = [...store.customers.entries()]
    .map(([key, record]) => [key, record.watermark, [...record.days.slice(0, record.dayCount * CUSTOMER_DAY_STRIDE)], record.recent.slice(0, record.recentCount * RECENT_STRIDE)])
    .sort((one, other) => Number(one[0]) - Number(other[0]));
  const terminals = [...store.terminals.entries()]
    .map(([key, record]) => [key, record.watermark, [...record.days.slice(0, record.dayCount * TERMINAL_DAY_STRIDE)], [...record.frauds.slice(0, record.fraudCount * FRAUD_STRIDE)]])
    .sort((one, other) => Number(one[0]) - Number(other[0]));
  const transactions = [...store.transactions.entries()]
    .map(([id, recorded]) => [String(id), String(recorded.customerId), String(recorded.terminalId), recorded.time, recorded.outcome, recorded.knownAt, recorded.corrections])
    .sort((one, other) => Number(one[0]) - Number(other[0]));
  return { watermark: store.watermark, customers, terminals, transactions };
}

async function restored(path: string): Promise<MemoryStateStore> {
  const store = new MemoryStateStore(OPTIONS);
  await restoreSnapshot(store, path, 3);
  return store;
}

describe('state snapshots', () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'snapshot-unit-'));
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  async function savedBy(specVersion: number): Promise<string> {
    const path = join(folder, `spec-${specVersion}.snapshot`);
    await writeSnapshot(new MemoryStateStore(OPTIONS), path, specVersion);
    return path;
  }

  it("should keep a version-2 service's history after an upgrade to version 3 (the same state rules)", async () => {
    const header = await restoreSnapshot(new MemoryStateStore(OPTIONS), await savedBy(2), 3);
    assert.equal(header?.specVersion, 2);
  });

  it('should refuse the state of a newer spec, and of version 1 (no history rules)', async () => {
    await assert.rejects(restoreSnapshot(new MemoryStateStore(OPTIONS), await savedBy(4), 3), (error: Error) => error instanceof SnapshotError && /versions 2 to 3/.test(error.message));
    await assert.rejects(restoreSnapshot(new MemoryStateStore(OPTIONS), await savedBy(1), 3), SnapshotError);
  });

  it('should restore exactly what it wrote: windows, recent transactions, outcomes, frauds', async () => {
    const store = await filledStore(200);
    const path = join(folder, 'round-trip.snapshot');
    await writeSnapshot(store, path, 3);
    assert.deepEqual(content(await restored(path)), content(store));
  });

  it('should refuse, changing nothing, a snapshot cut by one byte, with one byte changed anywhere, or of random bytes', async () => {
    const path = join(folder, 'damaged.snapshot');
    await writeSnapshot(await filledStore(100), path, 3);
    const bytes = await readFile(path);
    const damaged = join(folder, 'damaged-copy.snapshot');
    const cases: [string, Buffer][] = [
      ['cut by one byte', bytes.subarray(0, bytes.length - 1)],
      ['random bytes', Buffer.from(Array.from({ length: 4_096 }, (_, index) => (index * 7919 + 13) % 256))],
    ];
    // A changed byte in the header, in a customer's day aggregates, in a transaction, and in the checksum itself.
    for (const offset of [12, Math.floor(bytes.length / 4), Math.floor((bytes.length * 3) / 4), bytes.length - 2]) {
      const flipped = Buffer.from(bytes);
      flipped[offset] = (flipped[offset] as number) ^ 0x10;
      cases.push([`byte ${offset} changed`, flipped]);
    }
    for (const [what, data] of cases) {
      await writeFile(damaged, data);
      const store = new MemoryStateStore(OPTIONS);
      await assert.rejects(restoreSnapshot(store, damaged, 3), SnapshotError, what);
      assert.equal(store.customers.size + store.terminals.size + store.transactions.size, 0, what);
    }
  });

  it('should write the store as it was when the write began, while transactions and outcomes keep coming', async () => {
    // Full: the new cards below evict others while the snapshot is written.
    const store = await filledStore(3_000, 3_050);
    const before = join(folder, 'before.snapshot');
    await writeSnapshot(store, before, 3);
    const during = join(folder, 'during.snapshot');
    const progress = { writing: true, changes: 0 };
    const written = writeSnapshot(store, during, 3, { sliceMs: 0 }).finally(() => {
      progress.writing = false;
    });
    // Between slices: new transactions of known cards at known terminals, new cards (each evicting one), outcomes.
    for (let step = 0; progress.writing; step++) {
      const card = (step * 37) % 3_000;
      await store.record(
        [
          { id: BigInt(5_000_000 + step), customerId: BigInt(card), terminalId: BigInt(100_000 + (card % 50)), amount: 99, time: START + 3 * DAY + step },
          { id: BigInt(6_000_000 + step), customerId: BigInt(900_000 + step), terminalId: BigInt(200_000 + step), amount: 5, time: START + 3 * DAY + step },
        ],
        () => undefined,
        { allOrNothing: true },
      );
      await store.reportOutcomes([
        { transactionId: BigInt(1_000_000 + card), outcome: 'fraud', knownAt: START + 4 * DAY },
        // Corrections too: the snapshot keeps the outcome and the frauds as they were.
        { transactionId: BigInt(card), outcome: step % 2 === 0 ? 'legitimate' : 'fraud', knownAt: START + 4 * DAY + step, supersedes: true },
      ]);
      progress.changes++;
      await nextTurn();
    }
    await written;
    assert.ok(progress.changes > 10, `only ${progress.changes} changes ran while the snapshot was written`);
    assert.deepEqual(content(await restored(during)), content(await restored(before)));
  });

  it('should keep corrections across a restart: a corrected fraud stays ended, the count of corrections stays', async () => {
    const store = await filledStore(40);
    const path = join(folder, 'corrections.snapshot');
    await writeSnapshot(store, path, 3);
    const back = await restored(path);
    assert.equal(back.transactions.get(20n)?.corrections, 1);
    assert.equal(back.transactions.get(0n)?.corrections, 2);
    const terminal = back.terminals.get(100_000 + 20);
    assert.deepEqual([...(terminal?.frauds.slice(0, terminal.fraudCount * FRAUD_STRIDE) ?? [])], [
      ...[dayOf(START), START + 2 * DAY, START + 2 * DAY + 10],
      ...[dayOf(START + DAY), START + 2 * DAY + 30, Number.POSITIVE_INFINITY],
    ]);
    // The restored count still bounds corrections: the next ones are refused at the cap.
    const results = await back.reportOutcomes([
      { transactionId: 0n, outcome: 'legitimate', knownAt: START + 3 * DAY, supersedes: true },
      { transactionId: 0n, outcome: 'fraud', knownAt: START + 3 * DAY + 1, supersedes: true },
    ]);
    assert.deepEqual(results.map((result) => result.status), ['corrected', 'too_many_corrections']);
  });

  it('should read a format-2 snapshot (every fraud in force, no corrections) and refuse a format it does not know', async () => {
    const terminalId = 77n;
    const body = (format: number): Buffer => {
      const header = Buffer.from(JSON.stringify({ format, specVersion: 3, writtenAt: new Date(START * 1000).toISOString(), shutdown: true }));
      const parts: Buffer[] = [Buffer.from('FRAUDST2'), u32(header.length), header, f64(START + 10)];
      // A terminal with one day of one transaction and its fraud (day, known_at: no end in format 2).
      parts.push(Buffer.from([2]), u64(terminalId), f64(START + 10), u32(1), f64(dayOf(START)), f64(1), u32(1), f64(dayOf(START)), f64(START + 100));
      // Its transaction, reported fraud.
      parts.push(Buffer.from([3]), u64(5n), u64(6n), u64(terminalId), f64(START + 10), Buffer.from([1]), f64(START + 100));
      parts.push(Buffer.from([0]));
      const bytes = Buffer.concat(parts);
      return Buffer.concat([bytes, u32(crc32(bytes))]);
    };
    const path = join(folder, 'format-2.snapshot');
    await writeFile(path, body(2));
    const store = new MemoryStateStore(OPTIONS);
    assert.equal((await restoreSnapshot(store, path, 3))?.format, 2);
    const terminal = store.terminals.get(Number(terminalId));
    assert.deepEqual([...(terminal?.frauds.slice(0, terminal.fraudCount * FRAUD_STRIDE) ?? [])], [dayOf(START), START + 100, Number.POSITIVE_INFINITY]);
    assert.equal(store.transactions.get(5n)?.corrections, 0);
    const [corrected] = await store.reportOutcomes([{ transactionId: 5n, outcome: 'legitimate', knownAt: START + 200, supersedes: true }]);
    assert.equal(corrected?.status, 'corrected');
    assert.deepEqual([...(terminal?.frauds.slice(0, FRAUD_STRIDE) ?? [])], [dayOf(START), START + 100, START + 200]);
    await writeFile(path, body(6));
    await assert.rejects(restoreSnapshot(new MemoryStateStore(OPTIONS), path, 3), (error: Error) => error instanceof SnapshotError && /format 6 is not supported/.test(error.message));
  });

  it('should give each write its own temporary file, so two writers of one path never mix their bytes', async () => {
    const path = join(folder, 'shared.snapshot');
    const [one, other] = [await filledStore(500), await filledStore(700)];
    await Promise.all([writeSnapshot(one, path, 3), writeSnapshot(other, path, 3)]);
    const kept = content(await restored(path));
    assert.ok([content(one), content(other)].some((expected) => JSON.stringify(expected) === JSON.stringify(kept)));
    assert.deepEqual((await readdir(folder)).filter((name) => name.startsWith('shared.snapshot.tmp-')), []);
  });
});
