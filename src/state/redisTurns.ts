import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import { CommandBatch, execPipelined, withSource, type Command, type CommandResult, type Durability, type NodeAnswer } from './redisCommands.js';

/** An operation waiting for its part of the current turn's pipeline. */
interface Waiting {
  readonly first: number;
  readonly commands: readonly Command[];
  /** The calls the operation made: as many replies. */
  readonly calls: number;
  readonly resolve: (replies: unknown[]) => void;
  readonly reject: (error: unknown) => void;
}

/** The commands of one event-loop turn, written together. */
interface Turn {
  readonly waiting: Waiting[];
  commands: number;
  /** The calls its commands make (a grouped command makes several). */
  calls: number;
  /** Told when the turn is written: the timers of the operations in it. */
  readonly onWritten: (() => void)[];
}

export interface RedisTurnsOptions {
  readonly client: Redis | Cluster;
  readonly durability: Durability | undefined;
  /** Told of how each turn's nodes answered. */
  readonly onAnswered: (nodes: readonly NodeAnswer[]) => void;
}

/**
 * Calls after which a turn is written at once, without waiting for its end:
 * under a burst (many requests read in one turn) Redis then works on the
 * first ones while this process decodes the rest, instead of the two taking
 * turns (16 unary records of 3 calls; a batch's round trip goes at once).
 * Measured at c=64 (redisBench, the same code otherwise): Redis-store
 * requests/s 1,769-2,142 written at the turn's end, 2,098-2,258 with this;
 * 4 records per write was slower again (more writes).
 */
export const CALLS_PER_EARLY_WRITE = 48;

/**
 * The commands of all operations started in the same event-loop turn, sent
 * together (one pipeline per server: redisCommands.ts) once the turn's
 * operations have added theirs, or once they make CALLS_PER_EARLY_WRITE
 * calls; each operation gets one reply per call it made (a grouped command's
 * reply spread over its calls). Scripts Redis answers NOSCRIPT for (a flushed
 * script cache, a promoted replica) are sent again with their source, once.
 */
export class RedisTurns {
  private turn: Turn | undefined;
  /** Calls sent and not yet answered. */
  pendingCalls = 0;
  /**
   * The slot of a key, which grouped script calls must share on a server
   * with cluster support (it refuses a script across slots: CROSSSLOT);
   * undefined once the server said it has none, so any calls may share one.
   */
  slotOf: ((key: string) => number) | undefined = calculateSlot;

  constructor(private readonly options: RedisTurnsOptions) {}

  /**
   * Adds an operation's calls (made by `build`, synchronously) to this turn;
   * its replies, one per call, in order. Once a turn was written early, its
   * setImmediate writes the turn started since (if any), in the same phase
   * as that turn's own would.
   */
  add(build: (batch: CommandBatch) => void): Promise<unknown[]> {
    if (this.turn === undefined) {
      this.turn = { waiting: [], commands: 0, calls: 0, onWritten: [] };
      // After the current turn's calls have added theirs: one write for all of them.
      setImmediate(() => {
        this.flush();
      });
    }
    const turn = this.turn;
    const batch = new CommandBatch(this.slotOf);
    build(batch);
    const commands = batch.seal();
    this.pendingCalls += batch.calls;
    const replies = new Promise<unknown[]>((resolve, reject) => {
      turn.waiting.push({ first: turn.commands, commands, calls: batch.calls, resolve, reject });
      turn.commands += commands.length;
      turn.calls += batch.calls;
    });
    if (turn.calls >= CALLS_PER_EARLY_WRITE) this.flush();
    return replies;
  }

  /** Calls `start` once this turn's commands are written (at once when the turn has none). */
  whenWritten(start: () => void): void {
    if (this.turn === undefined) start();
    else this.turn.onWritten.push(start);
  }

  /**
   * Resolves once the commands this turn has gathered so far are written (at
   * once when none are): what is sent after it goes out in a pipeline of its
   * own, answered on its own.
   */
  written(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.whenWritten(resolve);
    });
  }

  private flush(): void {
    const turn = this.turn;
    this.turn = undefined;
    if (turn === undefined) return;
    const commands: Command[] = [];
    for (const waiting of turn.waiting) commands.push(...waiting.commands);
    const answers = execPipelined(this.options.client, commands, this.options.durability);
    // The commands are on their way (ioredis writes them now): the round trips' clocks start.
    for (const start of turn.onWritten) start();
    answers.then(
      ({ results, nodes }) => {
        this.pendingCalls -= turn.calls;
        this.options.onAnswered(nodes);
        for (const waiting of turn.waiting) {
          this.deliver(waiting, results.slice(waiting.first, waiting.first + waiting.commands.length)).catch(waiting.reject);
        }
      },
      (error: unknown) => {
        this.pendingCalls -= turn.calls;
        for (const waiting of turn.waiting) waiting.reject(error);
      },
    );
  }

  /** One operation's answers; scripts Redis did not have are sent again with their source, in order. */
  private async deliver(waiting: Waiting, results: CommandResult[]): Promise<void> {
    const missing: number[] = [];
    for (let index = 0; index < results.length; index++) {
      const error = (results[index] as CommandResult)[0];
      if (error === null) continue;
      if (error.message.startsWith('NOSCRIPT') && waiting.commands[index]?.script !== undefined) {
        missing.push(index);
        continue;
      }
      waiting.reject(error);
      return;
    }
    const replies = results.map((result) => result[1]);
    if (missing.length > 0) {
      // Redis lost its scripts (SCRIPT FLUSH, a new server or a promoted replica): EVAL brings them back.
      const again = await execPipelined(
        this.options.client,
        missing.map((index) => withSource(waiting.commands[index] as Command)),
        this.options.durability,
      );
      for (const [position, index] of missing.entries()) {
        const [error, reply] = again.results[position] ?? [new Error('no answer'), undefined];
        if (error !== null) {
          waiting.reject(error);
          return;
        }
        replies[index] = reply;
      }
    }
    waiting.resolve(spread(waiting, replies));
  }
}

/** One reply per call, in the order the calls were made: a grouped command's reply (one per call) spread over its calls. */
function spread(waiting: Waiting, replies: readonly unknown[]): unknown[] {
  const byCall = new Array<unknown>(waiting.calls);
  waiting.commands.forEach((command, index) => {
    const reply = replies[index];
    if (!command.grouped) {
      byCall[command.positions[0] as number] = reply;
      return;
    }
    const each = reply as readonly unknown[];
    command.positions.forEach((position, call) => (byCall[position] = each[call] ?? null));
  });
  return byCall;
}
