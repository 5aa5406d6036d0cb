import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { HttpRule } from '../../src/gen/google/api/http.js';
import { FileDescriptorSet, type DescriptorProto } from '../../src/gen/google/protobuf/descriptor.js';

/** `(google.api.http)`: the MethodOptions extension holding a method's HttpRule. */
const HTTP_RULE_FIELD = 72295728;

export interface MethodHttpRule {
  /** e.g. "fraud.v1.FraudService" */
  readonly service: string;
  readonly method: string;
  readonly rule: HttpRule | undefined;
}

/**
 * Every method of every service with its HttpRule. ts-proto's decoders drop
 * extensions, so the option is read from the raw bytes: FileDescriptorSet.file
 * (1) > FileDescriptorProto.service (6) > ServiceDescriptorProto.method (2) >
 * MethodDescriptorProto.options (4) > field 72295728.
 */
export function httpRules(set: Uint8Array): MethodHttpRule[] {
  const rules: MethodHttpRule[] = [];
  for (const file of lengthDelimited(set, 1)) {
    const packageName = text(lengthDelimited(file, 2)[0]);
    for (const service of lengthDelimited(file, 6)) {
      const serviceName = `${packageName}.${text(lengthDelimited(service, 1)[0])}`;
      for (const method of lengthDelimited(service, 2)) {
        const options = lengthDelimited(method, 4)[0];
        const ruleBytes = options === undefined ? undefined : lengthDelimited(options, HTTP_RULE_FIELD)[0];
        rules.push({ service: serviceName, method: text(lengthDelimited(method, 1)[0]), rule: ruleBytes === undefined ? undefined : HttpRule.decode(ruleBytes) });
      }
    }
  }
  return rules;
}

/** Fully qualified names of the services declared in files under a proto folder, e.g. "fraud/". */
export function servicesDeclaredUnder(set: Uint8Array, folder: string): string[] {
  return FileDescriptorSet.decode(set)
    .file.filter((file) => file.name?.startsWith(folder) === true)
    .flatMap((file) => file.service.map((service) => `${file.package ?? ''}.${service.name ?? ''}`));
}

/** Fully qualified names of every message type in the set, nested ones included. */
export function messageTypes(set: Uint8Array): Set<string> {
  const names = new Set<string>();
  const add = (prefix: string, messages: readonly DescriptorProto[]): void => {
    for (const message of messages) {
      const name = `${prefix}.${message.name ?? ''}`;
      names.add(name);
      add(name, message.nestedType);
    }
  };
  for (const file of FileDescriptorSet.decode(set).file) add(file.package ?? '', file.messageType);
  return names;
}

/** The values of one length-delimited field of an encoded message, in order. */
function lengthDelimited(message: Uint8Array, field: number): Uint8Array[] {
  const reader = new BinaryReader(message);
  const values: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [number, type] = reader.tag();
    if (number === field && type === WireType.LengthDelimited) values.push(reader.bytes());
    else reader.skip(type, number);
  }
  return values;
}

function text(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? '' : new TextDecoder().decode(bytes);
}
