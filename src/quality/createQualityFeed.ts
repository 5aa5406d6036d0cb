import type { Config } from '../config/config.js';
import { MODEL_TASKS } from '../models/modelTask.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { QualityMetrics } from '../observability/qualityMetrics.js';
import type { StateSetup } from '../state/createStateStore.js';
import { MemoryQualityLedger } from './memoryQualityLedger.js';
import { QualityFeed } from './qualityFeed.js';
import { MAX_REVISIONS_PER_TASK, type LedgerEvents, type QualityLedger } from './qualityLedger.js';
import { ledgerSnapshotPart } from './qualitySnapshot.js';

/**
 * Live quality beside the state store: in this process with the embedded
 * store, in Redis (every replica's outcomes) with Redis, none without a store.
 */
export async function createQualityFeed(config: Config, state: StateSetup, metrics: Metrics, logger: Logger): Promise<QualityFeed | undefined> {
  if (state.store === undefined) return undefined;
  const qualityMetrics = new QualityMetrics(metrics.registry);
  qualityMetrics.initialise(MODEL_TASKS);
  const events: LedgerEvents = {
    dropped: (reason, scores) => {
      qualityMetrics.dropped.labels(reason).inc(scores);
    },
    revisionDropped: (task) => {
      qualityMetrics.revisionsDropped.labels(task).inc();
    },
  };
  const limits = { retentionDays: config.state.qualityRetentionDays, maxRevisionsPerTask: MAX_REVISIONS_PER_TASK };
  let ledger: QualityLedger;
  if (state.redisClient === undefined) {
    const memoryLedger = new MemoryQualityLedger(limits, events);
    // With snapshots, quality is restored and saved with the history.
    state.snapshots?.attachQuality(ledgerSnapshotPart(memoryLedger));
    ledger = memoryLedger;
  } else {
    const { RedisQualityLedger } = await import('./redisQualityLedger.js');
    ledger = new RedisQualityLedger({ client: state.redisClient, keyPrefix: config.state.redis.keyPrefix, limits, events, logger });
  }
  return new QualityFeed(ledger, qualityMetrics);
}
