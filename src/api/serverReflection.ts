import { status, type Server, type ServerDuplexStream } from '@grpc/grpc-js';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FileDescriptorProto,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
} from '../gen/google/protobuf/descriptor.js';
import {
  ServerReflectionService as ReflectionV1,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from '../gen/grpc/reflection/v1/reflection.js';
import { ServerReflectionService as ReflectionV1Alpha } from '../gen/grpc/reflection/v1alpha/reflection.js';
import { packageRoot } from '../packageRoot.js';

/** The descriptor set `buf build` writes from proto/: every file, imports and comments included. */
export const DESCRIPTOR_SET_PATH = join(packageRoot, 'src', 'gen', 'fraud.binpb');

/** FileDescriptorSet.file */
const DESCRIPTOR_SET_FILE = 1;

/**
 * gRPC server reflection (v1, and v1alpha for older tools) over the descriptor
 * set buf builds, the same one Envoy transcodes with. Files are served as buf
 * wrote them, byte for byte: re-encoding them (as @grpc/reflection does) loses
 * the google.api.http options, and going through proto-loader loses the
 * well-known types (grpc-node #2958). So grpcurl lists, describes and calls
 * everything, HTTP annotations and comments included, with no .proto at hand.
 */
export class ServerReflection {
  private readonly files = new Map<string, Buffer>();
  private readonly dependencies = new Map<string, readonly string[]>();
  private readonly symbols = new Map<string, string>();
  private readonly extensions = new Map<string, Map<number, string>>();
  private readonly services: string[] = [];

  /** The descriptor set it describes, which the server also decodes requests with. */
  readonly descriptorSet: Uint8Array;

  constructor(descriptorSet: Uint8Array = readFileSync(DESCRIPTOR_SET_PATH)) {
    this.descriptorSet = descriptorSet;
    for (const bytes of descriptorSetFiles(descriptorSet)) {
      const file = FileDescriptorProto.decode(bytes);
      const fileName = file.name ?? '';
      this.files.set(fileName, bytes);
      this.dependencies.set(fileName, file.dependency);
      const prefix = file.package === undefined || file.package === '' ? '' : `${file.package}.`;
      for (const service of file.service) {
        const serviceName = `${prefix}${service.name ?? ''}`;
        this.symbols.set(serviceName, fileName);
        this.services.push(serviceName);
        for (const method of service.method) this.symbols.set(`${serviceName}.${method.name ?? ''}`, fileName);
      }
      for (const enumType of file.enumType) this.indexEnum(enumType, prefix, fileName);
      this.indexExtensions(file.extension, prefix, fileName);
      for (const message of file.messageType) this.indexMessage(message, prefix, fileName);
    }
  }

  addToServer(server: Pick<Server, 'addService'>): void {
    const serverReflectionInfo = (call: ServerDuplexStream<ServerReflectionRequest, ServerReflectionResponse>): void => {
      call.on('data', (request: ServerReflectionRequest) => {
        call.write(this.answer(request));
      });
      call.on('end', () => {
        call.end();
      });
    };
    const handler = { serverReflectionInfo };
    server.addService(ReflectionV1, handler);
    server.addService(ReflectionV1Alpha, handler);
  }

  /** The answer to one reflection request. */
  answer(request: ServerReflectionRequest): ServerReflectionResponse {
    const base = { validHost: request.host, originalRequest: request };
    const notFound = (what: string): ServerReflectionResponse => ({
      ...base,
      errorResponse: { errorCode: status.NOT_FOUND, errorMessage: `${what} not found` },
    });
    if (request.listServices !== undefined) {
      return { ...base, listServicesResponse: { service: this.services.map((name) => ({ name })) } };
    }
    if (request.fileByFilename !== undefined) {
      return this.files.has(request.fileByFilename) ? this.withDependencies(base, request.fileByFilename) : notFound(`file ${request.fileByFilename}`);
    }
    if (request.fileContainingSymbol !== undefined) {
      const file = this.symbols.get(request.fileContainingSymbol.replace(/^\./, ''));
      return file === undefined ? notFound(`symbol ${request.fileContainingSymbol}`) : this.withDependencies(base, file);
    }
    if (request.fileContainingExtension !== undefined) {
      const { containingType, extensionNumber } = request.fileContainingExtension;
      const file = this.extensions.get(containingType.replace(/^\./, ''))?.get(extensionNumber);
      return file === undefined ? notFound(`extension ${extensionNumber} of ${containingType}`) : this.withDependencies(base, file);
    }
    if (request.allExtensionNumbersOfType !== undefined) {
      const type = request.allExtensionNumbersOfType.replace(/^\./, '');
      const numbers = this.extensions.get(type);
      if (numbers === undefined && !this.symbols.has(type)) return notFound(`type ${request.allExtensionNumbersOfType}`);
      return { ...base, allExtensionNumbersResponse: { baseTypeName: type, extensionNumber: [...(numbers?.keys() ?? [])] } };
    }
    return { ...base, errorResponse: { errorCode: status.INVALID_ARGUMENT, errorMessage: 'empty reflection request' } };
  }

  /** A file and everything it imports, transitively, each once. */
  private withDependencies(base: Pick<ServerReflectionResponse, 'validHost' | 'originalRequest'>, name: string): ServerReflectionResponse {
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file) || !this.files.has(file)) return;
      seen.add(file);
      for (const dependency of this.dependencies.get(file) ?? []) visit(dependency);
    };
    visit(name);
    return { ...base, fileDescriptorResponse: { fileDescriptorProto: [...seen].map((file) => this.files.get(file) as Buffer) } };
  }

  private indexMessage(message: DescriptorProto, prefix: string, file: string): void {
    const name = `${prefix}${message.name ?? ''}`;
    this.symbols.set(name, file);
    for (const field of message.field) this.symbols.set(`${name}.${field.name ?? ''}`, file);
    for (const oneof of message.oneofDecl) this.symbols.set(`${name}.${oneof.name ?? ''}`, file);
    for (const enumType of message.enumType) this.indexEnum(enumType, `${name}.`, file);
    this.indexExtensions(message.extension, `${name}.`, file);
    for (const nested of message.nestedType) this.indexMessage(nested, `${name}.`, file);
  }

  /** Enum values are scoped like siblings of their enum, as in protobuf. */
  private indexEnum(enumType: EnumDescriptorProto, prefix: string, file: string): void {
    this.symbols.set(`${prefix}${enumType.name ?? ''}`, file);
    for (const value of enumType.value) this.symbols.set(`${prefix}${value.name ?? ''}`, file);
  }

  private indexExtensions(extensions: readonly FieldDescriptorProto[], prefix: string, file: string): void {
    for (const extension of extensions) {
      this.symbols.set(`${prefix}${extension.name ?? ''}`, file);
      const extendee = (extension.extendee ?? '').replace(/^\./, '');
      const numbers = this.extensions.get(extendee) ?? new Map<number, string>();
      numbers.set(extension.number ?? 0, file);
      this.extensions.set(extendee, numbers);
    }
  }
}

function descriptorSetFiles(descriptorSet: Uint8Array): Buffer[] {
  const reader = new BinaryReader(descriptorSet);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === DESCRIPTOR_SET_FILE && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType, field);
  }
  return files;
}
