import { classLabelsOf, declaredClassLabels, sameLabels, type DeclaredClassLabels } from './onnxClassLabels.js';
import { ONNX, modelGraph, payload, readFields, readingModel, strings, int64s, type RawField } from './onnxWire.js';

/** ONNX TensorProto.DataType values a class list can have. */
const INT32 = 6;
const INT64 = 7;
const STRING = 8;

/**
 * The class order of a model's probability columns, from everything the model
 * says about it: the declarations on the probability path
 * (declaredClassLabels) and the classes its label output names.
 *
 * An ensemble exported without ZipMap (skl2onnx's VotingClassifier,
 * BaggingClassifier, StackingClassifier, OneVsRestClassifier) encodes its
 * classes inside as indices: its member classifiers name [0, 1] (one-vs-rest:
 * each member is binary), while its label output picks the real class names
 * from a constant by the probabilities' argmax (ArrayFeatureExtractor of a
 * `classes` initializer). The label output is then the truth about the
 * columns, and member lists that are mere indices (0, 1, … in order) say
 * nothing. Trusting the members instead serves a model trained on
 * legit/fraud with its columns swapped.
 *
 * The result reads as declaredClassLabels' does: none, one (the order), or
 * several (contradicting each other; refused). A label-path list equal to one
 * on the probability path is reported as the probability path's.
 * training/src/fraud_training/onnx_model.py (model_class_labels) applies the
 * same rule.
 */
export function modelClassLabels(model: Uint8Array, probabilitiesOutput: string, labelOutput: string | undefined): DeclaredClassLabels[] {
  const onProbabilityPath = declaredClassLabels(model, probabilitiesOutput);
  const label = labelOutput ?? soleOtherOutput(model, probabilitiesOutput);
  const named = label === undefined ? [] : labelOutputClasses(model, label);
  const [fromLabel, another] = named;
  if (fromLabel === undefined) return onProbabilityPath;
  if (another !== undefined) return distinct([...onProbabilityPath, ...named]);
  const agreeing = onProbabilityPath.find((entry) => sameLabels(entry.labels, fromLabel.labels));
  const kept = onProbabilityPath.filter((entry) => entry === agreeing || !isIndexList(entry.labels));
  return agreeing === undefined ? [fromLabel, ...kept] : kept;
}

/**
 * The class lists the label output `outputName` is drawn from: walking back
 * from it, the first node on each path that names classes (an ai.onnx.ml
 * classifier's classlabels_*) or picks them from a constant
 * (ArrayFeatureExtractor whose data is an initializer or a Constant).
 */
export function labelOutputClasses(model: Uint8Array, outputName: string): DeclaredClassLabels[] {
  return readingModel(() => {
    const { graphFields } = modelGraph(model);
    const nodes = graphFields.filter((field) => field.no === ONNX.GRAPH_NODE).map((field) => readFields(payload(field)));
    const producers = new Map<string, readonly RawField[]>();
    for (const node of nodes) for (const output of strings(node, ONNX.NODE_OUTPUT)) producers.set(output, node);
    const constants = constantTensors(graphFields, nodes);

    const found: DeclaredClassLabels[] = [];
    const visited = new Set<readonly RawField[]>();
    const pending = [outputName];
    for (let tensor = pending.pop(); tensor !== undefined; tensor = pending.pop()) {
      const node = producers.get(tensor);
      if (node === undefined || visited.has(node)) continue;
      visited.add(node);
      const declared = [...classLabelsOf(node), ...pickedFromConstant(node, constants)];
      if (declared.length === 0) pending.push(...strings(node, ONNX.NODE_INPUT));
      for (const entry of declared) if (!found.some((known) => sameLabels(known.labels, entry.labels))) found.push(entry);
    }
    return found;
  });
}

/** ArrayFeatureExtractor(classes constant, indices): the constant's values, in index order. */
function pickedFromConstant(node: readonly RawField[], constants: ReadonlyMap<string, readonly (number | string)[]>): DeclaredClassLabels[] {
  if (strings(node, ONNX.NODE_OP_TYPE)[0] !== 'ArrayFeatureExtractor') return [];
  const source = strings(node, ONNX.NODE_INPUT)[0];
  const labels = source === undefined ? undefined : constants.get(source);
  if (labels === undefined || labels.length === 0) return [];
  const nodeName = strings(node, ONNX.NODE_NAME)[0];
  return [{ labels, declaredBy: `constant ${source} of ArrayFeatureExtractor node${nodeName ? ` ${nodeName}` : ''} (the label output's classes)` }];
}

/** Integer and string tensors of the graph's initializers and Constant nodes, by name. */
function constantTensors(graphFields: readonly RawField[], nodes: readonly (readonly RawField[])[]): Map<string, (number | string)[]> {
  const constants = new Map<string, (number | string)[]>();
  for (const field of graphFields) {
    if (field.no !== ONNX.GRAPH_INITIALIZER) continue;
    const tensor = readFields(payload(field));
    const name = strings(tensor, ONNX.TENSOR_PROTO_NAME)[0];
    const values = tensorValues(tensor);
    if (name !== undefined && values !== undefined) constants.set(name, values);
  }
  for (const node of nodes) {
    if (strings(node, ONNX.NODE_OP_TYPE)[0] !== 'Constant') continue;
    const output = strings(node, ONNX.NODE_OUTPUT)[0];
    for (const field of node) {
      if (field.no !== ONNX.NODE_ATTRIBUTE) continue;
      const attribute = readFields(payload(field));
      if (strings(attribute, ONNX.ATTRIBUTE_NAME)[0] !== 'value') continue;
      const tensor = attribute.find((entry) => entry.no === ONNX.ATTRIBUTE_TENSOR);
      const values = tensor === undefined ? undefined : tensorValues(readFields(payload(tensor)));
      if (output !== undefined && values !== undefined) constants.set(output, values);
    }
  }
  return constants;
}

/** The values of an int32, int64 or string TensorProto; undefined for any other type. */
function tensorValues(tensor: readonly RawField[]): (number | string)[] | undefined {
  const dataType = int64s(tensor, ONNX.TENSOR_PROTO_DATA_TYPE)[0];
  if (dataType === STRING) return strings(tensor, ONNX.TENSOR_PROTO_STRING_DATA);
  if (dataType !== INT64 && dataType !== INT32) return undefined;
  const raw = tensor.find((field) => field.no === ONNX.TENSOR_PROTO_RAW_DATA);
  if (raw === undefined) return int64s(tensor, dataType === INT64 ? ONNX.TENSOR_PROTO_INT64_DATA : ONNX.TENSOR_PROTO_INT32_DATA);
  const bytes = payload(raw);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = dataType === INT64 ? 8 : 4;
  const values: number[] = [];
  for (let offset = 0; offset + width <= bytes.byteLength; offset += width) {
    values.push(width === 8 ? Number(view.getBigInt64(offset, true)) : view.getInt32(offset, true));
  }
  return values;
}

/** The model's one graph output besides the probabilities, when it has exactly one (its label output). */
function soleOtherOutput(model: Uint8Array, probabilitiesOutput: string): string | undefined {
  const outputs = readingModel(() =>
    modelGraph(model)
      .graphFields.filter((field) => field.no === ONNX.GRAPH_OUTPUT)
      .map((field) => strings(readFields(payload(field)), ONNX.VALUE_INFO_NAME)[0] ?? ''),
  ).filter((name) => name !== probabilitiesOutput);
  return outputs.length === 1 ? outputs[0] : undefined;
}

/** Integer labels 0, 1, 2, … in order: column indices, as ensemble members name theirs. */
function isIndexList(labels: readonly (number | string)[]): boolean {
  return labels.every((label, index) => label === index);
}

function distinct(declared: readonly DeclaredClassLabels[]): DeclaredClassLabels[] {
  const kept: DeclaredClassLabels[] = [];
  for (const entry of declared) if (!kept.some((known) => sameLabels(known.labels, entry.labels))) kept.push(entry);
  return kept;
}
