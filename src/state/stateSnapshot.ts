import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { CUSTOMER_DAY_STRIDE, FRAUD_STRIDE, RECENT_STRIDE, TERMINAL_DAY_STRIDE } from '../features/entityHistory.js';
import { idOf, keyOf, type EntityKey } from './entityKey.js';
import type { StoredEntityRecord } from './entityEviction.js';
import { CustomerRecord, TerminalRecord } from './entityRecords.js';
import type { MemoryStateStore, SnapshotCapture } from './memoryStateStore.js';
import { MAX_CORRECTIONS } from './stateStore.js';
import { MAX_SCORED_MODELS_PER_TRANSACTION, parseScoredModel, type ScoredModel } from './modelScores.js';
import type { CodedScore } from './scoreColumns.js';
import type { IndexedTransaction } from './transactionIndex.js';
import { CHECKSUM_BYTES, ChunkWriter, Reader } from './snapshotCodec.js';
import { SnapshotError, temporaryName } from './snapshotFiles.js';

export { SnapshotError, removeUnfinishedWrites, setAside } from './snapshotFiles.js';

/**
 * Snapshots of the embedded store: the whole history in one binary file,
 * written to a temporary name unique to the write and renamed (a crash leaves
 * the previous snapshot), restored at start so a restarted pod does not score
 * blind.
 *
 * Layout (little-endian): the magic, a JSON header, the store's watermark,
 * tagged records (customer, terminal, transaction) up to an end tag, then the
 * CRC-32 of every byte before it: a file cut short or with one byte changed
 * is refused, never restored. Format 3 keeps outcome corrections: each
 * terminal fraud with the time a correction ended it, each transaction with
 * its count of corrections. Format 4 adds the scores kept with each
 * transaction (model code, probability as the exact double, alerted) and,
 * after the transactions, the dictionary of model revisions those codes
 * name. Format 5 adds, right after the header, the live quality of the
 * embedded store (src/quality/qualitySnapshot.ts: its content is that
 * module's): a length, the bytes, and their own CRC-32, which the file's
 * checksum leaves out, so a damaged quality part is refused alone (quality
 * starts empty) and the history still restores; its length is covered by
 * the file's checksum (without it the history cannot be found). (Files of
 * format 4, 3, 2 (whose frauds all stay in force) and 1 (without the
 * checksum) are still read, without live quality, their transactions
 * without scores before format 4, so an upgrade keeps its history; a format
 * this version does not know is refused.)
 *
 * The file holds the store as it was when the write began (a point-in-time
 * view), although calls keep recording while it is written: records are
 * encoded in slices of a few milliseconds between turns of the event loop,
 * and the store tells the snapshot of every change before it happens
 * (SnapshotCapture), so an entity about to change is written first, entities
 * and transactions that are newer are left out, and an outcome reported
 * or corrected meanwhile is written as it was, with its terminal's frauds.
 * Scores are the exception: a transaction is written with the scores it
 * keeps when it is written (scores only add to a transaction and no feature
 * reads them, so the view stays one the store could have held). Live
 * quality is taken at the same moment as the history's capture begins (see
 * WriteOptions.quality).
 */

const MAGIC_V1 = Buffer.from('FRAUDST1');
const MAGIC = Buffer.from('FRAUDST2');
const TAG_END = 0;
const TAG_CUSTOMER = 1;
const TAG_TERMINAL = 2;
const TAG_TRANSACTION = 3;
/** A model revision of the scores' dictionary (format 4), after the transactions. */
const TAG_MODEL = 4;
/** Longest stretch of encoding between two turns of the event loop while calls are served. */
export const SNAPSHOT_SLICE_MS = 4;
/** Records encoded between two looks at the clock. */
const RECORDS_PER_CHECK = 64;
/**
 * The oldest spec version whose recorded state this service reads unchanged:
 * version 3 added a feature computed from the same state (history.rules kept),
 * so an upgrade keeps the history a version-2 service saved.
 */
const OLDEST_COMPATIBLE_SPEC_VERSION = 2;

export interface SnapshotHeader {
  readonly format: 1 | 2 | 3 | 4 | 5;
  /** spec_version of the feature spec whose history rules the state follows. */
  readonly specVersion: number;
  readonly writtenAt: string;
  /**
   * True for the snapshot written at shutdown, after the calls drained: it
   * holds everything recorded. False for an interval snapshot: restoring one
   * means the process that wrote it ended without its last snapshot, and lost
   * what it recorded after `writtenAt`. Undefined in files written before the
   * field existed.
   */
  readonly shutdown?: boolean;
}

export interface WriteOptions {
  /**
   * Longest stretch of encoding between turns of the event loop
   * (SNAPSHOT_SLICE_MS); Infinity when no call is running (at shutdown), which
   * writes fastest.
   */
  readonly sliceMs?: number;
  /** The last snapshot, at shutdown (recorded in the header). */
  readonly shutdown?: boolean;
  /**
   * The live-quality part's bytes, called once, synchronously, right after
   * the history's capture begins, so both are of one moment: no outcome can
   * be applied in between (the store is only changed by calls, which run on
   * this thread). Without it the part is empty.
   */
  readonly quality?: () => Buffer;
}

/** The live-quality part of a snapshot as read: absent (before format 5, or written without), read, or damaged. */
export type QualityPart = { readonly state: 'absent' } | { readonly state: 'read'; readonly bytes: Buffer } | { readonly state: 'corrupt'; readonly reason: string };

/** A restored snapshot's header, and its live-quality part for the quality ledger (restored apart: it may be damaged alone). */
export interface RestoredSnapshot extends SnapshotHeader {
  readonly quality: QualityPart;
}

/** Encodes entities for a snapshot; the store calls `save` before an entity the snapshot has not written changes. */
class Capture implements SnapshotCapture {
  readonly addedIds = new Set<bigint>();
  /** Transactions whose outcome changed since the snapshot began, as they were before. */
  readonly outcomesBefore = new Map<bigint, IndexedTransaction>();

  epoch = 0;

  constructor(private readonly writer: ChunkWriter) {}

  save(entity: StoredEntityRecord): void {
    entity.snapshotEpoch = this.epoch;
    const { writer } = this;
    if (entity instanceof CustomerRecord) {
      writer.u8(TAG_CUSTOMER);
      writer.u64(idOf(entity.key));
      writer.f64(entity.watermark);
      writer.u32(entity.dayCount);
      writer.f64s(entity.days, entity.dayCount * CUSTOMER_DAY_STRIDE);
      writer.u32(entity.recentCount);
      const { recent } = entity;
      for (let base = 0; base < entity.recentCount * RECENT_STRIDE; base += RECENT_STRIDE) {
        // The id's two halves are its u64, little-endian.
        writer.u32(recent[base] as number);
        writer.u32(recent[base + 1] as number);
        writer.f64(recent[base + 2] as number);
        writer.f64(recent[base + 3] as number);
      }
      return;
    }
    writer.u8(TAG_TERMINAL);
    writer.u64(idOf(entity.key));
    writer.f64(entity.watermark);
    writer.u32(entity.dayCount);
    writer.f64s(entity.days, entity.dayCount * TERMINAL_DAY_STRIDE);
    writer.u32(entity.fraudCount);
    writer.f64s(entity.frauds, entity.fraudCount * FRAUD_STRIDE);
  }

  added(id: bigint): void {
    this.addedIds.add(id);
  }

  outcomeSet(id: bigint, before: IndexedTransaction): void {
    if (!this.outcomesBefore.has(id)) this.outcomesBefore.set(id, before);
  }
}

/** Writes the store's content to `path` (atomically, by rename); resolves with the bytes written. */
export async function writeSnapshot(store: MemoryStateStore, path: string, specVersion: number, options: WriteOptions = {}): Promise<number> {
  const sliceMs = options.sliceMs ?? SNAPSHOT_SLICE_MS;
  const temporary = temporaryName(path);
  // The snapshot holds the store as it is now: the capture begins before anything is awaited.
  let file: FileHandle | undefined;
  const writer = new ChunkWriter((chunk) => (file as FileHandle).write(chunk));
  const capture = new Capture(writer);
  store.beginCapture(capture);
  let capturing = true;
  try {
    // Of the same moment as the capture (WriteOptions.quality).
    const quality = options.quality?.() ?? Buffer.alloc(0);
    const header: SnapshotHeader = { format: 5, specVersion, writtenAt: new Date().toISOString(), shutdown: options.shutdown === true };
    const headerBytes = Buffer.from(JSON.stringify(header));
    writer.bytes(MAGIC);
    writer.u32(headerBytes.length);
    writer.bytes(headerBytes);
    writer.u32(quality.length);
    // The quality part and its own checksum, outside the file's.
    const qualityChecksum = Buffer.alloc(CHECKSUM_BYTES);
    qualityChecksum.writeUInt32LE(crc32(quality));
    writer.uncheckedBytes(Buffer.concat([quality, qualityChecksum]));
    writer.f64(store.watermark);
    // Records of entities about to change may follow from here on (Capture.save).
    file = await open(temporary, 'wx', 0o600);
    let sliceStarted = performance.now();
    let sinceCheck = 0;
    // Hands the event loop back once a slice has run its time, writing what is ready meanwhile.
    const pause = async (): Promise<void> => {
      sinceCheck = 0;
      if (writer.full) await writer.drain();
      if (performance.now() - sliceStarted < sliceMs) return;
      await nextTurn();
      sliceStarted = performance.now();
    };
    for (const customer of store.customers.values()) {
      if (customer.snapshotEpoch < capture.epoch) capture.save(customer);
      if (++sinceCheck >= RECORDS_PER_CHECK) await pause();
    }
    for (const terminal of store.terminals.values()) {
      if (terminal.snapshotEpoch < capture.epoch) capture.save(terminal);
      if (++sinceCheck >= RECORDS_PER_CHECK) await pause();
    }
    for (const [id, now] of store.transactions.entries()) {
      if (capture.addedIds.has(id)) continue;
      const recorded = capture.outcomesBefore.get(id) ?? now;
      writer.u8(TAG_TRANSACTION);
      writer.u64(id);
      writer.u64(recorded.customerId);
      writer.u64(recorded.terminalId);
      writer.f64(recorded.time);
      writer.u8(recorded.outcome);
      writer.f64(recorded.knownAt);
      writer.u8(recorded.corrections);
      const scores = store.transactions.scoresOf(id);
      writer.u8(scores.length);
      for (const score of scores) {
        writer.u16(score.code);
        writer.f64(score.probability);
        writer.u8(score.alerted ? 1 : 0);
      }
      if (++sinceCheck >= RECORDS_PER_CHECK) await pause();
    }
    // After the transactions: every code they hold is in the dictionary by now.
    for (const [code, model] of store.models.entries()) {
      const encoded = Buffer.from(JSON.stringify(model));
      writer.u8(TAG_MODEL);
      writer.u16(code);
      writer.u32(encoded.length);
      writer.bytes(encoded);
    }
    writer.u8(TAG_END);
    store.endCapture();
    capturing = false;
    await writer.finish();
    await file.sync();
    await file.close();
    await rename(temporary, path);
    return writer.written;
  } catch (error) {
    if (capturing) store.endCapture();
    await file?.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Reads a snapshot into an empty store; resolves with its header, or undefined when there is no file. */
export async function restoreSnapshot(store: MemoryStateStore, path: string, specVersion: number): Promise<RestoredSnapshot | undefined> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SnapshotError(`cannot read ${path}: ${(error as Error).message}`);
  }
  const magic = data.subarray(0, MAGIC.length);
  let format: 1 | 2 | 3 | 4 | 5;
  if (magic.equals(MAGIC)) {
    format = 3;
    if (data.length < MAGIC.length + CHECKSUM_BYTES) throw new SnapshotError(`${path} is truncated (${data.length} bytes)`);
    const body = data.subarray(0, data.length - CHECKSUM_BYTES);
    // Format 5: the file's checksum leaves out the quality part, which has its own.
    const part = qualityPartOf(body);
    const checksum = part === undefined ? crc32(body) : crc32(body.subarray(part.end), crc32(body.subarray(0, part.start)));
    if (checksum !== data.readUInt32LE(body.length)) {
      throw new SnapshotError(`${path}: checksum mismatch (the file was cut short or changed after it was written)`);
    }
    data = body;
  } else if (magic.equals(MAGIC_V1)) {
    format = 1;
  } else {
    throw new SnapshotError(`${path} is not a state snapshot`);
  }
  const reader = new Reader(data, path);
  reader.take(MAGIC.length);
  let parsed: Partial<Record<keyof SnapshotHeader, unknown>>;
  try {
    parsed = JSON.parse(reader.take(reader.u32()).toString('utf8')) as Partial<Record<keyof SnapshotHeader, unknown>>;
  } catch (error) {
    if (error instanceof SnapshotError) throw error;
    throw new SnapshotError(`${path}: unreadable header`);
  }
  // Formats 2 to 5 share the magic and the checksum; 3 adds the corrections, 4 the scores, 5 live quality.
  if (format === 3 && (parsed.format === 2 || parsed.format === 4 || parsed.format === 5)) format = parsed.format;
  if (parsed.format !== format) throw new SnapshotError(`${path}: snapshot format ${String(parsed.format)} is not supported (this version reads formats 1 to 5)`);
  const saved = parsed.specVersion;
  if (typeof saved !== 'number' || saved < OLDEST_COMPATIBLE_SPEC_VERSION || saved > specVersion) {
    throw new SnapshotError(
      `${path} follows feature spec ${String(saved)}; this service reads the state of versions ${OLDEST_COMPATIBLE_SPEC_VERSION} to ${specVersion}`,
    );
  }
  const header: SnapshotHeader = {
    format,
    specVersion: saved,
    writtenAt: String(parsed.writtenAt),
    ...(typeof parsed.shutdown === 'boolean' ? { shutdown: parsed.shutdown } : {}),
  };
  const quality = format === 5 ? readQualityPart(reader) : ({ state: 'absent' } as const);
  // Parse everything before touching the store: a truncated file changes nothing.
  const customers = new Map<EntityKey, CustomerRecord>();
  const terminals = new Map<EntityKey, TerminalRecord>();
  const transactions: [
    bigint,
    { customerId: bigint; terminalId: bigint; time: number; outcome: 0 | 1 | 2; knownAt: number; corrections: number; scores: CodedScore[] },
  ][] = [];
  const models = new Map<number, ScoredModel>();
  const watermark = reader.f64();
  for (;;) {
    const tag = reader.u8();
    if (tag === TAG_END) break;
    if (tag === TAG_CUSTOMER) {
      const key = keyOf(reader.u64());
      const customer = new CustomerRecord(key);
      customer.watermark = reader.f64();
      const dayCount = reader.u32();
      for (let day = 0; day < dayCount; day++) customer.addToDay(reader.f64(), reader.f64(), reader.f64(), reader.f64());
      const recentCount = reader.u32();
      for (let index = 0; index < recentCount; index++) customer.addRecent(reader.u32(), reader.u32(), reader.f64(), reader.f64());
      customers.set(key, customer);
    } else if (tag === TAG_TERMINAL) {
      const key = keyOf(reader.u64());
      const terminal = new TerminalRecord(key);
      terminal.watermark = reader.f64();
      const dayCount = reader.u32();
      for (let day = 0; day < dayCount; day++) terminal.addToDay(reader.f64(), reader.f64());
      const fraudCount = reader.u32();
      // Before format 3 every fraud stayed in force.
      for (let index = 0; index < fraudCount; index++) terminal.addFraud(reader.f64(), reader.f64(), format >= 3 ? reader.f64() : Number.POSITIVE_INFINITY);
      terminals.set(key, terminal);
    } else if (tag === TAG_TRANSACTION) {
      const id = reader.u64();
      const customerId = reader.u64();
      const terminalId = reader.u64();
      const time = reader.f64();
      const outcome = reader.u8();
      const knownAt = reader.f64();
      const corrections = format >= 3 ? reader.u8() : 0;
      const scores: CodedScore[] = [];
      const scoreCount = format >= 4 ? reader.u8() : 0;
      for (let index = 0; index < scoreCount; index++) scores.push({ code: reader.u16(), probability: reader.f64(), alerted: reader.u8() === 1 });
      if (outcome > 2 || corrections > MAX_CORRECTIONS || scoreCount > MAX_SCORED_MODELS_PER_TRANSACTION) throw new SnapshotError(`${path}: corrupt transaction record`);
      transactions.push([id, { customerId, terminalId, time, outcome: outcome as 0 | 1 | 2, knownAt, corrections, scores }]);
    } else if (tag === TAG_MODEL && format >= 4) {
      const code = reader.u16();
      const model = parseScoredModel(reader.take(reader.u32()).toString('utf8'));
      if (model === undefined) throw new SnapshotError(`${path}: corrupt model record`);
      models.set(code, model);
    } else {
      throw new SnapshotError(`${path}: corrupt record tag ${tag} at byte ${reader.offset - 1}`);
    }
  }
  if (format !== 1 && reader.offset !== data.length) throw new SnapshotError(`${path}: ${data.length - reader.offset} bytes after the end`);
  for (const [, recorded] of transactions) {
    for (const score of recorded.scores) if (!models.has(score.code)) throw new SnapshotError(`${path}: a score names model code ${score.code}, which the file does not define`);
  }
  for (const [id, customer] of customers) store.customers.set(id, customer);
  for (const [id, terminal] of terminals) store.terminals.set(id, terminal);
  for (const [id, recorded] of transactions) {
    store.transactions.add(id, recorded.customerId, recorded.terminalId, recorded.time);
    if (recorded.outcome !== 0) store.transactions.setOutcome(id, recorded.outcome, recorded.knownAt, recorded.corrections);
    for (const score of recorded.scores) {
      // Restored into an empty store: the dictionary has room for every code the file holds.
      const code = store.models.codeOf(models.get(score.code) as ScoredModel) as number;
      store.transactions.keepScore(id, recorded.customerId, recorded.terminalId, code, score.probability, score.alerted);
    }
  }
  store.watermark = Math.max(store.watermark, watermark);
  store.restored();
  return { ...header, quality };
}

/** Where a format-5 body's quality part lies (its bytes and checksum), or undefined for another format or a header that cannot be read. */
function qualityPartOf(body: Buffer): { start: number; end: number } | undefined {
  try {
    const headerEnd = MAGIC.length + 4 + body.readUInt32LE(MAGIC.length);
    const parsed = JSON.parse(body.subarray(MAGIC.length + 4, headerEnd).toString('utf8')) as { format?: unknown };
    if (parsed.format !== 5) return undefined;
    const start = headerEnd + 4;
    const end = start + body.readUInt32LE(headerEnd) + CHECKSUM_BYTES;
    // A length past the end: the checksum over the whole body then fails, as it must.
    return end <= body.length ? { start, end } : undefined;
  } catch {
    return undefined;
  }
}

/** The quality part, checked against its own checksum: damage there leaves the history readable. */
function readQualityPart(reader: Reader): QualityPart {
  const bytes = Buffer.from(reader.take(reader.u32()));
  const checksum = reader.u32();
  if (crc32(bytes) !== checksum) return { state: 'corrupt', reason: 'checksum mismatch in the live-quality part' };
  return bytes.length === 0 ? { state: 'absent' } : { state: 'read', bytes };
}
