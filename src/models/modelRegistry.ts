import { MODEL_TASKS, type ModelTask } from './modelTask.js';
import type { ServingModel } from './servingModel.js';

/** What an operator asks about one task's model, serving or not. */
export interface TaskStatus {
  readonly task: ModelTask;
  readonly source: string;
  readonly model: ServingModel | undefined;
  readonly lastCheckedAt: Date | undefined;
  readonly lastError: { readonly message: string; readonly at: Date } | undefined;
}

type MutableTaskStatus = { -readonly [Key in keyof TaskStatus]: TaskStatus[Key] };

/**
 * Told when a task's serving model changes, or when only its revision moves
 * (then `previous` is `model` itself).
 */
export type RegistryListener = (task: ModelTask, model: ServingModel | undefined, previous: ServingModel | undefined) => void;

/**
 * The serving model of each task. Calls take a model with `acquire` (and give
 * it back with `release`), so one call never mixes versions; `swap` replaces a
 * model atomically and retires the old one, whose session is freed when the
 * last call holding it finishes.
 */
export class ModelRegistry {
  private readonly tasks: ReadonlyMap<ModelTask, MutableTaskStatus>;
  private readonly listeners: RegistryListener[] = [];

  /**
   * `sources` names each task's store URL. A task left out has no model at
   * all (the shadow registry: only the tasks with a shadow source): `acquire`
   * gives undefined for it, and `status` and `ready` leave it out.
   */
  constructor(sources: Readonly<Partial<Record<ModelTask, string>>>) {
    this.tasks = new Map(
      MODEL_TASKS.flatMap((task) => {
        const source = sources[task];
        return source === undefined ? [] : [[task, { task, source, model: undefined, lastCheckedAt: undefined, lastError: undefined }] as const];
      }),
    );
  }

  /** The model of `task`, held for the caller, or undefined when none is loaded (or the task has no source here). */
  acquire(task: ModelTask): ServingModel | undefined {
    const model = this.tasks.get(task)?.model;
    model?.acquire();
    return model;
  }

  /** The tasks this registry has a source for. */
  get taskList(): ModelTask[] {
    return [...this.tasks.keys()];
  }

  /** Puts `model` into service for `task`; returns the retired previous model, if any. */
  swap(task: ModelTask, model: ServingModel): ServingModel | undefined {
    return this.replace(this.state(task), model);
  }

  /**
   * The serving model's bytes were found unchanged at `revision` (a newer lakeFS
   * commit): it keeps serving, with no reload, and reports that revision.
   */
  moveToRevision(task: ModelTask, revision: string): ServingModel | undefined {
    const state = this.state(task);
    const model = state.model;
    if (model === undefined) return undefined;
    model.moveToRevision(revision);
    for (const listener of this.listeners) listener(task, model, model);
    return model;
  }

  /** The serving model of `task` without holding it (for logs and status, never to run it). */
  current(task: ModelTask): ServingModel | undefined {
    return this.tasks.get(task)?.model;
  }

  serves(task: ModelTask): boolean {
    return this.tasks.get(task)?.model !== undefined;
  }

  /** Takes every model out of service (shutdown); sessions go when their calls finish. */
  retireAll(): void {
    for (const state of this.tasks.values()) this.replace(state, undefined);
  }

  recordCheck(task: ModelTask, at: Date = new Date()): void {
    this.state(task).lastCheckedAt = at;
  }

  recordError(task: ModelTask, message: string, at: Date = new Date()): void {
    this.state(task).lastError = { message, at };
  }

  clearError(task: ModelTask): void {
    this.state(task).lastError = undefined;
  }

  /** True when every task has a model. */
  get ready(): boolean {
    return [...this.tasks.values()].every((state) => state.model !== undefined);
  }

  status(): TaskStatus[] {
    return [...this.tasks.values()].map((state) => ({ ...state }));
  }

  onChange(listener: RegistryListener): void {
    this.listeners.push(listener);
  }

  /** The one place a serving model changes: the old one is retired, then listeners hear of it. */
  private replace(state: MutableTaskStatus, model: ServingModel | undefined): ServingModel | undefined {
    const previous = state.model;
    state.model = model;
    previous?.retire();
    for (const listener of this.listeners) listener(state.task, model, previous);
    return previous;
  }

  private state(task: ModelTask): MutableTaskStatus {
    const state = this.tasks.get(task);
    if (state === undefined) throw new Error(`unknown task ${task}`);
    return state;
  }
}
