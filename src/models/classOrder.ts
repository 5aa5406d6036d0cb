import { legitimateColumn, type ModelManifest } from './manifest.js';

/** One class as the service's callers see it. */
export interface ServiceClass {
  /** The class id callers see: 0 is the legitimate class; for a binary model, 1 is fraud. */
  readonly id: number;
  /** Display label, from the manifest; what `prediction` answers. */
  readonly label: string;
  /** The model's probability column of this class. */
  readonly column: number;
}

/**
 * The class ids of the API, whatever the model's column order: the legitimate
 * class is id 0 and the other classes follow in the model's column order. A
 * model whose legitimate class is column 0 (every schema-version-1 manifest,
 * the bundled models) has ids equal to its columns. One trained on the string
 * labels legit/fraud has columns [fraud, legit], because scikit-learn sorts
 * string labels; its callers still get class_id 1 for fraud and probabilities
 * [P(legit), P(fraud)], so a payment backend never needs to know how a model
 * was trained.
 */
export function serviceClasses(manifest: ModelManifest): ServiceClass[] {
  const legitimate = legitimateColumn(manifest);
  const ordered = [legitimate, ...manifest.classes.map((_, column) => column).filter((column) => column !== legitimate)];
  return ordered.map((column, id) => ({ id, label: manifest.classes[column]?.label ?? '', column }));
}
