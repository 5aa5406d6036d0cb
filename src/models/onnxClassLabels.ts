import { ONNX, modelGraph, payload, readFields, readingModel, strings, int64s, type RawField } from './onnxWire.js';

/** The class labels one node of a model declares for the columns of its probabilities. */
export interface DeclaredClassLabels {
  /** classlabels_int64s (numbers) or classlabels_strings, in column order. */
  readonly labels: readonly (number | string)[];
  /** Where they come from, for messages: `classlabels_strings of ZipMap node ZipMap`. */
  readonly declaredBy: string;
}

/**
 * The class labels the model itself gives the columns of graph output
 * `outputName`: walking back from the output through the nodes that produce
 * it, the first node on each path with a classlabels_int64s or
 * classlabels_strings attribute (a ZipMap, or an ai.onnx.ml classifier such as
 * TreeEnsembleClassifier, LinearClassifier or SVMClassifier) names them; nodes
 * in between (Identity, Cast, Normalizer, …) keep the column order. One entry
 * per distinct list (an ensemble's members agree); none when no such node
 * feeds the output, as in a graph that ends in a plain Softmax.
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
      if (declared === undefined) {
        pending.push(...strings(node, ONNX.NODE_INPUT));
      } else if (!found.some((entry) => sameLabels(entry.labels, declared.labels))) {
        found.push(declared);
      }
    }
    return found;
  });
}

function classLabelsOf(node: readonly RawField[]): DeclaredClassLabels | undefined {
  for (const field of node) {
    if (field.no !== ONNX.NODE_ATTRIBUTE) continue;
    const attribute = readFields(payload(field));
    const name = strings(attribute, ONNX.ATTRIBUTE_NAME)[0];
    if (name !== 'classlabels_int64s' && name !== 'classlabels_strings') continue;
    const labels = name === 'classlabels_int64s' ? int64s(attribute, ONNX.ATTRIBUTE_INTS) : strings(attribute, ONNX.ATTRIBUTE_STRINGS);
    const opType = strings(node, ONNX.NODE_OP_TYPE)[0] ?? 'unknown';
    const nodeName = strings(node, ONNX.NODE_NAME)[0];
    return { labels, declaredBy: `${name} of ${opType} node${nodeName ? ` ${nodeName}` : ''}` };
  }
  return undefined;
}

function sameLabels(a: readonly (number | string)[], b: readonly (number | string)[]): boolean {
  return a.length === b.length && a.every((label, index) => label === b[index]);
}
