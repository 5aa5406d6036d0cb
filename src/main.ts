import type { Server as HttpServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { CallMetrics } from './api/callMetrics.js';
import { createFraudService } from './api/fraudService.js';
import { createGrpcServer, createHealthServer, listen } from './api/grpcServer.js';
import { RowAdmission, singlesReserve } from './api/rowAdmission.js';
import { BatchLane } from './api/batchLane.js';
import { ServingHealth, ServingStatus } from './api/servingHealth.js';
import { ServerReflection } from './api/serverReflection.js';
import { ConfigError } from './config/envValues.js';
import { loadConfig, unknownVariables, type Config } from './config/config.js';
import { ignoredOtlpEndpoint } from './config/tracingConfig.js';
import { loadFeatureSpec } from './features/featureSpec.js';
import { HistoryHealth } from './api/historyHealth.js';
import { HistoryRecorder } from './api/historyRecorder.js';
import { OutcomeReports } from './api/outcomeReports.js';
import type { S3Client } from '@aws-sdk/client-s3';
import { FileModelSource } from './models/fileModelSource.js';
import { LakefsRefResolver } from './models/lakefsRefResolver.js';
import { ModelCache } from './models/modelCache.js';
import { ModelLoader } from './models/modelLoader.js';
import { ModelRegistry } from './models/modelRegistry.js';
import type { ModelSource } from './models/modelSource.js';
import { MODEL_TASKS, type ModelTask } from './models/modelTask.js';
import { ModelWatcher } from './models/modelWatcher.js';
import { createLogger, LogOutput, routeGrpcLogs, routeProcessOutput, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { setModelInfo } from './observability/modelInfoGauge.js';
import { boundPort, startMetricsServer } from './observability/metricsServer.js';
import { Tracing } from './observability/tracing.js';
import { missingNodeFlags } from './nodeFlags.js';
import { createServerSecurity } from './security/serverSecurity.js';
import { createDecisionLog } from './decisionLog/createDecisionLog.js';
import { createStateStore } from './state/createStateStore.js';
import { createQualityFeed } from './quality/createQualityFeed.js';
import { recorderOf } from './api/decisionCapture.js';
import { ScoreKeeper } from './quality/scoreKeeper.js';
import { startShadows } from './shadows.js';
import { LoopLoad } from './api/loopLoad.js';

/** The gRPC service name health reports on, besides the whole server (""). */
export const FRAUD_SERVICE_NAME = 'fraud.v1.FraudService';

export interface RunningService {
  readonly grpcPort: number;
  /** The plaintext health-only port (FRAUD_HEALTH_PORT), when there is one. */
  readonly healthPort: number | undefined;
  readonly metricsPort: number;
  readonly registry: ModelRegistry;
  readonly metrics: Metrics;
  /** Resolves with the reason when the service cannot go on (Redis evicts history at start): the caller stops it. */
  readonly fatal: Promise<Error>;
  /** NOT_SERVING at once, then in-flight calls finish within the grace period, then everything closes. */
  shutdown(): Promise<void>;
}

/**
 * The composition root: config → model sources → loader → registry and
 * watchers → gRPC server (fraud service, health, reflection) → metrics server.
 * Listens at once and reports NOT_SERVING until both models are loaded.
 */
export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  const metrics = new Metrics();
  // First: a certificate or token file that cannot be used stops the start before anything is opened.
  const security = createServerSecurity(config, metrics, logger);
  let s3Client: S3Client | undefined;
  const featureSpec = loadFeatureSpec();
  let historyChanged = (): void => undefined;
  const state = await createStateStore(config, featureSpec, metrics, logger, () => {
    historyChanged();
  });
  const loader = new ModelLoader({
    featureSpec,
    featureCapabilities: state.capabilities,
    intraOpThreads: config.onnxIntraOpThreads,
    onSessionCount: (delta) => {
      metrics.modelSessions.inc(delta);
    },
  });
  const sources: Record<ModelTask, ModelSource> = {
    binary: await createModelSource(config.modelUris.binary),
    multiclass: await createModelSource(config.modelUris.multiclass),
  };
  const registry = new ModelRegistry({ binary: sources.binary.uri, multiclass: sources.multiclass.uri });
  const quality = await createQualityFeed(config, state, metrics, logger);
  const decisionLog = await createDecisionLog(config.decisionLog, config.s3, featureSpec.epochSeconds, metrics, logger);
  // Each model revision's score kept with the remembered transaction, for live quality (needs a state store).
  const scoreKeeper =
    state.store &&
    new ScoreKeeper({
      store: state.store,
      maxPendingTransactions: config.state.maxPendingScores,
      logger,
      onScoresNotKept: (reason, scores) => {
        metrics.qualityScoresNotKept.labels(reason).inc(scores);
      },
    });
  if (scoreKeeper !== undefined) metrics.qualityScoresPendingSource = () => scoreKeeper.pendingTransactions;
  const cache = config.modelCacheDir === undefined ? undefined : new ModelCache(config.modelCacheDir);
  const watchers = MODEL_TASKS.map(
    (task) =>
      new ModelWatcher({
        task,
        source: sources[task],
        loader,
        registry,
        metrics,
        logger,
        cache,
        poll: config.modelPoll,
      }),
  );

  // Challengers: their own registry and watchers; nothing about them touches readiness or health.
  const shadowModels = await startShadows({ config, loader, serving: registry, metrics, logger, cache, createModelSource });

  const health = new ServingHealth(
    { '': ServingStatus.NOT_SERVING, [FRAUD_SERVICE_NAME]: ServingStatus.NOT_SERVING },
    { watchLimits: config.healthWatches, metrics },
  );
  const historyHealth = new HistoryHealth(health, registry, FRAUD_SERVICE_NAME, state.store !== undefined, state.condition);
  for (const name of historyHealth.names()) health.setStatus(name, ServingStatus.NOT_SERVING);
  let stopping = false;
  let serving = false;
  const setHealth = (ready: boolean): void => {
    historyHealth.update(ready);
    if (ready === serving) return;
    serving = ready;
    const status = ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    health.setStatus('', status);
    health.setStatus(FRAUD_SERVICE_NAME, status);
    logger.info({ status: ServingStatus[status], uptimeMs: Math.round(performance.now()) }, ready ? 'serving' : 'not serving');
  };
  // Every task's gauge exists from the start: 0 until its model loads, so an alert sees a task that never does.
  for (const task of MODEL_TASKS) metrics.modelServing.labels(task).set(0);
  // Ready once both models are loaded and the state store has answered once;
  // a later store outage does not flip readiness (docs/operations.md, "Health").
  let stateReady = state.ready === undefined;
  const ready = (): boolean => registry.ready && stateReady;
  let reportFatal: (error: Error) => void = () => undefined;
  const fatal = new Promise<Error>((resolveFatal) => {
    reportFatal = resolveFatal;
  });
  state.ready?.then(
    () => {
      stateReady = true;
      if (!stopping) setHealth(ready());
    },
    (error: unknown) => {
      reportFatal(error instanceof Error ? error : new Error(String(error)));
    },
  );
  historyChanged = () => {
    if (!stopping) setHealth(ready());
  };
  registry.onChange((task, model) => {
    setModelInfo(metrics.modelInfo, registry.status(), config.modelInfoDetails);
    metrics.modelServing.labels(task).set(model ? 1 : 0);
    if (model) metrics.modelLoadedTime.labels(task).set(model.loadedAt.getTime() / 1000);
    if (!stopping) setHealth(ready());
  });

  // Off unless OTEL_TRACES_EXPORTER names an exporter: then the SDK is loaded, and spans leave in the background.
  const tracing = config.tracing && (await Tracing.start(config.tracing, logger, metrics));
  const callMetrics = new CallMetrics(metrics);
  const admission = new RowAdmission(
    {
      ...config.rowsInFlight,
      unreadAnswerMs: config.unreadAnswerMs,
      reservedForSingles: singlesReserve(config.rowsInFlight.max, config.rowsInFlight.maxPerConnection),
    },
    metrics,
  );
  const batchLane = new BatchLane(config.maxBatchRowsScoring);
  const loopLoad = shadowModels && config.shadow.shedLoopBusy < 1 ? new LoopLoad() : undefined;
  const shadowScoring = shadowModels?.scoring({
    // Shed first: with the event loop busy most of the time (FRAUD_SHADOW_SHED_LOOP_BUSY), past half of the
    // process's rows in flight (the call's own aside), or while batches wait for the lane.
    saturated: (rows) =>
      (loopLoad !== undefined && loopLoad.busy >= config.shadow.shedLoopBusy) || admission.inFlight - rows >= admission.limits.max / 2 || batchLane.queued > 0,
  });
  const server = createGrpcServer({
    fraudService: createFraudService({
      registry,
      metrics,
      logger,
      maxBatchSize: config.maxBatchSize,
      history:
        state.store &&
        new HistoryRecorder({
          store: state.store,
          epochSeconds: featureSpec.epochSeconds,
          latenessSeconds: config.state.latenessSeconds,
          maxFutureSeconds: config.state.maxFutureSeconds,
          metrics,
        }),
      outcomes:
        state.store &&
        new OutcomeReports({ store: state.store, epochSeconds: featureSpec.epochSeconds, maxFutureSeconds: config.state.maxFutureSeconds }),
      modelInfoDetails: config.modelInfoDetails,
      batchLane,
      decisions: recorderOf([decisionLog, scoreKeeper]),
      maxRowsInFlightPerStream: config.maxRowsInFlightPerStream,
      quality,
      qualityRetentionDays: config.state.qualityRetentionDays,
      shadows: shadowScoring,
    }),
    health,
    reflection: new ServerReflection(),
    ...config.grpc,
    callMetrics,
    tracing: tracing?.interceptor,
    admission: { rows: admission, logger },
    authentication: security.interceptor,
  });
  const grpcPort = await listen(server, config.grpc.host, config.grpc.port, security.credentials);
  const healthServer = config.healthPort === undefined ? undefined : createHealthServer(health);
  let healthPort: number | undefined;
  let metricsServer: HttpServer;
  try {
    if (healthServer !== undefined) healthPort = await listen(healthServer, config.grpc.host, config.healthPort ?? 0, undefined, 'FRAUD_GRPC_HOST, FRAUD_HEALTH_PORT');
    metricsServer = await startMetricsServer(metrics.registry, config.metrics.host, config.metrics.port, logger);
  } catch (error) {
    server.forceShutdown();
    healthServer?.forceShutdown();
    throw error;
  }
  logger.info(
    {
      grpcPort,
      healthPort,
      metricsPort: boundPort(metricsServer),
      sources: registry.status().map((s) => s.source),
      stateStore: config.state.store,
      tls: config.tls === undefined ? 'off' : config.tls.clientCaFile === undefined ? 'server' : 'mutual',
      writes: config.auth.writes,
      reads: config.auth.reads,
    },
    'listening',
  );
  security.start();
  for (const watcher of watchers) watcher.start();
  shadowModels?.start();
  state.snapshots?.start();

  return {
    grpcPort,
    healthPort,
    metricsPort: boundPort(metricsServer),
    registry,
    metrics,
    fatal,
    async shutdown() {
      if (stopping) return;
      stopping = true;
      setHealth(false);
      health.endWatches();
      logger.info({ graceMs: config.shutdownGraceMs }, 'shutting down: finishing in-flight calls');
      const graceEnds = performance.now() + config.shutdownGraceMs;
      // The drain starts at once: a model check in progress (up to a minute on
      // a slow store) must not eat into the grace period.
      // Once drained, the calls' spans are exported and the decision log's buffered
      // records written, side by side, within what is left of the grace.
      await Promise.all([
        drain(server, config.shutdownGraceMs, logger)
          // Shadow runs follow their calls' answers: their records and scores go out before the log and the keeper close.
          .then(() => shadowScoring?.idle(graceEnds - performance.now()))
          .then(() =>
            Promise.all([
              tracing?.shutdown(graceEnds - performance.now()),
              decisionLog?.close(Math.max(0, graceEnds - performance.now())),
              scoreKeeper?.close(Math.max(0, graceEnds - performance.now())),
            ]),
          ),
        ...watchers.map((watcher) => watcher.stop()),
        shadowModels?.stop(),
      ]);
      registry.retireAll();
      shadowModels?.registry.retireAll();
      security.stop();
      // Health answered NOT_SERVING through the drain; now the probes' port closes too.
      healthServer?.forceShutdown();
      admission.close();
      loopLoad?.close();
      callMetrics.close();
      // Live quality's last writes, before the store's connection closes.
      await quality?.settle();
      // After the drain: the last snapshot holds every transaction a call recorded.
      await state.snapshots?.stop();
      state.guard?.close();
      await state.store?.close();
      s3Client?.destroy();
      await new Promise<void>((resolveClose) => {
        metricsServer.close(() => {
          resolveClose();
        });
      });
      logger.info('stopped');
    },
  };

  /** file: or s3: (S3, MinIO, lakeFS). The AWS SDK (20 MB of memory) loads only when a model needs it. */
  async function createModelSource(uri: URL): Promise<ModelSource> {
    if (uri.protocol === 'file:') return new FileModelSource(uri);
    const [{ S3Client }, { S3ModelSource }] = await Promise.all([import('@aws-sdk/client-s3'), import('./models/s3ModelSource.js')]);
    s3Client ??= new S3Client({
      endpoint: config.s3.endpoint,
      region: config.s3.region,
      forcePathStyle: config.s3.forcePathStyle,
      // The watcher retries with its own backoff; the SDK should fail fast.
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 30_000 },
    });
    const client = s3Client;
    const lakefs =
      config.lakefsApiEndpoint === undefined
        ? undefined
        : new LakefsRefResolver(config.lakefsApiEndpoint, async () => {
            const { accessKeyId, secretAccessKey } = await client.config.credentials();
            return { accessKeyId, secretAccessKey };
          });
    return new S3ModelSource({ uri, client, endpoint: config.s3.endpoint, lakefs });
  }
}

/** Stops accepting calls, lets running ones finish, and cuts them off after the grace period. */
function drain(server: ReturnType<typeof createGrpcServer>, graceMs: number, logger: Logger): Promise<void> {
  return new Promise((resolveDrain) => {
    const timer = setTimeout(() => {
      logger.warn({ graceMs }, 'grace period over: cancelling the calls still running');
      server.forceShutdown();
      resolveDrain();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolveDrain();
    });
  });
}

/**
 * A local model path that does not exist is a configuration error, reported
 * like one: at start, naming the variable. Waiting for it (NOT_SERVING, and
 * UNAVAILABLE "retry with backoff" to every call) would never end.
 */
async function checkLocalModels(config: Config): Promise<void> {
  const variables: Record<ModelTask, string> = { binary: 'FRAUD_BINARY_MODEL_URI', multiclass: 'FRAUD_SCENARIO_MODEL_URI' };
  for (const task of MODEL_TASKS) {
    const uri = config.modelUris[task];
    const problem = uri.protocol === 'file:' ? await new FileModelSource(uri).missingFile() : undefined;
    if (problem !== undefined) throw new ConfigError(variables[task], problem);
  }
}

/** How long the last log lines may take to reach stdout once the service has stopped. */
const FINAL_FLUSH_MS = 1000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
    await checkLocalModels(config);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const output = new LogOutput();
  const logger = createLogger(config.logLevel, output);
  routeGrpcLogs(logger);
  routeProcessOutput(logger);
  for (const name of unknownVariables(process.env)) logger.warn({ variable: name }, 'unknown FRAUD_ variable ignored (a typo?)');
  const otlpEndpoint = ignoredOtlpEndpoint(process.env);
  if (otlpEndpoint !== undefined) logger.warn({ variable: otlpEndpoint }, `${otlpEndpoint} is set but OTEL_TRACES_EXPORTER is not: tracing is off (set OTEL_TRACES_EXPORTER=otlp to export spans)`);
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    logger.warn({ missing }, 'started without the V8 heap flags the memory bounds are sized for: expect a higher RSS under load (see src/nodeFlags.ts)');
  }
  let service: RunningService;
  try {
    service = await startService(config, logger);
  } catch (error) {
    // A certificate or token file that cannot be used: one line naming the variable, as for any other setting.
    if (!(error instanceof ConfigError)) throw error;
    logger.error({ variable: error.variable }, `configuration error: ${error.message}`);
    process.stderr.write(`configuration error: ${error.message}\n`);
    await output.flush(FINAL_FLUSH_MS);
    process.exit(2);
  }
  let stopping = false;
  const exit = (code: number): void => {
    // Bounded: a stdout nobody reads must not keep the process alive.
    void output.flush(FINAL_FLUSH_MS).then(() => process.exit(code));
  };
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'signal received');
    // The drain is bounded by the grace period, but stopping the model
    // watchers may wait on a slow store: past the grace period (and the final
    // flush), the process ends regardless.
    setTimeout(() => {
      logger.warn({ graceMs: config.shutdownGraceMs }, 'shutdown outlasted the grace period: exiting now');
      exit(1);
    }, config.shutdownGraceMs + FINAL_FLUSH_MS).unref();
    service.shutdown().then(
      () => {
        exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // A refusal found once Redis answers (e.g. an evicting policy): one line naming the variable, like a configuration error.
  void service.fatal.then((error) => {
    if (stopping) return;
    stopping = true;
    const line = error instanceof ConfigError ? `configuration error: ${error.message}` : `fatal: ${error.message}`;
    logger.error({ variable: error instanceof ConfigError ? error.variable : undefined }, line);
    process.stderr.write(`${line}\n`);
    void service.shutdown().finally(() => {
      exit(2);
    });
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`fatal: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
