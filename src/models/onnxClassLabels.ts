import { ONNX, modelGraph, payload, readFields, readingModel, strings, int64s, type RawField } from './onnxWire.js';

/** The class labels one node of a model declares for the columns of its probabilities. */
export interface DeclaredClassLabels {
  /** classlabels_int64s or classlabels_ints (numbers), or classlabels_strings, in column order. */
  readonly labels: readonly (number | string)[];
  /** Where they come from, for messages: `classlabels_strings of ZipMap node ZipMap`. */
  readonly declaredBy: string;
}

/**
 * The attributes in which ai.onnx.ml nodes name their classes: ZipMap and
 * TreeEnsembleClassifier use classlabels_int64s, LinearClassifier and
 * SVMClassifier classlabels_ints, all of them classlabels_strings for string
 * classes. training/src/fraud_training/onnx_model.py reads the same ones the
 * same way (the shared vectors in test/fixtures/acceptance hold both to it).
 */
const LABEL_ATTRIBUTES: ReadonlySet<string> = new Set(['classlabels_int64s', 'classlabels_ints', 'classlabels_strings']);

/**
 * The class labels the model itself gives the columns of graph output
 * `outputName`: walking back from the output through the nodes that produce
 * it, the first node on each path that names its classes (a non-empty
 * classlabels_int64s, classlabels_ints or classlabels_strings attribute: a
 * ZipMap, or an ai.onnx.ml classifier such as TreeEnsembleClassifier,
 * LinearClassifier or SVMClassifier) declares them; nodes in between
 * (Identity, Cast, Normalizer, …) keep the column order. One entry per
 * distinct list (an ensemble's members agree; a node naming its classes in
 * two ways gives two); none when no such node feeds the output, as in a graph
 * of plain operators ending in Softmax or Div.
 */
export function declaredClassLabels(model: Uint8Array, outputName: string): DeclaredClassLabels[] {
  return readingModel(() => {
    const nodes = modelGraph(model)
      .graphFields.filter((field) => field.no === ONNX.GRAPH_NODE)
      .map((field) => readFields(payload(field)));
    const producers = new Map<string, readonly RawField[]>();
    for (const node of nodes) for (const output of strings(node, ONNX.NODE_OUTPUT)) producers.set(output, node);

    const found: DeclaredClassLabels[] = [];
    const visited = new Set<readonly RawField[]>();
    const pending = [outputName];
    for (let tensor = pending.pop(); tensor !== undefined; tensor = pending.pop()) {
      const node = producers.get(tensor);
      if (node === undefined || visited.has(node)) continue;
      visited.add(node);
      const declared = classLabelsOf(node);
      if (declared.length === 0) pending.push(...strings(node, ONNX.NODE_INPUT));
      for (const entry of declared) if (!found.some((known) => sameLabels(known.labels, entry.labels))) found.push(entry);
    }
    return found;
  });
}

/** Every non-empty class-label attribute of a node, in attribute order (an empty one names nothing). */
export function classLabelsOf(node: readonly RawField[]): DeclaredClassLabels[] {
  const declared: DeclaredClassLabels[] = [];
  for (const field of node) {
    if (field.no !== ONNX.NODE_ATTRIBUTE) continue;
    const attribute = readFields(payload(field));
    const name = strings(attribute, ONNX.ATTRIBUTE_NAME)[0];
    if (name === undefined || !LABEL_ATTRIBUTES.has(name)) continue;
    const labels = name === 'classlabels_strings' ? strings(attribute, ONNX.ATTRIBUTE_STRINGS) : int64s(attribute, ONNX.ATTRIBUTE_INTS);
    if (labels.length === 0) continue;
    const opType = strings(node, ONNX.NODE_OP_TYPE)[0] ?? 'unknown';
    const nodeName = strings(node, ONNX.NODE_NAME)[0];
    declared.push({ labels, declaredBy: `${name} of ${opType} node${nodeName ? ` ${nodeName}` : ''}` });
  }
  return declared;
}

export function sameLabels(a: readonly (number | string)[], b: readonly (number | string)[]): boolean {
  return a.length === b.length && a.every((label, index) => label === b[index]);
}
