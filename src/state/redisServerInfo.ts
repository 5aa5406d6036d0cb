import type { Redis } from 'ioredis';

/**
 * What one Redis server says about how it keeps data: its eviction policy,
 * memory and persistence. A field is undefined when the server would not say
 * (managed services forbid or rename CONFIG; some restrict INFO sections).
 */
export interface RedisServerInfo {
  /** host:port, for logs and metric labels. */
  readonly node: string;
  /** maxmemory-policy, from CONFIG GET or else from INFO memory. */
  readonly policy: string | undefined;
  /** Bytes; 0 means no limit. */
  readonly maxMemory: number | undefined;
  readonly usedMemory: number | undefined;
  /** Append-only file on (INFO persistence aof_enabled, else CONFIG GET appendonly). */
  readonly aof: boolean | undefined;
  /** RDB snapshots configured (CONFIG GET save not empty); INFO does not say. */
  readonly rdb: boolean | undefined;
  /** Keys Redis evicted since it started (INFO stats). */
  readonly evictedKeys: number | undefined;
  /** What could not be read, e.g. "CONFIG GET (ERR unknown command 'CONFIG')": said once in the log. */
  readonly unreadable: readonly string[];
}

/** The policies under which Redis never drops a key to make room; every other one does (volatile-* drop keys with a TTL, which every history key has). */
export const KEEPING_POLICY = 'noeviction';

/** Reads one server's settings in a few commands; never throws for a refused command, only for a lost connection. */
export async function readServerInfo(client: Redis, node: string, timeoutMs: number): Promise<RedisServerInfo> {
  const unreadable: string[] = [];
  // One parameter and one section per command: Redis before 7 takes no more.
  const settings = new Map<string, string>();
  for (const name of ['maxmemory-policy', 'maxmemory', 'appendonly', 'save']) {
    const reply = await refusable(unreadable, 'CONFIG GET', timed(client.call('CONFIG', 'GET', name), timeoutMs));
    // Forbidden or renamed (managed services): the other parameters would be refused alike.
    if (reply === undefined) break;
    for (const [key, value] of pairs(reply)) settings.set(key, value);
  }
  const fields = new Map<string, string>();
  for (const section of ['memory', 'persistence', 'stats']) {
    const reply = await refusable(unreadable, `INFO ${section}`, timed(client.call('INFO', section), timeoutMs));
    if (typeof reply === 'string') for (const [key, value] of infoFields(reply)) fields.set(key, value);
  }
  const policy = settings.get('maxmemory-policy') ?? fields.get('maxmemory_policy');
  if (policy === undefined) unreadable.push('maxmemory-policy');
  const aofEnabled = fields.get('aof_enabled') ?? settings.get('appendonly');
  const save = settings.get('save');
  return {
    node,
    policy,
    maxMemory: numberOf(settings.get('maxmemory') ?? fields.get('maxmemory')),
    usedMemory: numberOf(fields.get('used_memory')),
    aof: aofEnabled === undefined ? undefined : aofEnabled === '1' || aofEnabled === 'yes',
    rdb: save === undefined ? undefined : save.trim() !== '',
    evictedKeys: numberOf(fields.get('evicted_keys')),
    unreadable,
  };
}

/** A command the server may refuse (ReplyError: unknown, renamed or forbidden): undefined then, noted in `unreadable`. */
async function refusable<T>(unreadable: string[], what: string, reply: Promise<T>): Promise<T | undefined> {
  try {
    return await reply;
  } catch (error) {
    if (error instanceof Error && error.name === 'ReplyError') {
      unreadable.push(`${what} (${error.message})`);
      return undefined;
    }
    throw error;
  }
}

/** A reply within `timeoutMs`, or an error (treated like a lost connection: the check is tried again later). */
export function timed<T>(reply: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolveReply, rejectReply) => {
    const timer = setTimeout(() => {
      rejectReply(new Error(`Redis did not answer a check within ${timeoutMs} ms`));
    }, timeoutMs);
    reply.then(
      (value) => {
        clearTimeout(timer);
        resolveReply(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        rejectReply(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** CONFIG GET's flat [name, value, name, value…] reply. */
function pairs(reply: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(reply)) return map;
  for (let index = 0; index + 1 < reply.length; index += 2) map.set(String(reply[index]), String(reply[index + 1]));
  return map;
}

/** INFO's `name:value` lines. */
export function infoFields(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) map.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return map;
}

function numberOf(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}
