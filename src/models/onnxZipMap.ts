import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import {
  ONNX,
  OnnxFormatError,
  int64s,
  lengthDelimited,
  message,
  modelGraph,
  payload,
  readFields,
  readingModel,
  strings,
  writeFields,
  type RawField,
} from './onnxWire.js';

export { OnnxFormatError } from './onnxWire.js';

/**
 * skl2onnx ends its classifiers in a ZipMap node that turns the probability
 * tensor into a sequence of {class: probability} maps, and onnxruntime-node
 * cannot return non-tensor values ("Non tensor type is temporarily not
 * supported"). Before building a session we turn that ZipMap into an Identity
 * node, so the same output name yields the [N, classes] tensor ZipMap was fed.
 *
 * The edit works on the protobuf wire format and copies every other byte of
 * the model as it is: no ONNX schema is needed, and nothing else changes.
 */

/** ONNX TensorProto.DataType of a float32 tensor, used when ZipMap's value type is not declared. */
const ONNX_FLOAT = 1;

/** Identity exists since opset 1; 7 is the oldest default-domain opset onnxruntime runs. */
const FALLBACK_DEFAULT_OPSET = 7n;

export interface ZipMapRemoval {
  /** The model to build a session from (the input itself when there was no ZipMap). */
  readonly bytes: Uint8Array;
  /** True when a ZipMap fed `outputName` and was replaced. */
  readonly replaced: boolean;
}

/** Replaces the ZipMap node producing graph output `outputName`, if there is one. */
export function removeZipMap(model: Uint8Array, outputName: string): ZipMapRemoval {
  return readingModel(() => rewrite(model, outputName));
}

function rewrite(model: Uint8Array, outputName: string): ZipMapRemoval {
  const { modelFields, graphIndex, graphFields } = modelGraph(model);
  const nodeIndex = graphFields.findIndex((field) => {
    if (field.no !== ONNX.GRAPH_NODE) return false;
    const node = readFields(payload(field));
    return strings(node, ONNX.NODE_OP_TYPE)[0] === 'ZipMap' && strings(node, ONNX.NODE_OUTPUT).includes(outputName);
  });
  if (nodeIndex < 0) return { bytes: model, replaced: false };

  const zipMap = readFields(payload(graphFields[nodeIndex] as RawField));
  const classes = zipMapClassCount(zipMap);
  const outputIndex = graphFields.findIndex(
    (field) => field.no === ONNX.GRAPH_OUTPUT && strings(readFields(payload(field)), ONNX.VALUE_INFO_NAME)[0] === outputName,
  );
  if (outputIndex < 0) throw new OnnxFormatError(`ZipMap output ${outputName} is not a graph output`);
  const elemType = zipMapValueType(readFields(payload(graphFields[outputIndex] as RawField)));

  const newGraph = graphFields.map((field, index) => {
    if (index === nodeIndex) return lengthDelimited(ONNX.GRAPH_NODE, identityNode(zipMap));
    if (index === outputIndex) return lengthDelimited(ONNX.GRAPH_OUTPUT, tensorValueInfo(outputName, elemType, classes));
    return field;
  });
  const newModel = modelFields.map((field, index) =>
    index === graphIndex ? lengthDelimited(ONNX.MODEL_GRAPH, writeFields(newGraph)) : field,
  );
  if (!importsDefaultDomain(modelFields)) {
    newModel.push(
      lengthDelimited(ONNX.MODEL_OPSET_IMPORT, new BinaryWriter().tag(ONNX.OPSET_VERSION, WireType.Varint).int64(FALLBACK_DEFAULT_OPSET).finish()),
    );
  }
  return { bytes: writeFields(newModel), replaced: true };
}

function identityNode(zipMap: readonly RawField[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const input of strings(zipMap, ONNX.NODE_INPUT)) writer.tag(ONNX.NODE_INPUT, WireType.LengthDelimited).string(input);
  for (const output of strings(zipMap, ONNX.NODE_OUTPUT)) writer.tag(ONNX.NODE_OUTPUT, WireType.LengthDelimited).string(output);
  for (const name of strings(zipMap, ONNX.NODE_NAME)) writer.tag(ONNX.NODE_NAME, WireType.LengthDelimited).string(name);
  writer.tag(ONNX.NODE_OP_TYPE, WireType.LengthDelimited).string('Identity');
  return writer.finish();
}

function tensorValueInfo(name: string, elemType: number, classes: number | undefined): Uint8Array {
  const shape = new BinaryWriter();
  shape
    .tag(ONNX.SHAPE_DIM, WireType.LengthDelimited)
    .bytes(new BinaryWriter().tag(ONNX.DIM_PARAM, WireType.LengthDelimited).string('N').finish());
  if (classes !== undefined) {
    shape.tag(ONNX.SHAPE_DIM, WireType.LengthDelimited).bytes(new BinaryWriter().tag(ONNX.DIM_VALUE, WireType.Varint).int64(classes).finish());
  }
  const tensor = new BinaryWriter()
    .tag(ONNX.TENSOR_ELEM_TYPE, WireType.Varint)
    .int32(elemType)
    .tag(ONNX.TENSOR_SHAPE, WireType.LengthDelimited)
    .bytes(shape.finish())
    .finish();
  const type = new BinaryWriter().tag(ONNX.TYPE_TENSOR, WireType.LengthDelimited).bytes(tensor).finish();
  return new BinaryWriter()
    .tag(ONNX.VALUE_INFO_NAME, WireType.LengthDelimited)
    .string(name)
    .tag(ONNX.VALUE_INFO_TYPE, WireType.LengthDelimited)
    .bytes(type)
    .finish();
}

/** The element type of the map values in seq(map(k, tensor(v))), the type ZipMap declares. */
function zipMapValueType(valueInfo: readonly RawField[]): number {
  const type = message(valueInfo, ONNX.VALUE_INFO_TYPE);
  const sequence = type && message(type, ONNX.TYPE_SEQUENCE);
  const element = sequence && message(sequence, ONNX.SEQUENCE_ELEM_TYPE);
  const map = element && message(element, ONNX.TYPE_MAP);
  const value = map && message(map, ONNX.MAP_VALUE_TYPE);
  const tensor = value && message(value, ONNX.TYPE_TENSOR);
  const elemType = tensor?.find((field) => field.no === ONNX.TENSOR_ELEM_TYPE && field.wireType === WireType.Varint);
  return elemType ? new BinaryReader(elemType.data).int32() : ONNX_FLOAT;
}

/** How many classes ZipMap declares (its labels themselves are checked by onnxClassLabels). */
function zipMapClassCount(node: readonly RawField[]): number | undefined {
  for (const field of node) {
    if (field.no !== ONNX.NODE_ATTRIBUTE) continue;
    const attribute = readFields(payload(field));
    const name = strings(attribute, ONNX.ATTRIBUTE_NAME)[0];
    if (name === 'classlabels_int64s') return int64s(attribute, ONNX.ATTRIBUTE_INTS).length;
    if (name === 'classlabels_strings') return strings(attribute, ONNX.ATTRIBUTE_STRINGS).length;
  }
  return undefined;
}

function importsDefaultDomain(model: readonly RawField[]): boolean {
  return model
    .filter((field) => field.no === ONNX.MODEL_OPSET_IMPORT)
    .some((field) => {
      const domain = strings(readFields(payload(field)), ONNX.OPSET_DOMAIN)[0] ?? '';
      return domain === '' || domain === 'ai.onnx';
    });
}
