import { performance } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { decisionRecord, encodeRecord } from './decisionRecords.js';
import type { DecisionSink } from './decisionSink.js';
import type { ScoredCall } from './scoredCall.js';
import { SinkQueue } from './sinkQueue.js';

/** Per sink: how it is batched. */
export interface SinkSetup {
  readonly sink: DecisionSink;
  readonly batchRecords: number;
  readonly lingerMs: number;
}

export interface DecisionLogOptions {
  readonly sinks: readonly SinkSetup[];
  /** Records each sink buffers at most. */
  readonly bufferRecords: number;
  /** The service instance named in every record. */
  readonly instance: string;
  /** The feature specification's epoch, for event times given as tx_time_seconds. */
  readonly epochSeconds: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly retryMs?: { readonly initial: number; readonly max: number };
}

/**
 * The decision log: every answered scoring call goes to each configured
 * sink's bounded queue (see SinkQueue). `record` is what the scoring path
 * calls once its answer is ready: it only hands the call over, so it can
 * neither delay nor fail the answer.
 */
export class DecisionLog {
  private readonly queues: readonly SinkQueue[];
  private readonly logger: Logger;

  constructor(options: DecisionLogOptions) {
    this.logger = options.logger;
    const { instance, epochSeconds, metrics, logger } = options;
    const encode = (call: ScoredCall, index: number) => encodeRecord(decisionRecord(call, index, instance, epochSeconds));
    this.queues = options.sinks.map(
      (setup) =>
        new SinkQueue({
          sink: setup.sink,
          capacity: options.bufferRecords,
          batchRecords: setup.batchRecords,
          lingerMs: setup.lingerMs,
          retryMs: options.retryMs ?? { initial: 100, max: 5_000 },
          encode,
          metrics,
          logger,
        }),
    );
    metrics.decisionLogBufferedSource = () => this.queues.map((queue) => ({ sink: queue.name, records: queue.buffered }));
  }

  get sinkNames(): readonly string[] {
    return this.queues.map((queue) => queue.name);
  }

  /** Records hold each model's features. */
  readonly needsFeatures = true;

  /** Hands an answered call to every sink; never throws (a failure here is logged, never the caller's). */
  record(call: ScoredCall): void {
    for (const queue of this.queues) {
      try {
        queue.offer(call);
      } catch (error) {
        this.logger.error({ sink: queue.name, err: error instanceof Error ? error.message : String(error) }, 'decision log: a call could not be buffered');
      }
    }
  }

  /** Writes what is buffered until `graceMs` has passed, then counts what is left as dropped and closes the sinks. */
  async close(graceMs: number): Promise<void> {
    const deadline = performance.now() + graceMs;
    await Promise.all(this.queues.map((queue) => queue.close(deadline)));
  }
}
