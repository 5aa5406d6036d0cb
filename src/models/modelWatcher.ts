import { createHash } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { ModelCache } from './modelCache.js';
import { ManifestError } from './manifest.js';
import { ModelRejectedError, type ModelLoader } from './modelLoader.js';
import type { ModelRegistry } from './modelRegistry.js';
import { ModelSourceError, type FetchedModel, type ModelSource } from './modelSource.js';
import type { ModelTask } from './modelTask.js';
import type { ServingModel } from './servingModel.js';

interface CounterOf<Labels extends string[]> {
  labels(...values: Labels): { inc(): void };
}

interface GaugeOf<Labels extends string[]> {
  labels(...values: Labels): { set(value: number): void };
}

/**
 * The load-state metrics a watcher keeps for its task: the serving models'
 * (fraud_model_*, Metrics) or the shadows' (fraud_shadow_model_*, ShadowMetrics),
 * the same names with the same labels.
 */
export interface ModelLoadMetrics {
  readonly modelLoads: CounterOf<[task: string]>;
  readonly modelLoadFailures: CounterOf<[task: string, reason: string]>;
  readonly modelSourceErrors: CounterOf<[task: string, reason: string]>;
  readonly modelPending: GaugeOf<[task: string]>;
  readonly modelLastCheckTime: GaugeOf<[task: string]>;
}

export interface ModelWatcherOptions {
  readonly task: ModelTask;
  readonly source: ModelSource;
  /** Checks and builds a fetched version (the shadows' also compares its classes with the serving model's). */
  readonly loader: Pick<ModelLoader, 'load'>;
  readonly registry: ModelRegistry;
  readonly metrics: ModelLoadMetrics;
  readonly logger: Logger;
  readonly cache: ModelCache | undefined;
  /** When to check the source again (FRAUD_MODEL_POLL_SECONDS and the rest: config.modelPoll). */
  readonly poll: WatcherPoll;
}

/** The timing of a watcher's checks. */
export interface WatcherPoll {
  /** 0 turns polling off after the first load. */
  readonly intervalMs: number;
  /** Fraction of the interval each wait is randomly moved by, so replicas do not poll in step. */
  readonly jitter: number;
  /** Longest wait between retries while the source fails. */
  readonly retryMaxMs: number;
  /**
   * How long a manifest may wait for its .onnx (sha256 mismatch) before the
   * version is refused; only for sources whose reads are not one snapshot.
   */
  readonly pendingTimeoutMs: number;
}

/** What one check of the source ended with; decides the next wait. */
type CheckOutcome = 'unchanged' | 'swapped' | 'rejected' | 'pending' | 'failed';

const FIRST_RETRY_MS = 500;
const PENDING_RETRY_MAX_MS = 2_000;

/** What the serving model was built from, to tell a new version that changes nothing. */
interface ServingContent {
  readonly manifestBytes: Uint8Array;
  readonly sha256: string;
}

/**
 * Keeps one task's model current: loads it at start-up (from the cache when the
 * source is down), then polls the source and swaps in each new version that
 * passes the loader's checks. A refused version is not retried until the
 * source changes again; the serving one is never dropped for a failure. A new
 * version whose manifest and model are the serving ones byte for byte (a
 * lakeFS commit that changed only the other model) is not reloaded.
 */
export class ModelWatcher {
  private readonly log: Logger;
  private servingToken: string | undefined;
  private servingContent: ServingContent | undefined;
  private refusedToken: string | undefined;
  private pending: { token: string; since: number } | undefined;
  private failures = 0;
  /** Set once the cached copy failed to load: it will not get better by trying again. */
  private cacheUnusable = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: ModelWatcherOptions) {
    this.log = options.logger.child({ task: options.task, source: options.source.uri });
  }

  /** Starts loading and polling in the background. */
  start(): void {
    this.schedule(0);
  }

  /** Stops polling and waits for a check in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One check of the source: probe, and fetch, check and swap in a new version. */
  private async check(): Promise<CheckOutcome> {
    const { task, source, registry, metrics } = this.options;
    let token: string;
    try {
      token = await source.probe();
    } catch (error) {
      return this.sourceFailed(error);
    }
    registry.recordCheck(task);
    metrics.modelLastCheckTime.labels(task).set(Date.now() / 1000);
    if (token === this.servingToken || token === this.refusedToken) {
      if (token === this.servingToken) registry.clearError(task);
      // A manifest that was waiting for its .onnx is gone again (the source went back).
      this.clearPending();
      return this.succeeded('unchanged');
    }
    let fetched: FetchedModel;
    try {
      fetched = await source.fetch(token);
    } catch (error) {
      if (error instanceof ManifestError) return this.refuse(token, new ModelRejectedError('manifest', error.message));
      return this.sourceFailed(error);
    }
    this.succeeded('unchanged');
    // What was read can be newer than what the probe saw: key the outcome by it.
    const version = fetched.token ?? token;
    if (this.servesSameBytes(fetched)) return this.keepServing(version, fetched);
    let model: ServingModel;
    try {
      model = await this.options.loader.load(task, fetched);
    } catch (error) {
      if (error instanceof ModelRejectedError) return this.refuse(version, error);
      // A fault of the service, not of the model; still, this version is not served nor retried.
      this.log.error({ err: error }, 'model version failed to load unexpectedly');
      return this.refuse(version, new ModelRejectedError('internal', `unexpected error while loading: ${(error as Error).message}`));
    }
    // Everything about the new model is recorded (and logged) before the swap:
    // the swap tells the registry's listeners, and the last model to arrive
    // turns health to SERVING, which must come after, never before, its load.
    const previous = registry.current(task);
    registry.clearError(task);
    this.servingToken = version;
    this.servingContent = { manifestBytes: fetched.manifestBytes, sha256: model.manifest.sha256 };
    this.clearPending();
    metrics.modelLoads.labels(task).inc();
    this.log.info(
      { model: model.identity, previous: previous?.identity, sha256: model.manifest.sha256 },
      previous ? 'model swapped' : 'model loaded',
    );
    registry.swap(task, model);
    await this.saveToCache(version, fetched);
    return 'swapped';
  }

  /** True when `fetched` holds exactly the manifest and model that serve now. */
  private servesSameBytes(fetched: FetchedModel): boolean {
    const serving = this.servingContent;
    if (serving === undefined || !this.options.registry.serves(this.options.task)) return false;
    if (!Buffer.from(serving.manifestBytes).equals(fetched.manifestBytes)) return false;
    return createHash('sha256').update(fetched.modelBytes).digest('hex') === serving.sha256;
  }

  /**
   * A new version that changes nothing for this model: no new session, no swap.
   * The model now reports the new revision, since its bytes are exactly what
   * that revision holds (with lakeFS, the branch's head commit); loaded_at and
   * the load counter stay as they were.
   */
  private async keepServing(version: string, fetched: FetchedModel): Promise<CheckOutcome> {
    const { task, registry } = this.options;
    this.servingToken = version;
    this.clearPending();
    registry.clearError(task);
    const model = registry.moveToRevision(task, fetched.revision);
    this.log.info({ model: model?.identity, token: version }, 'model unchanged in the new version; not reloaded');
    await this.saveToCache(version, fetched);
    return 'unchanged';
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.cycle();
    }, delayMs);
    this.timer.unref();
  }

  private async cycle(): Promise<void> {
    let outcome: CheckOutcome;
    try {
      outcome = await this.check();
    } catch (error) {
      // A bug, not a store problem: keep serving, and retry with backoff like any failure.
      this.log.error({ err: error }, 'model check failed unexpectedly');
      this.failures++;
      this.options.registry.recordError(this.options.task, `unexpected error while checking the model source: ${(error as Error).message}`);
      outcome = 'failed';
    }
    // Nothing serves yet and the store is down, holds a version that fails its
    // checks, or one still waiting for its .onnx: the last good copy on disk is
    // better than NOT_SERVING.
    if (!this.options.registry.serves(this.options.task) && outcome !== 'unchanged' && outcome !== 'swapped') {
      await this.loadFromCache();
    }
    const next = this.nextDelay(outcome, this.options.registry.serves(this.options.task));
    if (next !== undefined) this.schedule(next);
  }

  private nextDelay(outcome: CheckOutcome, serving: boolean): number | undefined {
    const { source } = this.options;
    const { intervalMs: pollIntervalMs, retryMaxMs } = this.options.poll;
    if (outcome === 'pending') return Math.min(PENDING_RETRY_MAX_MS, pollIntervalMs || PENDING_RETRY_MAX_MS);
    if (outcome === 'failed') {
      return this.jittered(Math.min(retryMaxMs, FIRST_RETRY_MS * 2 ** Math.min(Math.max(this.failures - 1, 0), 20)));
    }
    // The store answers but holds nothing servable yet: look again at the polling pace.
    if (!serving) return this.jittered(pollIntervalMs || retryMaxMs);
    if (pollIntervalMs === 0 || source.immutable) {
      this.log.info('model polling is off: the source cannot change or polling is disabled');
      return undefined;
    }
    return this.jittered(pollIntervalMs);
  }

  private jittered(delayMs: number): number {
    const spread = delayMs * this.options.poll.jitter;
    return Math.max(0, Math.round(delayMs - spread + Math.random() * 2 * spread));
  }

  private succeeded(outcome: CheckOutcome): CheckOutcome {
    if (this.failures > 0) this.log.info({ failures: this.failures }, 'model source reachable again');
    this.failures = 0;
    return outcome;
  }

  private sourceFailed(error: unknown): CheckOutcome {
    const { task, registry, metrics } = this.options;
    const reason = error instanceof ModelSourceError ? error.reason : 'invalid_response';
    const message = error instanceof Error ? error.message : String(error);
    this.failures++;
    metrics.modelSourceErrors.labels(task, reason).inc();
    registry.recordError(task, message);
    // The first failure of a streak is worth a warning; the rest would flood the log.
    const level = this.failures === 1 ? 'warn' : 'debug';
    this.log[level]({ reason, failures: this.failures, error: message }, 'model source check failed; serving model unchanged');
    return 'failed';
  }

  private refuse(token: string, error: ModelRejectedError): CheckOutcome {
    const { task, registry, metrics } = this.options;
    const { pendingTimeoutMs } = this.options.poll;
    if (error.reason === 'sha256' && !this.options.source.snapshotReads) {
      // Publishing writes the .onnx before the manifest, but a reader can see a
      // new manifest next to the old .onnx for a moment: wait before refusing.
      // Not when both were read from one snapshot (a lakeFS commit): it never changes.
      if (this.pending?.token !== token) {
        this.pending = { token, since: Date.now() };
        metrics.modelPending.labels(task).set(1);
        this.log.info({ error: error.message, waitMs: pendingTimeoutMs }, 'new manifest waits for its model file; retrying');
      }
      if (Date.now() - this.pending.since < pendingTimeoutMs) return 'pending';
    }
    this.clearPending();
    this.refusedToken = token;
    metrics.modelLoadFailures.labels(task, error.reason).inc();
    registry.recordError(task, error.message);
    this.log.warn({ reason: error.reason, error: error.message }, 'model version refused; serving model unchanged');
    return 'rejected';
  }

  private clearPending(): void {
    if (this.pending === undefined) return;
    this.pending = undefined;
    this.options.metrics.modelPending.labels(this.options.task).set(0);
  }

  private async loadFromCache(): Promise<void> {
    const { cache, task, loader, registry, metrics } = this.options;
    if (cache === undefined || this.cacheUnusable) return;
    const cached = await cache.read(task, this.options.source.uri);
    if (cached === undefined) return;
    try {
      const model = await loader.load(task, cached.fetched);
      this.servingToken = cached.token;
      this.servingContent = { manifestBytes: cached.fetched.manifestBytes, sha256: model.manifest.sha256 };
      metrics.modelLoads.labels(task).inc();
      this.log.warn({ model: model.identity }, 'model source unavailable: serving the cached copy of the last good version');
      // Last, as in check(): the swap may turn health to SERVING.
      registry.swap(task, model);
    } catch (error) {
      this.cacheUnusable = true;
      this.log.warn({ error: (error as Error).message }, 'cached model copy is unusable; ignoring it');
    }
  }

  private async saveToCache(token: string, fetched: FetchedModel): Promise<void> {
    const { cache, task } = this.options;
    if (cache === undefined) return;
    try {
      await cache.write(task, token, fetched);
    } catch (error) {
      // Serving is unaffected; only the next cold start without the store is.
      this.log.warn({ error: (error as Error).message }, 'could not write the model cache');
    }
  }
}
