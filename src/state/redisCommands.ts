import { createHash } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';

/** A Lua script, run by its SHA1 (EVALSHA), with its source for Redis servers that do not have it yet. */
export class RedisScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

type Argument = string | Buffer;

/** One command as sent: its name, arguments, the key that routes it, and the script call it is (if any). */
export interface Command {
  readonly name: string;
  readonly args: readonly Argument[];
  readonly key: string;
  /** Set for EVALSHA, to send it again with its source if Redis answers NOSCRIPT. */
  readonly script?: { readonly script: RedisScript; readonly keys: readonly string[]; readonly args: readonly Argument[] };
}

/** The commands of one operation, in order, before they go out with the rest of the turn's. */
export class CommandBatch {
  readonly commands: Command[] = [];

  script(script: RedisScript, keys: readonly string[], args: readonly Argument[]): void {
    this.commands.push({ name: 'EVALSHA', args: [script.sha, String(keys.length), ...keys, ...args], key: keys[0] ?? '', script: { script, keys, args } });
  }

  /** SET NX GET with a TTL: writes `value` unless the key exists, and answers what was there. */
  setIfAbsent(key: string, value: Buffer, ttlMs: string): void {
    this.commands.push({ name: 'SET', args: [key, value, 'PX', ttlMs, 'NX', 'GET'], key });
  }

  get(key: string): void {
    this.commands.push({ name: 'GET', args: [key], key });
  }

  /** HSET of one field. */
  hashSet(key: string, field: Buffer, value: string): void {
    this.commands.push({ name: 'HSET', args: [key, field, value], key });
  }

  /** HMGET: the values of `fields`, null for those missing. */
  hashGetMany(key: string, fields: readonly Buffer[]): void {
    this.commands.push({ name: 'HMGET', args: [key, ...fields], key });
  }

  /** The first `bytes` bytes of a value. */
  head(key: string, bytes: number): void {
    this.commands.push({ name: 'GETRANGE', args: [key, '0', String(bytes - 1)], key });
  }
}

/** One command's answer: an error (Redis's, or the connection's) or its reply. */
export type CommandResult = [Error | null, unknown];

/** The source of a script call, for a server that answered NOSCRIPT. */
export function withSource(command: Command): Command {
  const call = command.script;
  if (call === undefined) return command;
  return { name: 'EVAL', args: [call.script.lua, String(call.keys.length), ...call.keys, ...call.args], key: command.key };
}

/** How one node's pipeline went: answered (errors included) or failed as a whole, with the first failure. */
export interface NodeAnswer {
  readonly group: string;
  readonly answered: boolean;
  readonly error: string | undefined;
}

export interface PipelinedResults {
  readonly results: CommandResult[];
  readonly nodes: NodeAnswer[];
}

/**
 * Runs commands as pipelines, one per Redis node: a single server takes them
 * all in one; a Cluster client gets one per primary, by each key's slot (a
 * pipeline there must stay on one node), all written at once, so the
 * commands make one round trip in parallel. Commands to one node keep their
 * order, and every key lives on one node, so each key sees the commands in
 * the order they were given. A pipeline that fails as a whole (its node is
 * gone) fails each of its commands with that error, the others still answer,
 * and the Cluster client is asked to read the slot map again.
 */
export async function execPipelined(client: Redis | Cluster, commands: readonly Command[], durability?: Durability): Promise<PipelinedResults> {
  if (!isCluster(client)) {
    const results = await execOn(client, commands, durability);
    return { results, nodes: [nodeAnswer('', results)] };
  }
  const groups = new Map<string, { commands: Command[]; positions: number[] }>();
  commands.forEach((command, position) => {
    const group = client.slots[calculateSlot(command.key)]?.join(';') ?? '';
    let entry = groups.get(group);
    if (entry === undefined) groups.set(group, (entry = { commands: [], positions: [] }));
    entry.commands.push(command);
    entry.positions.push(position);
  });
  const results = new Array<CommandResult>(commands.length);
  const nodes = await Promise.all(
    [...groups].map(async ([group, entry]) => {
      const answers = await execOn(client, entry.commands, durability);
      entry.positions.forEach((position, index) => (results[position] = answers[index] as CommandResult));
      return nodeAnswer(group, answers);
    }),
  );
  if (nodes.some((node) => !node.answered)) client.refreshSlotsCache();
  return { results, nodes };
}

/** A node answered when any command got Redis's answer, an error reply included. */
function nodeAnswer(group: string, results: readonly CommandResult[]): NodeAnswer {
  let error: string | undefined;
  for (const [failure] of results) {
    if (failure === null || failure.name === 'ReplyError') return { group, answered: true, error: undefined };
    error ??= failure.message;
  }
  return { group, answered: results.length === 0, error };
}

/**
 * Writes acknowledged only once replicas have them (FRAUD_REDIS_WAIT_REPLICAS):
 * each node's pipeline ends with WAIT, and when fewer replicas than asked
 * confirm in time, every command of that pipeline fails (the writes are on
 * the primary; a retry records nothing twice).
 */
export interface Durability {
  readonly replicas: number;
  readonly timeoutMs: number;
}

/** Why a node's commands failed although it ran them: its replicas did not confirm them in time. */
export class ReplicasBehindError extends Error {
  override readonly name = 'ReplicasBehindError';
}

async function execOn(client: Redis | Cluster, commands: readonly Command[], durability?: Durability): Promise<CommandResult[]> {
  const pipeline = client.pipeline();
  for (const command of commands) pipeline.callBuffer(command.name, ...command.args);
  if (durability !== undefined) pipeline.call('WAIT', String(durability.replicas), String(durability.timeoutMs));
  try {
    const results = (await pipeline.exec()) ?? [];
    if (durability !== undefined) {
      const [error, confirmed] = results[commands.length] ?? [new Error('Redis gave no answer to WAIT'), 0];
      if (error !== null || Number(confirmed) < durability.replicas) {
        const failure = error ?? new ReplicasBehindError(`${String(confirmed)} of ${durability.replicas} replicas confirmed the writes within ${durability.timeoutMs} ms (FRAUD_REDIS_WAIT_REPLICAS)`);
        return commands.map(() => [failure, undefined]);
      }
    }
    return commands.map((_command, index) => results[index] ?? [new Error('Redis gave no answer'), undefined]);
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    return commands.map(() => [failure, undefined]);
  }
}

export function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}
