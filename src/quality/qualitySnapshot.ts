import { parseScoredModel, type ScoredModel } from '../state/modelScores.js';
import { Reader } from '../state/snapshotCodec.js';
import type { QualitySnapshotPart } from '../state/snapshotScheduler.js';
import type { LedgerContent, MemoryQualityLedger } from './memoryQualityLedger.js';
import { emptyCounts, type QualityCounts } from './qualityFigures.js';
import { revisionKey } from './qualityLedger.js';
import { SCORE_BIN_COUNT } from './scoreBins.js';

/**
 * The embedded store's live quality in its snapshot (the quality part of a
 * format-5 state snapshot, stateSnapshot.ts, which checksums it apart).
 *
 * Layout (little-endian): the magic, the number of score bins, the newest
 * event day and the order of the last update, then per revision its
 * identity (JSON of the ScoredModel), the order of its last update and per
 * event day the four counts, the delay sum and count, and the bins that are
 * not 0 (index, count). Every number is the exact double the ledger holds,
 * so a restored ledger answers bit for bit what the written one did.
 *
 * Of the same moment as the history it is written with, so a restored
 * service neither counts an outcome twice nor loses one its history shows
 * applied: the memory ledger counts synchronously in record(), which
 * QualityFeed.take calls at once, and ReportOutcome hands the outcomes the
 * store applied to the feed in the same run of microtasks in which the
 * store applied them (fraudService.reportOutcomes: no I/O in between),
 * whereas a snapshot begins in a timer callback (the interval) or after the
 * calls have drained and the feed has settled (shutdown). The part is
 * encoded when the history's capture begins (WriteOptions.quality).
 */

const MAGIC = Buffer.from('FRAUDQL1');
const WHAT = 'the live-quality part of the state snapshot';

/** A quality part that cannot be read: live quality then starts empty. */
export class QualitySnapshotError extends Error {
  override readonly name = 'QualitySnapshotError';
}

class Writer {
  private readonly parts: Buffer[] = [];

  bytes(value: Buffer): void {
    this.parts.push(value);
  }

  u16(value: number): void {
    const bytes = Buffer.allocUnsafe(2);
    bytes.writeUInt16LE(value);
    this.parts.push(bytes);
  }

  u32(value: number): void {
    const bytes = Buffer.allocUnsafe(4);
    bytes.writeUInt32LE(value);
    this.parts.push(bytes);
  }

  f64(value: number): void {
    const bytes = Buffer.allocUnsafe(8);
    bytes.writeDoubleLE(value);
    this.parts.push(bytes);
  }

  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function writeBins(writer: Writer, bins: readonly number[]): void {
  const used = [...bins.keys()].filter((bin) => bins[bin] !== 0);
  writer.u16(used.length);
  for (const bin of used) {
    writer.u16(bin);
    writer.f64(bins[bin] as number);
  }
}

function readBins(reader: Reader, bins: number[]): void {
  const used = reader.u16();
  for (let index = 0; index < used; index++) {
    const bin = reader.u16();
    if (bin >= bins.length) throw new QualitySnapshotError(`${WHAT}: bin ${bin} of ${bins.length}`);
    bins[bin] = reader.f64();
  }
}

export function encodeLedger(content: LedgerContent): Buffer {
  const writer = new Writer();
  writer.bytes(MAGIC);
  writer.u16(SCORE_BIN_COUNT);
  writer.f64(content.newest);
  writer.f64(content.sequence);
  writer.u32(content.revisions.length);
  for (const revision of content.revisions) {
    const model = Buffer.from(JSON.stringify(revision.model));
    writer.u32(model.length);
    writer.bytes(model);
    writer.f64(revision.updated);
    writer.u32(revision.days.size);
    for (const [day, counts] of revision.days) {
      writer.f64(day);
      for (const value of [counts.fraudAlerted, counts.fraudPassed, counts.legitimateAlerted, counts.legitimatePassed, counts.delaySeconds, counts.delayCount]) writer.f64(value);
      writeBins(writer, counts.fraudBins);
      writeBins(writer, counts.legitimateBins);
    }
  }
  return writer.done();
}

/** The content of a quality part; throws (QualitySnapshotError, or SnapshotError when cut short) when it is not one this version reads. */
export function decodeLedger(bytes: Buffer): LedgerContent {
  const reader = new Reader(bytes, WHAT);
  if (!reader.take(MAGIC.length).equals(MAGIC)) throw new QualitySnapshotError(`${WHAT} does not start with ${MAGIC.toString()}`);
  const bins = reader.u16();
  // Counts of other bins cannot be mapped onto these: refused rather than misread.
  if (bins !== SCORE_BIN_COUNT) throw new QualitySnapshotError(`${WHAT} counts ${bins} score bins; this version counts ${SCORE_BIN_COUNT}`);
  const newest = reader.f64();
  const sequence = reader.f64();
  const revisions: { model: ScoredModel; updated: number; days: Map<number, QualityCounts> }[] = [];
  const seen = new Set<string>();
  const revisionCount = reader.u32();
  for (let index = 0; index < revisionCount; index++) {
    const model = parseScoredModel(reader.take(reader.u32()).toString('utf8'));
    if (model === undefined || seen.has(revisionKey(model))) throw new QualitySnapshotError(`${WHAT}: corrupt model revision ${index}`);
    seen.add(revisionKey(model));
    const updated = reader.f64();
    const days = new Map<number, QualityCounts>();
    const dayCount = reader.u32();
    for (let dayIndex = 0; dayIndex < dayCount; dayIndex++) {
      const day = reader.f64();
      if (!Number.isSafeInteger(day) || days.has(day) || day > newest) throw new QualitySnapshotError(`${WHAT}: corrupt event day ${day}`);
      const counts = emptyCounts();
      counts.fraudAlerted = reader.f64();
      counts.fraudPassed = reader.f64();
      counts.legitimateAlerted = reader.f64();
      counts.legitimatePassed = reader.f64();
      counts.delaySeconds = reader.f64();
      counts.delayCount = reader.f64();
      readBins(reader, counts.fraudBins);
      readBins(reader, counts.legitimateBins);
      days.set(day, counts);
    }
    revisions.push({ model, updated, days });
  }
  if (reader.offset !== bytes.length) throw new QualitySnapshotError(`${WHAT}: ${bytes.length - reader.offset} bytes after the end`);
  return { newest, sequence, revisions };
}

/** The ledger as the snapshot scheduler writes and restores it. */
export function ledgerSnapshotPart(ledger: MemoryQualityLedger): QualitySnapshotPart {
  return {
    capture: () => encodeLedger(ledger.content()),
    restore: (bytes) => {
      const content = decodeLedger(bytes);
      ledger.restore(content);
      return { revisions: content.revisions.length, days: content.revisions.reduce((sum, revision) => sum + revision.days.size, 0) };
    },
  };
}
