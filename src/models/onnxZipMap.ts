import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

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

/** ONNX field numbers used here (onnx/onnx.proto). */
const MODEL_OPSET_IMPORT = 8;
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_OUTPUT = 12;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const ATTRIBUTE_NAME = 1;
const ATTRIBUTE_INTS = 8;
const ATTRIBUTE_STRINGS = 9;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TYPE_SEQUENCE = 4;
const TYPE_MAP = 5;
const TENSOR_ELEM_TYPE = 1;
const TENSOR_SHAPE = 2;
const SEQUENCE_ELEM_TYPE = 1;
const MAP_VALUE_TYPE = 2;
const SHAPE_DIM = 1;
const DIM_VALUE = 1;
const DIM_PARAM = 2;
const OPSET_DOMAIN = 1;
const OPSET_VERSION = 2;

/** ONNX TensorProto.DataType of a float32 tensor, used when ZipMap's value type is not declared. */
const ONNX_FLOAT = 1;

/** Identity exists since opset 1; 7 is the oldest default-domain opset onnxruntime runs. */
const FALLBACK_DEFAULT_OPSET = 7n;

export class OnnxFormatError extends Error {
  override readonly name = 'OnnxFormatError';
}

export interface ZipMapRemoval {
  /** The model to build a session from (the input itself when there was no ZipMap). */
  readonly bytes: Uint8Array;
  /** True when a ZipMap fed `outputName` and was replaced. */
  readonly replaced: boolean;
  /** Class labels ZipMap declared (its classlabels_int64s or classlabels_strings), in column order. */
  readonly classLabels: readonly (string | number)[] | undefined;
}

interface RawField {
  readonly no: number;
  readonly wireType: WireType;
  /** The field's encoded value as it appeared (for length-delimited fields: length prefix + payload). */
  readonly data: Uint8Array;
}

/** Replaces the ZipMap node producing graph output `outputName`, if there is one. */
export function removeZipMap(model: Uint8Array, outputName: string): ZipMapRemoval {
  try {
    return rewrite(model, outputName);
  } catch (error) {
    if (error instanceof OnnxFormatError) throw error;
    throw new OnnxFormatError(`not a readable ONNX model: ${(error as Error).message}`);
  }
}

function rewrite(model: Uint8Array, outputName: string): ZipMapRemoval {
  const modelFields = readFields(model);
  const graphIndex = modelFields.findIndex((field) => field.no === MODEL_GRAPH && field.wireType === WireType.LengthDelimited);
  if (graphIndex < 0) throw new OnnxFormatError('the ONNX model has no graph');
  const graphFields = readFields(payload(modelFields[graphIndex] as RawField));

  const nodeIndex = graphFields.findIndex((field) => {
    if (field.no !== GRAPH_NODE) return false;
    const node = readFields(payload(field));
    return strings(node, NODE_OP_TYPE)[0] === 'ZipMap' && strings(node, NODE_OUTPUT).includes(outputName);
  });
  if (nodeIndex < 0) return { bytes: model, replaced: false, classLabels: undefined };

  const zipMap = readFields(payload(graphFields[nodeIndex] as RawField));
  const classLabels = zipMapClassLabels(zipMap);
  const outputIndex = graphFields.findIndex(
    (field) => field.no === GRAPH_OUTPUT && strings(readFields(payload(field)), VALUE_INFO_NAME)[0] === outputName,
  );
  if (outputIndex < 0) throw new OnnxFormatError(`ZipMap output ${outputName} is not a graph output`);
  const elemType = zipMapValueType(readFields(payload(graphFields[outputIndex] as RawField)));

  const newGraph = graphFields.map((field, index) => {
    if (index === nodeIndex) return lengthDelimited(GRAPH_NODE, identityNode(zipMap));
    if (index === outputIndex) return lengthDelimited(GRAPH_OUTPUT, tensorValueInfo(outputName, elemType, classLabels?.length));
    return field;
  });
  const newModel = modelFields.map((field, index) =>
    index === graphIndex ? lengthDelimited(MODEL_GRAPH, writeFields(newGraph)) : field,
  );
  if (!importsDefaultDomain(modelFields)) {
    newModel.push(lengthDelimited(MODEL_OPSET_IMPORT, new BinaryWriter().tag(OPSET_VERSION, WireType.Varint).int64(FALLBACK_DEFAULT_OPSET).finish()));
  }
  return { bytes: writeFields(newModel), replaced: true, classLabels };
}

function identityNode(zipMap: readonly RawField[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const input of strings(zipMap, NODE_INPUT)) writer.tag(NODE_INPUT, WireType.LengthDelimited).string(input);
  for (const output of strings(zipMap, NODE_OUTPUT)) writer.tag(NODE_OUTPUT, WireType.LengthDelimited).string(output);
  for (const name of strings(zipMap, NODE_NAME)) writer.tag(NODE_NAME, WireType.LengthDelimited).string(name);
  writer.tag(NODE_OP_TYPE, WireType.LengthDelimited).string('Identity');
  return writer.finish();
}

function tensorValueInfo(name: string, elemType: number, classes: number | undefined): Uint8Array {
  const shape = new BinaryWriter();
  shape.tag(SHAPE_DIM, WireType.LengthDelimited).bytes(new BinaryWriter().tag(DIM_PARAM, WireType.LengthDelimited).string('N').finish());
  if (classes !== undefined) {
    shape.tag(SHAPE_DIM, WireType.LengthDelimited).bytes(new BinaryWriter().tag(DIM_VALUE, WireType.Varint).int64(classes).finish());
  }
  const tensor = new BinaryWriter()
    .tag(TENSOR_ELEM_TYPE, WireType.Varint)
    .int32(elemType)
    .tag(TENSOR_SHAPE, WireType.LengthDelimited)
    .bytes(shape.finish())
    .finish();
  const type = new BinaryWriter().tag(TYPE_TENSOR, WireType.LengthDelimited).bytes(tensor).finish();
  return new BinaryWriter()
    .tag(VALUE_INFO_NAME, WireType.LengthDelimited)
    .string(name)
    .tag(VALUE_INFO_TYPE, WireType.LengthDelimited)
    .bytes(type)
    .finish();
}

/** The element type of the map values in seq(map(k, tensor(v))), the type ZipMap declares. */
function zipMapValueType(valueInfo: readonly RawField[]): number {
  const type = message(valueInfo, VALUE_INFO_TYPE);
  const sequence = type && message(type, TYPE_SEQUENCE);
  const element = sequence && message(sequence, SEQUENCE_ELEM_TYPE);
  const map = element && message(element, TYPE_MAP);
  const value = map && message(map, MAP_VALUE_TYPE);
  const tensor = value && message(value, TYPE_TENSOR);
  const elemType = tensor?.find((field) => field.no === TENSOR_ELEM_TYPE && field.wireType === WireType.Varint);
  return elemType ? new BinaryReader(elemType.data).int32() : ONNX_FLOAT;
}

function zipMapClassLabels(node: readonly RawField[]): (string | number)[] | undefined {
  for (const field of node) {
    if (field.no !== NODE_ATTRIBUTE) continue;
    const attribute = readFields(payload(field));
    const name = strings(attribute, ATTRIBUTE_NAME)[0];
    if (name === 'classlabels_int64s') return int64s(attribute, ATTRIBUTE_INTS);
    if (name === 'classlabels_strings') return strings(attribute, ATTRIBUTE_STRINGS);
  }
  return undefined;
}

function importsDefaultDomain(model: readonly RawField[]): boolean {
  return model
    .filter((field) => field.no === MODEL_OPSET_IMPORT)
    .some((field) => {
      const domain = strings(readFields(payload(field)), OPSET_DOMAIN)[0] ?? '';
      return domain === '' || domain === 'ai.onnx';
    });
}

function readFields(bytes: Uint8Array): RawField[] {
  const reader = new BinaryReader(bytes);
  const fields: RawField[] = [];
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    fields.push({ no, wireType, data: reader.skip(wireType, no) });
  }
  return fields;
}

function writeFields(fields: readonly RawField[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const field of fields) writer.tag(field.no, field.wireType).raw(field.data);
  return writer.finish();
}

function lengthDelimited(no: number, value: Uint8Array): RawField {
  return { no, wireType: WireType.LengthDelimited, data: new BinaryWriter().bytes(value).finish() };
}

function payload(field: RawField): Uint8Array {
  if (field.wireType !== WireType.LengthDelimited) throw new OnnxFormatError(`field ${field.no} is not length-delimited`);
  return new BinaryReader(field.data).bytes();
}

function message(fields: readonly RawField[], no: number): RawField[] | undefined {
  const field = fields.find((candidate) => candidate.no === no && candidate.wireType === WireType.LengthDelimited);
  return field ? readFields(payload(field)) : undefined;
}

function strings(fields: readonly RawField[], no: number): string[] {
  return fields.filter((field) => field.no === no && field.wireType === WireType.LengthDelimited).map((field) => new BinaryReader(field.data).string());
}

/** Repeated int64 in proto2 (ONNX's syntax): unpacked varints, or one packed run. */
function int64s(fields: readonly RawField[], no: number): number[] {
  const values: number[] = [];
  for (const field of fields) {
    if (field.no !== no) continue;
    if (field.wireType === WireType.Varint) {
      values.push(Number(new BinaryReader(field.data).int64()));
    } else if (field.wireType === WireType.LengthDelimited) {
      const packed = new BinaryReader(payload(field));
      while (packed.pos < packed.len) values.push(Number(packed.int64()));
    }
  }
  return values;
}
