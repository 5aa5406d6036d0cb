import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS_SECONDS } from './latencyBuckets.js';

/** What the state gauges read from a store when Prometheus scrapes. */
export interface StateStatsView {
  readonly customers: number;
  readonly terminals: number;
  readonly transactions: number;
  readonly bytes: { readonly customer: number; readonly terminal: number; readonly transaction: number };
  readonly watermark: number;
  /** Customers plus terminals by eviction segment (embedded store). */
  readonly segments?: { readonly probation: number; readonly established: number };
}
/** Holds the registry before a subclass's field initializers run, so they can register in it. */
class RegisteredIn {
  constructor(protected readonly registry: Registry) {}
}

/**
 * The state store's metrics (fraud_state_*): its operations, losses,
 * snapshots and the Redis server's condition, and the gauges read from the
 * store when Prometheus scrapes.
 */
export class StateMetrics extends RegisteredIn {
  readonly operationDuration = new Histogram({
    name: 'fraud_state_operation_duration_seconds',
    help: 'Time the state store took per call, by store (memory, redis) and operation (record: read and update the history of a call\'s transactions; outcomes).',
    labelNames: ['store', 'operation'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: 'fraud_state_errors_total',
    help: 'State store operations that failed (the call got UNAVAILABLE), by store and reason (timeout, unavailable, overloaded, out_of_memory, error, replicas_behind).',
    labelNames: ['store', 'reason'] as const,
    registers: [this.registry],
  });

  readonly duplicates = new Counter({
    name: 'fraud_state_duplicate_transactions_total',
    help: 'Scored transactions that were already recorded (retries, or the same transaction sent to Predict and PredictScenario): counted once in the history.',
    registers: [this.registry],
  });

  readonly forgottenRetries = new Counter({
    name: 'fraud_state_forgotten_retries_total',
    help: 'Embedded store: retries the transaction index had forgotten (FRAUD_STATE_MAX_TRANSACTIONS reached within the retention), recognised by their card, which still held them: counted once all the same. Retries neither still holds count twice at their terminal; see fraud_state_evictions_total{kind="transaction"}.',
    registers: [this.registry],
  });

  readonly refused = new Counter({
    name: 'fraud_state_refused_transactions_total',
    help: 'Transactions refused, by reason: late (older than the watermark minus the lateness), future (too far ahead of the clock), conflicting_repeat (an id already recorded for the same customer and terminal with another amount or event time; the call got ALREADY_EXISTS).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly outcomes = new Counter({
    name: 'fraud_state_outcomes_total',
    help: 'Fraud outcomes reported, by status (applied, duplicate, conflict, unknown_transaction, before_transaction; corrections: corrected, out_of_order, too_many_corrections).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly evictions = new Counter({
    name: 'fraud_state_evictions_total',
    help: 'Entities (customer, terminal) or remembered transactions dropped because a limit was reached, not because they expired; non-zero means the limits are too small for the traffic.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly storeUp = new Gauge({
    name: 'fraud_state_store_up',
    help: 'Whether the state store answers, by store: 1, or 0 during an outage (history calls then fail with UNAVAILABLE). The embedded store is always 1.',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });

  readonly repairs = new Counter({
    name: 'fraud_state_repairs_total',
    help: 'Redis store: terminal counts taken back right after a call, by reason: late (the customer refused a transaction its terminal had counted in the same round trip), repeat (a retry the terminal no longer remembered); dropped counts repairs lost because too many waited for Redis.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly snapshots = new Counter({
    name: 'fraud_state_snapshots_total',
    help: 'Snapshots of the embedded store written, by result (ok, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly snapshotTime = new Gauge({
    name: 'fraud_state_snapshot_timestamp_seconds',
    help: 'When the last snapshot of the embedded store was written (Unix time).',
    registers: [this.registry],
  });

  readonly snapshotDuration = new Histogram({
    name: 'fraud_state_snapshot_duration_seconds',
    help: 'Time to write a snapshot of the embedded store.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly lost = new Counter({
    name: 'fraud_state_store_lost_total',
    help: 'Times this replica found that the state store lost the history it had (Redis: the generation marker gone or replaced, e.g. a restart without persistence, FLUSHALL, eviction), by store.',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });

  readonly historyIncomplete = new Gauge({
    name: 'fraud_state_history_incomplete',
    help: 'By store: 1 while the history is known to be incomplete after a loss (until event time has moved past the loss by the longest window plus the delay and lateness, or the loss is acknowledged); health fraud.v1.FraudService/history is NOT_SERVING meanwhile.',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });

  readonly redisOutOfMemory = new Gauge({
    name: 'fraud_state_redis_out_of_memory',
    help: '1 while Redis refuses writes because it is at its maxmemory (scoring calls fail with UNAVAILABLE; the task health services are NOT_SERVING), else 0.',
    registers: [this.registry],
  });

  readonly redisMemory = new Gauge({
    name: 'fraud_state_redis_memory_bytes',
    help: 'Redis memory as of the last check, by node (host:port) and kind: used (used_memory) and max (maxmemory; 0 means no limit).',
    labelNames: ['node', 'kind'] as const,
    registers: [this.registry],
  });

  readonly redisEvictedKeys = new Gauge({
    name: 'fraud_state_redis_evicted_keys',
    help: 'Keys Redis has evicted since it started (INFO stats evicted_keys), by node: any increase is history lost.',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });

  readonly redisEvictionPolicy = new Gauge({
    name: 'fraud_state_redis_eviction_policy',
    help: 'Always 1, for the maxmemory-policy each Redis primary has (policy="unknown" when Redis would not say).',
    labelNames: ['node', 'policy'] as const,
    registers: [this.registry],
  });

  readonly redisEvicting = new Gauge({
    name: 'fraud_state_redis_evicting',
    help: '1 while a Redis primary has a maxmemory-policy that evicts keys (anything but noeviction): accepted with FRAUD_REDIS_ALLOW_EVICTION=true, otherwise the history models\' health services are NOT_SERVING.',
    registers: [this.registry],
  });

  readonly redisPersistence = new Gauge({
    name: 'fraud_state_redis_persistence',
    help: 'By node and kind (aof, rdb): 1 when Redis persists to disk that way, 0 when not; absent when Redis would not say.',
    labelNames: ['node', 'kind'] as const,
    registers: [this.registry],
  });

  readonly redisUnchecked = new Gauge({
    name: 'fraud_state_redis_unchecked',
    help: 'By node and check: 1 when Redis refused to say (managed services forbid or rename CONFIG), so that setting was not checked.',
    labelNames: ['node', 'check'] as const,
    registers: [this.registry],
  });

  readonly redisLastCheck = new Gauge({
    name: 'fraud_state_redis_last_check_timestamp_seconds',
    help: 'When the last complete check of Redis (eviction policy, memory, persistence, generation marker) ended (Unix time).',
    registers: [this.registry],
  });

  // The embedded store's eviction segments and snapshot integrity (docs/history.md, "The embedded store: floods, snapshots and sizing").
  readonly entityEvictions = new Counter({
    name: 'fraud_state_entity_evictions_total',
    help:
      'Customers and terminals evicted for the entity limit, by kind and segment: probation (fewer than 3 transactions in their history: a flood of one-off ids shows here) ' +
      'or established (cards with a history: non-zero means the limit is too small for the traffic).',
    labelNames: ['kind', 'segment'] as const,
    registers: [this.registry],
  });

  readonly snapshotRestores = new Counter({
    name: 'fraud_state_snapshot_restores_total',
    help: 'Snapshot restores at start, by result: restored (the shutdown snapshot: nothing lost), restored_partial (an interval snapshot: the previous process stopped uncleanly and what it recorded after it is lost), none (no file yet), unreadable (set aside; the history started empty).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly snapshotUnreadable = new Gauge({
    name: 'fraud_state_snapshot_unreadable',
    help: '1 when this process found its snapshot unreadable and started with an empty history (the file is kept aside as <path>.unreadable-<time>), else 0.',
    registers: [this.registry],
  });

  readonly snapshotQualityRestores = new Counter({
    name: 'fraud_state_snapshot_quality_restores_total',
    help: 'Live quality of the embedded store restored at start from its snapshot, by result: restored, none (no snapshot, or one written before snapshots held live quality), unreadable (its part of the snapshot, or the whole snapshot, could not be read: live quality started empty).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly snapshotQualityUnreadable = new Gauge({
    name: 'fraud_state_snapshot_quality_unreadable',
    help: '1 when this process found the live quality in its snapshot unreadable and started with empty live quality (GetModelQuality counts only what it applied since), else 0.',
    registers: [this.registry],
  });

  /**
   * Gauges read from the store when Prometheus scrapes: entities, remembered
   * transactions, bytes and watermark. Registered once the store exists.
   */
  observe(stats: () => StateStatsView): void {
    const registers = [this.registry];
    // One scrape reads four gauges; walking the store once is enough.
    let cached: ReturnType<typeof stats> | undefined;
    let cachedAt = 0;
    const read = (): ReturnType<typeof stats> => {
      if (cached === undefined || Date.now() - cachedAt > 1_000) {
        cached = stats();
        cachedAt = Date.now();
      }
      return cached;
    };
    new Gauge({
      name: 'fraud_state_entities',
      help: 'Customers and terminals whose history the state store keeps, by kind.',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        const stats = read();
        this.labels('customer').set(stats.customers);
        this.labels('terminal').set(stats.terminals);
      },
    });
    new Gauge({
      name: 'fraud_state_transactions',
      help: 'Recorded transactions remembered so that outcomes can find them.',
      registers,
      collect() {
        this.set(read().transactions);
      },
    });
    new Gauge({
      name: 'fraud_state_bytes',
      help: 'Approximate bytes of history the embedded store holds, by kind (customer, terminal, transaction: what is remembered of each recorded transaction for outcomes).',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        const { bytes } = read();
        this.labels('customer').set(bytes.customer);
        this.labels('terminal').set(bytes.terminal);
        this.labels('transaction').set(bytes.transaction);
      },
    });
    new Gauge({
      name: 'fraud_state_entity_segments',
      help: 'Customers plus terminals the embedded store keeps, by eviction segment (probation: fewer than 3 transactions in their history, evicted first; established).',
      labelNames: ['segment'] as const,
      registers,
      collect() {
        const { segments } = read();
        if (segments === undefined) return;
        this.labels('probation').set(segments.probation);
        this.labels('established').set(segments.established);
      },
    });
    this.observeWatermark(() => read().watermark);
  }

  /**
   * Gauges of the Redis store, read when Prometheus scrapes: commands waiting
   * for Redis, and the newest event time this replica recorded (entity counts
   * and bytes are Redis's own to report, e.g. through redis_exporter).
   */
  observeRedis(stats: () => { pendingCommands: number; watermark: number }): void {
    new Gauge({
      name: 'fraud_state_redis_pending_commands',
      help: 'Commands sent to Redis and not yet answered; new calls fail with UNAVAILABLE beyond a bound, so this stays bounded while Redis is frozen.',
      registers: [this.registry],
      collect() {
        this.set(stats().pendingCommands);
      },
    });
    this.observeWatermark(() => stats().watermark);
  }

  private observeWatermark(watermark: () => number): void {
    new Gauge({
      name: 'fraud_state_watermark_timestamp_seconds',
      help: 'Newest event time recorded (Unix time; with Redis, by this replica); a customer\'s transactions older than its newest minus the lateness are refused.',
      registers: [this.registry],
      collect() {
        const value = watermark();
        this.set(Number.isFinite(value) ? value : 0);
      },
    });
  }
}
