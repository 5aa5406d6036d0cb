import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

const TYPE_A = 1;
const TYPE_TXT = 16;
const CLASS_IN = 1;

/**
 * A tiny authoritative DNS server on 127.0.0.1 for tests: it answers A
 * queries for the names it is given with their current IPv4 addresses (TTL
 * 0, so nothing is cached), TXT queries with the text set for the name (a
 * service config, say), and any other query with no answer. Addresses can
 * change while it runs, the way a headless Service's do when pods come and go.
 */
export class DnsServer {
  private readonly records = new Map<string, readonly string[]>();
  private readonly texts = new Map<string, string>();
  /**
   * Set, the A answer for a name with a TXT record waits until that record
   * has been answered once: a resolver that asks both at once (grpc-js) then
   * has the service config before its first address.
   */
  addressesAfterText = false;
  private readonly textAnswered = new Set<string>();
  private readonly heldAnswers: { readonly name: string; readonly bytes: Buffer; readonly peer: RemoteInfo }[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('message', (query: Buffer, peer: RemoteInfo) => {
      const answer = this.answer(query);
      if (answer === undefined) return;
      const { bytes, type, name } = answer;
      if (type === TYPE_A && this.addressesAfterText && this.texts.has(name) && !this.textAnswered.has(name)) {
        this.heldAnswers.push({ name, bytes, peer });
        return;
      }
      socket.send(bytes, peer.port, peer.address);
      if (type !== TYPE_TXT) return;
      this.textAnswered.add(name);
      for (const held of this.heldAnswers.filter((candidate) => candidate.name === name)) socket.send(held.bytes, held.peer.port, held.peer.address);
      this.heldAnswers.splice(0, this.heldAnswers.length, ...this.heldAnswers.filter((candidate) => candidate.name !== name));
    });
  }

  static async start(): Promise<DnsServer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolveBind) => socket.bind(0, '127.0.0.1', resolveBind));
    return new DnsServer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Sets the A records of `name` (lower case, no trailing dot). */
  set(name: string, addresses: readonly string[]): void {
    this.records.set(name.toLowerCase(), addresses);
  }

  /** Sets the one TXT record of `name` (sent as strings of at most 255 bytes, which resolvers join). */
  setText(name: string, text: string): void {
    this.texts.set(name.toLowerCase(), text);
  }

  close(): void {
    this.socket.close();
  }

  private answer(query: Buffer): { bytes: Buffer; type: number; name: string } | undefined {
    if (query.length < 12) return undefined;
    // One question: labels, then type and class.
    let offset = 12;
    const labels: string[] = [];
    while (offset < query.length && query[offset] !== 0) {
      const length = query[offset] as number;
      labels.push(query.subarray(offset + 1, offset + 1 + length).toString('ascii'));
      offset += 1 + length;
    }
    const questionEnd = offset + 5;
    if (questionEnd > query.length) return undefined;
    const type = query.readUInt16BE(offset + 1);
    const name = labels.join('.').toLowerCase();
    const addresses = type === TYPE_A ? (this.records.get(name) ?? []) : [];
    const text = type === TYPE_TXT ? this.texts.get(name) : undefined;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8180 | (query.readUInt16BE(2) & 0x0100), 2); // response, recursion available, NOERROR
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(addresses.length + (text === undefined ? 0 : 1), 6);
    const records: Buffer[] = addresses.map((address) => {
      const record = Buffer.alloc(16);
      record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      record.writeUInt16BE(TYPE_A, 2);
      record.writeUInt16BE(CLASS_IN, 4);
      record.writeUInt32BE(0, 6); // TTL
      record.writeUInt16BE(4, 10);
      address.split('.').forEach((part, index) => record.writeUInt8(Number(part), 12 + index));
      return record;
    });
    if (text !== undefined) records.push(textRecord(text));
    return { bytes: Buffer.concat([header, query.subarray(12, questionEnd), ...records]), type, name };
  }
}

/** A TXT answer to the question's name holding `text`, as character strings of at most 255 bytes. */
function textRecord(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const strings: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += 255) {
    const part = bytes.subarray(start, start + 255);
    strings.push(Buffer.from([part.length]), part);
  }
  const data = Buffer.concat(strings);
  const record = Buffer.alloc(12);
  record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  record.writeUInt16BE(TYPE_TXT, 2);
  record.writeUInt16BE(CLASS_IN, 4);
  record.writeUInt32BE(0, 6); // TTL
  record.writeUInt16BE(data.length, 10);
  return Buffer.concat([record, data]);
}
