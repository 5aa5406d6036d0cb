import { performance } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { DecisionSink } from './decisionSink.js';
import type { EncodedRecord } from './decisionRecords.js';
import { RecordBuffer, type CallSlice } from './recordBuffer.js';
import type { ScoredCall } from './scoredCall.js';

/** Records built between two turns of the event loop: about half a millisecond of work. */
const ENCODE_SLICE_RECORDS = 64;

/** Why records were dropped: the `reason` label of fraud_decision_log_records_dropped_total. */
export type DropReason = 'buffer_full' | 'shutdown' | 'unencodable';
const DROP_REASONS: readonly DropReason[] = ['buffer_full', 'shutdown', 'unencodable'];

export interface SinkQueueOptions {
  readonly sink: DecisionSink;
  /** Records buffered at most; beyond, new records are dropped and counted. */
  readonly capacity: number;
  /** Records per write at most. */
  readonly batchRecords: number;
  /** How long a record may wait for a fuller batch (0: written as soon as the sink is free). */
  readonly lingerMs: number;
  /** Waits between two attempts at a failing write, doubling from the first to the last. */
  readonly retryMs: { readonly initial: number; readonly max: number };
  /** Builds the record of one transaction of a call (off the scoring path). */
  readonly encode: (call: ScoredCall, index: number) => EncodedRecord;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/**
 * One sink's bounded buffer and its delivery loop. Taking a call (`offer`) is
 * constant time and never waits: what does not fit is dropped and counted.
 * The loop writes batches in order, one at a time; a failed write is retried,
 * the same batch, with backoff, until it succeeds or the queue is closed, so
 * nothing buffered is lost while the process runs (at least once: a retried
 * batch may arrive twice). An outage is logged once when it starts, once
 * when records start being dropped, and once when the sink recovers.
 */
export class SinkQueue {
  private readonly buffer: RecordBuffer;
  private readonly delivered;
  private readonly failures;
  private readonly dropped: Record<DropReason, { inc(count: number): void }>;
  private running = false;
  private closed = false;
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;
  /** The batch being written, encoded once for all its attempts. */
  private pending: { readonly records: EncodedRecord[]; readonly count: number } | undefined;
  private retryDelayMs: number;
  /** Since the first failed write of the current outage; undefined while writes succeed. */
  private failingSince: number | undefined;
  /** Records dropped because the buffer was full since the last report of it. */
  private droppedInEpisode = 0;
  private idleWaiters: (() => void)[] = [];
  private wakeRetry: (() => void) | undefined;

  constructor(private readonly options: SinkQueueOptions) {
    this.buffer = new RecordBuffer(options.capacity);
    const { metrics, sink } = options;
    this.delivered = metrics.decisionLogRecords.labels(sink.name);
    this.failures = metrics.decisionLogWriteFailures.labels(sink.name);
    this.dropped = Object.fromEntries(DROP_REASONS.map((reason) => [reason, metrics.decisionLogDropped.labels(sink.name, reason)])) as Record<DropReason, { inc(count: number): void }>;
    // Every series exists from the start at 0, so an alert sees a rise from nothing.
    this.delivered.inc(0);
    this.failures.inc(0);
    for (const reason of DROP_REASONS) this.dropped[reason].inc(0);
    this.retryDelayMs = options.retryMs.initial;
  }

  get name(): DecisionSink['name'] {
    return this.options.sink.name;
  }

  /** Records held: buffered, and being written. */
  get buffered(): number {
    return this.buffer.size;
  }

  /** Takes a call's records, as many as fit; constant time, never waits. */
  offer(call: ScoredCall): void {
    if (this.closed) {
      this.drop('shutdown', call.transactions.length);
      return;
    }
    const dropped = this.buffer.push(call, performance.now());
    if (dropped > 0) this.drop('buffer_full', dropped);
    this.schedule();
  }

  /**
   * Writes what is buffered, lingering no more, until the buffer is empty or
   * `deadline` (performance.now() milliseconds) passes; then stops the loop,
   * counts what is left as dropped (reason shutdown) and closes the sink.
   * Returns how many records were left.
   */
  async close(deadline: number): Promise<number> {
    this.flushing = true;
    this.wakeRetry?.();
    this.schedule();
    if (this.buffer.size > 0) {
      await new Promise<void>((resolveIdle) => {
        const timer = setTimeout(resolveIdle, Math.max(0, deadline - performance.now()));
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolveIdle();
        });
      });
    }
    this.closed = true;
    clearTimeout(this.timer);
    this.wakeRetry?.();
    const left = this.buffer.clear();
    this.pending = undefined;
    if (left > 0) {
      this.drop('shutdown', left);
      this.options.logger.warn({ sink: this.name, records: left }, 'decision log: records still buffered at the end of the shutdown grace period were dropped');
    }
    await this.options.sink.close().catch((error: unknown) => {
      this.options.logger.warn({ sink: this.name, err: errorText(error) }, 'decision log: closing the sink failed');
    });
    return left;
  }

  private drop(reason: DropReason, count: number): void {
    this.dropped[reason].inc(count);
    if (reason !== 'buffer_full') return;
    if (this.droppedInEpisode === 0) {
      this.options.logger.warn(
        { sink: this.name, bufferRecords: this.options.capacity },
        'decision log: the buffer is full (the sink is down or slower than the calls); new records are dropped until it drains, counted in fraud_decision_log_records_dropped_total',
      );
    }
    this.droppedInEpisode += count;
  }

  /** Starts the loop now, or when the oldest record has lingered long enough. */
  private schedule(): void {
    if (this.running || this.closed || this.buffer.size === 0) return;
    const waitMs = this.flushing || this.buffer.size >= this.options.batchRecords ? 0 : this.options.lingerMs - this.buffer.oldestWaitMs(performance.now());
    if (this.timer !== undefined && waitMs > 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (waitMs <= 0) {
      // Never within the scoring call that offered the records.
      this.running = true;
      setImmediate(() => void this.run());
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, waitMs);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    try {
      while (!this.closed && this.buffer.size > 0) {
        const ready = this.flushing || this.buffer.size >= this.options.batchRecords || this.buffer.oldestWaitMs(performance.now()) >= this.options.lingerMs;
        if (!ready && this.pending === undefined) break;
        this.pending ??= await this.encode(this.buffer.peek(this.options.batchRecords));
        const batch = this.pending;
        try {
          if (batch.records.length > 0) await this.options.sink.write(batch.records);
        } catch (error) {
          if (this.isClosed()) break;
          this.failures.inc();
          this.noteFailure(error);
          await this.pause(this.retryDelayMs);
          this.retryDelayMs = Math.min(this.options.retryMs.max, this.retryDelayMs * 2);
          continue;
        }
        if (this.isClosed()) break;
        this.pending = undefined;
        this.buffer.remove(batch.count);
        this.delivered.inc(batch.records.length);
        this.retryDelayMs = this.options.retryMs.initial;
        this.noteSuccess();
      }
    } finally {
      this.running = false;
    }
    if (this.buffer.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
    this.schedule();
  }

  /**
   * The records of `slices`, built a few at a time with the event loop free in
   * between: a record takes about 8 µs, and a whole batch at once would hold
   * up the calls being scored for milliseconds. One that cannot be built is
   * dropped and counted, not retried forever.
   */
  private async encode(slices: readonly CallSlice[]): Promise<{ records: EncodedRecord[]; count: number }> {
    const records: EncodedRecord[] = [];
    let count = 0;
    let unencodable = 0;
    for (const slice of slices) {
      for (let index = slice.from; index < slice.to; index++) {
        if (++count % ENCODE_SLICE_RECORDS === 0) await new Promise<void>((resume) => setImmediate(resume));
        try {
          records.push(this.options.encode(slice.call, index));
        } catch (error) {
          if (unencodable++ === 0) this.options.logger.error({ sink: this.name, err: errorText(error) }, 'decision log: a record could not be built; dropped');
        }
      }
    }
    if (unencodable > 0) this.dropped.unencodable.inc(unencodable);
    return { records, count };
  }

  private noteFailure(error: unknown): void {
    if (this.failingSince !== undefined) return;
    this.failingSince = Date.now();
    this.options.logger.warn(
      { sink: this.name, err: errorText(error), buffered: this.buffer.size, bufferRecords: this.options.capacity },
      'decision log: writing to the sink failed; records stay buffered and the write is retried with backoff (logged once per outage)',
    );
  }

  private noteSuccess(): void {
    if (this.failingSince !== undefined) {
      this.options.logger.info(
        { sink: this.name, outageSeconds: (Date.now() - this.failingSince) / 1000, dropped: this.droppedInEpisode },
        'decision log: the sink accepts writes again',
      );
      this.failingSince = undefined;
      this.droppedInEpisode = 0;
    } else if (this.droppedInEpisode > 0 && this.buffer.size < this.options.capacity / 2) {
      this.options.logger.info({ sink: this.name, dropped: this.droppedInEpisode }, 'decision log: the buffer has room again');
      this.droppedInEpisode = 0;
    }
  }

  /** Read after an await: `close` may have run meanwhile. */
  private isClosed(): boolean {
    return this.closed;
  }

  /** Waits before a retry; closing (or a flush) cuts the wait short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resume) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resume();
      }
      this.wakeRetry = () => {
        this.wakeRetry = undefined;
        done();
      };
    });
  }
}

/** An error's message only: a sink's error objects may carry its configuration. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
