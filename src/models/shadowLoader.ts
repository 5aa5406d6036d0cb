import { ModelRejectedError, type ModelLoader } from './modelLoader.js';
import type { ModelRegistry } from './modelRegistry.js';
import type { FetchedModel } from './modelSource.js';
import type { ModelTask } from './modelTask.js';
import type { ServingModel } from './servingModel.js';

/** True when `shadow` answers in `serving`'s class ids: the same number of classes, the same label for each id. */
export function sameClasses(serving: ServingModel, shadow: ServingModel): boolean {
  if (serving.labels === shadow.labels) return true;
  if (serving.labels.length !== shadow.labels.length) return false;
  return serving.labels.every((label, id) => shadow.labels[id] === label);
}

/**
 * Loads a shadow (challenger) model with every check of the serving models,
 * and one more: its classes by id must be those of the task's serving model,
 * or its scores could not be compared with the serving model's (live
 * quality joins them by class id). A shadow loaded before the serving model
 * is checked again on each call (ShadowScoring sheds it as `classes`).
 */
export class ShadowLoader {
  constructor(
    private readonly loader: Pick<ModelLoader, 'load'>,
    private readonly serving: ModelRegistry,
  ) {}

  async load(task: ModelTask, fetched: FetchedModel): Promise<ServingModel> {
    const model = await this.loader.load(task, fetched);
    const serving = this.serving.current(task);
    if (serving !== undefined && !sameClasses(serving, model)) {
      // Never served: its session goes at once.
      model.retire();
      throw new ModelRejectedError(
        'classes',
        `${model.manifest.name} ${model.manifest.version}: its classes by id [${model.labels.join(', ')}] are not the serving ${task} model's [${serving.labels.join(', ')}]; a shadow must answer in the serving model's classes`,
      );
    }
    return model;
  }
}
