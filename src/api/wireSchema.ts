import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as FieldType,
  type DescriptorProto,
  type FileDescriptorProto,
} from '../gen/google/protobuf/descriptor.js';
import { WireType } from './protoWire.js';

/**
 * What the wire walk of requests (requestDecoding.ts) needs to know of each
 * message, read from the descriptor set buf builds from proto/: the wire type
 * of each field, which fields are messages, maps, strings, and which carry
 * rows.
 */

export interface FieldShape {
  readonly name: string;
  readonly number: number;
  readonly wireType: WireType;
  /** Repeated numeric fields may come packed (length-delimited) or not. */
  readonly packable: boolean;
  readonly repeated: boolean;
  readonly isString: boolean;
  /** Set for message fields once every shape exists (messages may refer to each other). */
  message: MessageShape | undefined;
}

export interface MessageShape {
  readonly fullName: string;
  readonly fields: ReadonlyMap<number, FieldShape>;
  /** The same fields by number, for the small numbers (a faster look-up than the map). */
  readonly fieldsByNumber: readonly (FieldShape | undefined)[];
  /** Fields whose messages count as rows (see WireSchema). */
  readonly rowFields: ReadonlyMap<number, FieldShape>;
  readonly isMapEntry: boolean;
  readonly isTimestamp: boolean;
}

const TIMESTAMP = 'google.protobuf.Timestamp';
/** Field numbers below this are looked up in an array. */
const FAST_FIELD_NUMBERS = 32;

/** The expected wire type of each protobuf field type. */
function wireTypeOf(type: FieldType): WireType {
  switch (type) {
    case FieldType.TYPE_DOUBLE:
    case FieldType.TYPE_FIXED64:
    case FieldType.TYPE_SFIXED64:
      return WireType.Bit64;
    case FieldType.TYPE_FLOAT:
    case FieldType.TYPE_FIXED32:
    case FieldType.TYPE_SFIXED32:
      return WireType.Bit32;
    case FieldType.TYPE_STRING:
    case FieldType.TYPE_BYTES:
    case FieldType.TYPE_MESSAGE:
      return WireType.LengthDelimited;
    case FieldType.TYPE_GROUP:
      return WireType.StartGroup;
    default:
      return WireType.Varint;
  }
}

/** Message shapes by full name, from the descriptor set buf builds. */
export class WireSchema {
  private readonly shapes = new Map<string, MessageShape>();

  /** `rowTypes`: the messages that count as one row each (a transaction, an outcome) where a request carries them. */
  constructor(files: readonly FileDescriptorProto[], rowTypes: readonly string[]) {
    const links: [FieldShape, string][] = [];
    const rowFields = new Map<string, Map<number, FieldShape>>();
    const add = (message: DescriptorProto, prefix: string): void => {
      const fullName = `${prefix}${message.name ?? ''}`;
      const fields = new Map<number, FieldShape>();
      for (const field of message.field) {
        const type = field.type ?? FieldType.TYPE_INT64;
        const wireType = wireTypeOf(type);
        const repeated = field.label === Label.LABEL_REPEATED;
        const shape: FieldShape = {
          name: field.name ?? '',
          number: field.number ?? 0,
          wireType,
          packable: repeated && wireType !== WireType.LengthDelimited,
          repeated,
          isString: type === FieldType.TYPE_STRING,
          message: undefined,
        };
        fields.set(shape.number, shape);
        const typeName = (field.typeName ?? '').replace(/^\./, '');
        if (type === FieldType.TYPE_MESSAGE) links.push([shape, typeName]);
        if (rowTypes.includes(typeName)) {
          const ofMessage = rowFields.get(fullName) ?? new Map<number, FieldShape>();
          ofMessage.set(shape.number, shape);
          rowFields.set(fullName, ofMessage);
        }
      }
      const fieldsByNumber = Array.from({ length: FAST_FIELD_NUMBERS }, (_, number) => fields.get(number));
      this.shapes.set(fullName, {
        fullName,
        fields,
        fieldsByNumber,
        rowFields: rowFields.get(fullName) ?? new Map<number, FieldShape>(),
        isMapEntry: message.options?.mapEntry === true,
        isTimestamp: fullName === TIMESTAMP,
      });
      for (const nested of message.nestedType) add(nested, `${fullName}.`);
    };
    for (const file of files) {
      const prefix = file.package === undefined || file.package === '' ? '' : `${file.package}.`;
      for (const message of file.messageType) add(message, prefix);
    }
    for (const [field, typeName] of links) field.message = this.shapes.get(typeName);
  }

  message(fullName: string): MessageShape {
    const shape = this.shapes.get(fullName);
    if (shape === undefined) throw new Error(`message ${fullName} is not in the descriptor set`);
    return shape;
  }
}

/** The input message of every method, by method path (`/fraud.v1.FraudService/Predict`). */
export function methodInputTypes(files: readonly FileDescriptorProto[]): Map<string, string> {
  const types = new Map<string, string>();
  for (const file of files) {
    const prefix = file.package === undefined || file.package === '' ? '' : `${file.package}.`;
    for (const service of file.service) {
      for (const method of service.method) {
        types.set(`/${prefix}${service.name ?? ''}/${method.name ?? ''}`, (method.inputType ?? '').replace(/^\./, ''));
      }
    }
  }
  return types;
}
