import { join } from 'node:path';
import { ShadowScoring } from './api/shadowScoring.js';
import type { Config } from './config/config.js';
import { ModelCache } from './models/modelCache.js';
import type { ModelLoader } from './models/modelLoader.js';
import { ModelRegistry } from './models/modelRegistry.js';
import type { ModelSource } from './models/modelSource.js';
import { MODEL_TASKS, type ModelTask } from './models/modelTask.js';
import { ModelWatcher } from './models/modelWatcher.js';
import { ShadowLoader } from './models/shadowLoader.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
import { setModelInfo } from './observability/modelInfoGauge.js';

export interface ShadowSetupOptions {
  readonly config: Config;
  /** The serving models' loader: a shadow passes the same checks. */
  readonly loader: ModelLoader;
  /** The serving models, whose classes a shadow must have. */
  readonly serving: ModelRegistry;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The serving models' cache, if any: shadows keep theirs in its `shadow` folder. */
  readonly cache: ModelCache | undefined;
  readonly createModelSource: (uri: URL) => Promise<ModelSource>;
}

/** The shadow models of the tasks that have one: their registry, watchers, and the scoring step the handlers use. */
export interface ShadowModels {
  readonly registry: ModelRegistry;
  /** The step the handlers call; `saturated` says when the service's own load sheds shadow rows. */
  scoring(load: { readonly saturated: (rows: number) => boolean }): ShadowScoring;
  /** Starts the watchers once every serving model has loaded, so a shadow's classes are checked against the serving model's at load. */
  start(): void;
  stop(): Promise<void>;
}

/**
 * Challenger models (FRAUD_BINARY_SHADOW_MODEL_URI,
 * FRAUD_SCENARIO_SHADOW_MODEL_URI), loaded, checked, polled and swapped like
 * the serving models, by the same watcher, into a registry of their own; or
 * undefined when no shadow is configured. Nothing here touches readiness or
 * health: a shadow that cannot load is shown in GetModelInfo.shadows and in
 * fraud_shadow_model_* metrics, and the serving models serve regardless.
 */
export async function startShadows(options: ShadowSetupOptions): Promise<ShadowModels | undefined> {
  const { config, loader, serving, metrics, logger, cache, createModelSource } = options;
  const uris = config.shadow.modelUris;
  const tasks = MODEL_TASKS.filter((task) => uris[task] !== undefined);
  if (tasks.length === 0) return undefined;
  const sources = new Map<ModelTask, ModelSource>();
  for (const task of tasks) sources.set(task, await createModelSource(uris[task] as URL));
  const registry = new ModelRegistry(Object.fromEntries([...sources].map(([task, source]) => [task, source.uri])));
  const shadowMetrics = metrics.shadow;
  const shadowLoader = new ShadowLoader(loader, serving);
  const shadowCache = cache && config.modelCacheDir !== undefined ? new ModelCache(join(config.modelCacheDir, 'shadow')) : undefined;
  const watchers = [...sources].map(
    ([task, source]) =>
      new ModelWatcher({
        task,
        source,
        loader: shadowLoader,
        registry,
        metrics: shadowMetrics,
        logger: logger.child({ role: 'shadow' }),
        cache: shadowCache,
        poll: config.modelPoll,
      }),
  );
  // 0 until a shadow loads, so an alert sees a configured shadow that never does.
  for (const task of tasks) shadowMetrics.modelLoaded.labels(task).set(0);
  registry.onChange((task, model) => {
    setModelInfo(shadowMetrics.modelInfo, registry.status(), config.modelInfoDetails);
    shadowMetrics.modelLoaded.labels(task).set(model ? 1 : 0);
  });
  return {
    registry,
    scoring: ({ saturated }) => new ShadowScoring({ registry, metrics: shadowMetrics, maxRowsInFlight: config.shadow.maxRowsInFlight, saturated, logger }),
    start() {
      let started = false;
      const startOnce = (): void => {
        if (started || !serving.ready) return;
        started = true;
        for (const watcher of watchers) watcher.start();
      };
      serving.onChange(startOnce);
      startOnce();
    },
    async stop() {
      await Promise.all(watchers.map((watcher) => watcher.stop()));
    },
  };
}
