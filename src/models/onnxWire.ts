import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/**
 * Just enough of the protobuf wire format to read and edit an ONNX model
 * without its schema: a message is a list of raw fields, each kept as it was
 * encoded, so whatever is not touched is copied byte for byte.
 */

/** ONNX field numbers used here (onnx/onnx.proto). */
export const ONNX = {
  MODEL_OPSET_IMPORT: 8,
  MODEL_GRAPH: 7,
  GRAPH_NODE: 1,
  GRAPH_INITIALIZER: 5,
  GRAPH_OUTPUT: 12,
  NODE_INPUT: 1,
  NODE_OUTPUT: 2,
  NODE_NAME: 3,
  NODE_OP_TYPE: 4,
  NODE_ATTRIBUTE: 5,
  ATTRIBUTE_NAME: 1,
  ATTRIBUTE_TENSOR: 5,
  ATTRIBUTE_INTS: 8,
  ATTRIBUTE_STRINGS: 9,
  VALUE_INFO_NAME: 1,
  VALUE_INFO_TYPE: 2,
  TYPE_TENSOR: 1,
  TYPE_SEQUENCE: 4,
  TYPE_MAP: 5,
  TENSOR_ELEM_TYPE: 1,
  TENSOR_SHAPE: 2,
  SEQUENCE_ELEM_TYPE: 1,
  MAP_VALUE_TYPE: 2,
  SHAPE_DIM: 1,
  DIM_VALUE: 1,
  DIM_PARAM: 2,
  TENSOR_PROTO_DATA_TYPE: 2,
  TENSOR_PROTO_INT32_DATA: 5,
  TENSOR_PROTO_STRING_DATA: 6,
  TENSOR_PROTO_INT64_DATA: 7,
  TENSOR_PROTO_NAME: 8,
  TENSOR_PROTO_RAW_DATA: 9,
  OPSET_DOMAIN: 1,
  OPSET_VERSION: 2,
} as const;

/** Bytes that are not a readable ONNX model. */
export class OnnxFormatError extends Error {
  override readonly name = 'OnnxFormatError';
}

export interface RawField {
  readonly no: number;
  readonly wireType: WireType;
  /** The field's encoded value as it appeared (for length-delimited fields: length prefix + payload). */
  readonly data: Uint8Array;
}

export function readFields(bytes: Uint8Array): RawField[] {
  const reader = new BinaryReader(bytes);
  const fields: RawField[] = [];
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    fields.push({ no, wireType, data: reader.skip(wireType, no) });
  }
  return fields;
}

export function writeFields(fields: readonly RawField[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const field of fields) writer.tag(field.no, field.wireType).raw(field.data);
  return writer.finish();
}

export function lengthDelimited(no: number, value: Uint8Array): RawField {
  return { no, wireType: WireType.LengthDelimited, data: new BinaryWriter().bytes(value).finish() };
}

export function payload(field: RawField): Uint8Array {
  if (field.wireType !== WireType.LengthDelimited) throw new OnnxFormatError(`field ${field.no} is not length-delimited`);
  return new BinaryReader(field.data).bytes();
}

/** The first length-delimited field `no`, read as a message. */
export function message(fields: readonly RawField[], no: number): RawField[] | undefined {
  const field = fields.find((candidate) => candidate.no === no && candidate.wireType === WireType.LengthDelimited);
  return field ? readFields(payload(field)) : undefined;
}

export function strings(fields: readonly RawField[], no: number): string[] {
  return fields.filter((field) => field.no === no && field.wireType === WireType.LengthDelimited).map((field) => new BinaryReader(field.data).string());
}

/** Repeated int64 in proto2 (ONNX's syntax): unpacked varints, or one packed run. */
export function int64s(fields: readonly RawField[], no: number): number[] {
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

/** The model's top-level fields and the index of its graph among them. */
export function modelGraph(model: Uint8Array): { readonly modelFields: RawField[]; readonly graphIndex: number; readonly graphFields: RawField[] } {
  const modelFields = readFields(model);
  const graphIndex = modelFields.findIndex((field) => field.no === ONNX.MODEL_GRAPH && field.wireType === WireType.LengthDelimited);
  if (graphIndex < 0) throw new OnnxFormatError('the ONNX model has no graph');
  return { modelFields, graphIndex, graphFields: readFields(payload(modelFields[graphIndex] as RawField)) };
}

/** Runs `read` on a model's bytes; anything that goes wrong is an OnnxFormatError. */
export function readingModel<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof OnnxFormatError) throw error;
    throw new OnnxFormatError(`not a readable ONNX model: ${(error as Error).message}`);
  }
}
