/** What a model answers: fraud or not (binary), or which fraud scenario (multiclass). */
export type ModelTask = 'binary' | 'multiclass';

export const MODEL_TASKS: readonly ModelTask[] = ['binary', 'multiclass'];
