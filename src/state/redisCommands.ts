import { createHash } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';

type Argument = string | Buffer;

/**
 * The plain command a script does, for a script that only wraps one (so that
 * its calls can be grouped): a call that goes alone is sent as the command,
 * which costs Redis less than the script.
 */
export type PlainForm = (keys: readonly string[], args: readonly Argument[]) => { readonly name: string; readonly args: readonly Argument[] };

/** A Lua script, run by its SHA1 (EVALSHA), with its source for Redis servers that do not have it yet. */
export class RedisScript {
  readonly sha: string;
  /** The same script run for many calls at once (`CommandBatch.grouped`); none for a grouped form itself. */
  readonly grouped: RedisScript | undefined;

  constructor(
    readonly lua: string,
    readonly plain?: PlainForm,
    groupable = true,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
    this.grouped = groupable ? new RedisScript(groupedSource(lua), undefined, false) : undefined;
  }
}

/**
 * A script's grouped form: its source becomes a function of KEYS and ARGV,
 * called once per call in order. ARGV[1..3] are the count of calls and the
 * keys and arguments each has; then come the calls' keys and arguments, one
 * call after the other. It replies one reply per call, in order (a script
 * that returns nothing replies nil, as it would alone).
 */
function groupedSource(lua: string): string {
  return `local function call(KEYS, ARGV)
${lua}
end
local calls, keysPer, argsPer = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local replies = {}
for at = 0, calls - 1 do
  local keys, args = {}, {}
  for index = 1, keysPer do keys[index] = KEYS[at * keysPer + index] end
  for index = 1, argsPer do args[index] = ARGV[3 + at * argsPer + index] end
  local reply = call(keys, args)
  if reply == nil then reply = false end
  replies[at + 1] = reply
end
return replies
`;
}

/**
 * One command as sent: its name, arguments, the key that routes it, the
 * script call it is (if any), and where its reply goes among the replies of
 * the batch's calls: a grouped command's reply is one per call, spread over
 * its positions.
 */
export interface Command {
  readonly name: string;
  readonly args: readonly Argument[];
  readonly key: string;
  /** Set for EVALSHA, to send it again with its source if Redis answers NOSCRIPT. */
  readonly script?: { readonly script: RedisScript; readonly keys: readonly string[]; readonly args: readonly Argument[] };
  /** The positions of its calls' replies; more than one only for a grouped command. */
  readonly positions: readonly number[];
  readonly grouped: boolean;
}

/** Calls of one script (with the same number of keys and arguments, on one Cluster slot) gathered into one command. */
interface Group {
  readonly script: RedisScript;
  readonly keys: string[];
  readonly args: Argument[];
  readonly positions: number[];
  /** Where its command goes among the batch's commands. */
  readonly command: number;
  /** The keys and the arguments each call has. */
  readonly keysPer: number;
  readonly argsPer: number;
}

/**
 * Calls in one grouped command at most: a script runs alone in Redis, so a
 * group holds every other client for its length (a record script takes
 * 35 to 50 µs of Redis's time per call: 128 of them about 6 ms).
 */
const MAX_CALLS_PER_GROUP = 128;

/** Stands for a group's command until the batch is sealed. */
const PENDING_GROUP: Command = { name: '', args: [], key: '', positions: [], grouped: false };

/**
 * The calls of one operation, in order, before they go out with the rest of
 * the turn's, each with one reply. Calls made with `grouped` are sent
 * together with the operation's other calls of the same script (per Cluster
 * slot), as one EVALSHA of its grouped form: one command instead of many,
 * for the client and for Redis.
 */
export class CommandBatch {
  private readonly built: Command[] = [];
  private readonly groups: Group[] = [];
  /** The group each script's next calls join, by script, then by slot on a server with cluster support. */
  private readonly openGroups = new Map<RedisScript, Group | Map<number, Group>>();
  /** Calls made so far: the replies the operation gets. */
  calls = 0;

  /** @param slotOf the Cluster slot of a key; undefined for a single server, where any keys may share a script. */
  constructor(private readonly slotOf?: (key: string) => number) {}

  script(script: RedisScript, keys: readonly string[], args: readonly Argument[]): void {
    this.built.push(singleCall(script, keys, args, [this.calls++]));
  }

  /**
   * A call of `script` that may run in one command with the operation's
   * other grouped calls of it: only where the order between these and the
   * operation's calls of other scripts on the same keys does not matter.
   */
  grouped(script: RedisScript, keys: readonly string[], args: readonly Argument[]): void {
    const open = this.openGroups.get(script);
    const slot = this.slotOf === undefined ? undefined : this.slotOf(keys[0] ?? '');
    let group = slot === undefined ? (open as Group | undefined) : (open as Map<number, Group> | undefined)?.get(slot);
    if (group === undefined || group.positions.length >= MAX_CALLS_PER_GROUP || group.keysPer !== keys.length || group.argsPer !== args.length) {
      group = { script, keys: [], args: [], positions: [], command: this.built.length, keysPer: keys.length, argsPer: args.length };
      this.built.push(PENDING_GROUP);
      this.groups.push(group);
      if (slot === undefined) this.openGroups.set(script, group);
      else if (open instanceof Map) open.set(slot, group);
      else this.openGroups.set(script, new Map([[slot, group]]));
    }
    for (const key of keys) group.keys.push(key);
    for (const arg of args) group.args.push(arg);
    group.positions.push(this.calls++);
  }

  get(key: string): void {
    this.plain('GET', [key], key);
  }

  /** HSET of one field. */
  hashSet(key: string, field: Buffer, value: string): void {
    this.plain('HSET', [key, field, value], key);
  }

  /** HMGET: the values of `fields`, null for those missing. */
  hashGetMany(key: string, fields: readonly Buffer[]): void {
    this.plain('HMGET', [key, ...fields], key);
  }

  /** The commands to send, once the calls are made: each group one command of its script's grouped form (a call alone, the script or its plain form). */
  seal(): readonly Command[] {
    for (const group of this.groups.splice(0)) {
      const { script, keys, args, positions } = group;
      const grouped = script.grouped;
      this.built[group.command] =
        positions.length === 1 || grouped === undefined
          ? singleCall(script, keys, args, positions)
          : { ...scriptCommand(grouped, keys, [String(positions.length), String(group.keysPer), String(group.argsPer), ...args], positions), grouped: true };
    }
    this.openGroups.clear();
    return this.built;
  }

  private plain(name: string, args: readonly Argument[], key: string): void {
    this.built.push({ name, args, key, positions: [this.calls++], grouped: false });
  }
}

/** One call of a script: its plain form when it has one, else the script. */
function singleCall(script: RedisScript, keys: readonly string[], args: readonly Argument[], positions: readonly number[]): Command {
  if (script.plain === undefined) return scriptCommand(script, keys, args, positions);
  const { name, args: commandArgs } = script.plain(keys, args);
  return { name, args: commandArgs, key: keys[0] ?? '', positions, grouped: false };
}

function scriptCommand(script: RedisScript, keys: readonly string[], args: readonly Argument[], positions: readonly number[]): Command {
  return { name: 'EVALSHA', args: [script.sha, String(keys.length), ...keys, ...args], key: keys[0] ?? '', script: { script, keys, args }, positions, grouped: false };
}

/** One command's answer: an error (Redis's, or the connection's) or its reply. */
export type CommandResult = [Error | null, unknown];

/** The source of a script call, for a server that answered NOSCRIPT. */
export function withSource(command: Command): Command {
  const call = command.script;
  if (call === undefined) return command;
  return { ...command, name: 'EVAL', args: [call.script.lua, String(call.keys.length), ...call.keys, ...call.args] };
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
