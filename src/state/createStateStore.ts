import type { Config } from '../config/config.js';
import { historyDays, type FeatureSpec } from '../features/featureSpec.js';
import type { FeatureCapabilities } from '../features/featureBuilder.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { retentionSeconds } from './entityRecords.js';
import { MemoryStateStore } from './memoryStateStore.js';
import type { RedisConnection } from './redisConnection.js';
import type { RedisGuard } from './redisGuard.js';
import { SnapshotScheduler } from './snapshotScheduler.js';
import type { HistoryCondition, StateStore } from './stateStore.js';

/** What the composition root gets from the state store the configuration names. */
export interface StateSetup {
  /** Undefined with FRAUD_STATE_STORE=none: nothing is recorded, and models with history features are refused. */
  readonly store: StateStore | undefined;
  readonly snapshots: SnapshotScheduler | undefined;
  readonly capabilities: FeatureCapabilities;
  /** Resolves when the store has answered once and passed its checks (Redis); undefined when it is ready at once. */
  readonly ready?: Promise<void>;
  /** Redis: watches eviction policy, memory, persistence and data loss. */
  readonly guard?: RedisGuard;
  /** Redis: the store's client, which live quality shares (TLS, Sentinel, Cluster as configured). */
  readonly redisClient?: RedisConnection['client'];
  /** What the store says about itself, for the task and history health names. */
  readonly condition?: () => HistoryCondition;
}

/** The state store the configuration names, restored from its snapshot before any call can see it. */
export async function createStateStore(config: Config, spec: FeatureSpec, metrics: Metrics, logger: Logger, onConditionChange: () => void): Promise<StateSetup> {
  const { state } = config;
  if (state.store === 'none') {
    return { store: undefined, snapshots: undefined, capabilities: { history: false, storeDescription: 'this service (FRAUD_STATE_STORE=none)' } };
  }
  const capabilities = { history: true, storeDescription: `the ${state.store} state store` };
  if (state.store === 'redis') {
    // Loaded only when configured: the embedded default carries no Redis client.
    const [{ RedisStateStore }, { RedisGuard }] = await Promise.all([import('./redisStateStore.js'), import('./redisGuard.js')]);
    // The guard needs the store's client, and the store tells the guard of failures.
    const watch: { guard?: RedisGuard } = {};
    const store = new RedisStateStore({
      url: state.redis.url ?? '',
      password: state.redis.password,
      timeoutMs: state.redis.timeoutMs,
      keyPrefix: state.redis.keyPrefix,
      cluster: state.redis.cluster,
      sentinel: state.redis.sentinel,
      waitReplicas: state.redis.waitReplicas,
      latenessSeconds: state.latenessSeconds,
      maxFutureSeconds: state.maxFutureSeconds,
      historyDays: historyDays(spec),
      logger,
      onFailure: (reason) => {
        metrics.state.errors.labels('redis', reason).inc();
        watch.guard?.noteFailure(reason);
      },
      onAvailability: (available) => {
        metrics.state.storeUp.labels('redis').set(available ? 1 : 0);
      },
      onRepair: (reason) => {
        metrics.state.repairs.labels(reason).inc();
      },
      onScoresNotKept: (reason, scores) => {
        metrics.qualityScoresNotKept.labels(reason).inc(scores);
      },
    });
    metrics.state.storeUp.labels('redis').set(0);
    metrics.state.observeRedis(() => ({ pendingCommands: store.connection.pending, watermark: store.watermark }));
    const days = historyDays(spec);
    const guard = new RedisGuard({
      client: store.connection.client,
      keyPrefix: state.redis.keyPrefix,
      intervalMs: state.redis.checkIntervalMs,
      // A check is not on the scoring path: it may wait longer than a call.
      timeoutMs: Math.max(1_000, state.redis.timeoutMs * 10),
      allowEviction: state.redis.allowEviction,
      // Windows reach this far back (whole days, plus the lateness): past it, none sees the lost history.
      retentionSeconds: retentionSeconds({ latenessSeconds: state.latenessSeconds, days: Math.max(days.customer, days.terminal) }),
      watermark: () => store.watermark,
      logger,
      metrics,
      onChange: onConditionChange,
    });
    watch.guard = guard;
    store.start();
    guard.start();
    return {
      store,
      snapshots: undefined,
      capabilities,
      ready: Promise.all([store.ready, guard.started]).then(() => undefined),
      guard,
      redisClient: store.connection.client,
      condition: () => ({ writable: !guard.outOfMemory, trusted: !guard.evictionRefused, complete: !guard.historyIncomplete }),
    };
  }
  // Once per process: the metric counts every one, and the operator needs one line saying what it means.
  let forgetting = false;
  const warnForgetting = (): void => {
    if (forgetting) return;
    forgetting = true;
    logger.warn(
      { maxTransactions: state.maxTransactions },
      'the transaction index is full (FRAUD_STATE_MAX_TRANSACTIONS) and forgets transactions within the retention: their retries may count again and their outcomes are answered UNKNOWN_TRANSACTION; fraud_state_evictions_total{kind="transaction"} counts them',
    );
  };
  const store = new MemoryStateStore({
    latenessSeconds: state.latenessSeconds,
    historyDays: historyDays(spec),
    maxEntities: state.maxEntities,
    maxTransactions: state.maxTransactions,
    onEvicted: (kind, count, segment) => {
      metrics.state.evictions.labels(kind).inc(count);
      if (segment !== undefined) metrics.state.entityEvictions.labels(kind, segment).inc(count);
      if (kind === 'transaction') warnForgetting();
    },
    onForgottenRetry: () => {
      metrics.state.forgottenRetries.inc();
    },
    onScoresNotKept: (reason, scores) => {
      metrics.qualityScoresNotKept.labels(reason).inc(scores);
    },
  });
  metrics.state.observe(() => store.stats());
  metrics.state.storeUp.labels('memory').set(1);
  let snapshots: SnapshotScheduler | undefined;
  if (state.snapshotPath !== undefined) {
    const days = historyDays(spec);
    snapshots = new SnapshotScheduler({
      store,
      path: state.snapshotPath,
      intervalMs: state.snapshotIntervalMs,
      specVersion: spec.specVersion,
      logger,
      metrics,
      retentionSeconds: retentionSeconds({ latenessSeconds: state.latenessSeconds, days: Math.max(days.customer, days.terminal) }),
      onChange: onConditionChange,
    });
    await snapshots.restore();
  }
  const scheduler = snapshots;
  return {
    store,
    snapshots,
    capabilities,
    condition: scheduler && (() => ({ writable: true, trusted: true, complete: !scheduler.historyIncomplete })),
  };
}

