import { randomUUID } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { timed } from './redisServerInfo.js';

/**
 * Stamps the marker (a write, so Redis out of memory refuses it), creating it
 * first from ARGV[2..] when it is absent, and answers [created, field, value…].
 * One key: runs on one Cluster slot.
 */
const MARKER_SCRIPT = `
local created = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2))
  created = 1
end
redis.call('HSET', KEYS[1], 'checked_at', ARGV[1])
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, created)
return reply
`;

/** Adds the loss note to a marker another replica (re)created without one; an operator's acknowledgement is not undone (the note is written once per generation). */
const NOTE_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], 'noted') == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`;

/** One marker as read from Redis. */
export interface GenerationMarker {
  readonly key: string;
  readonly id: string;
  readonly createdAt: string;
  /** Event time (Unix seconds) before which windows reach into lost history; absent once acknowledged or when nothing was lost. */
  readonly incompleteUntil: number | undefined;
  /** The generation that was lost, when this one replaced it. */
  readonly lostGeneration: string | undefined;
}

/** What one check of one marker found. */
export interface MarkerCheck {
  readonly marker: GenerationMarker;
  /** The marker this replica had seen is gone (Redis emptied, restarted without its data, or the key was evicted) or was replaced. */
  readonly lost: { readonly previous: string; readonly how: 'gone' | 'replaced' } | undefined;
  /** This check created the marker: a store seen for the first time (not a loss), or a loss. */
  readonly created: boolean;
}

/**
 * Generation markers: one small hash per Redis primary, with no TTL (so
 * volatile-* policies never evict it), created when the service first finds
 * it absent. A replica remembers the id it saw; when a later check finds the
 * marker gone or carrying another id, the data it stood for is gone too, and
 * the new marker carries a note saying until which event time the history
 * is incomplete (the longest window plus the delay and lateness after the
 * loss). Deleting that note's `incomplete_until` field acknowledges the loss.
 *
 * With Redis Cluster each primary holds its own marker (a hash tag chosen to
 * fall in one of its slots), because one primary can lose its data alone.
 */
export class GenerationMarkers {
  /** Marker key → id this replica saw last. */
  private readonly known = new Map<string, string>();
  /** Hash tag → slot, asked of Redis once (CLUSTER KEYSLOT). */
  private readonly slotOfTag = new Map<string, number>();

  constructor(
    private readonly prefix: string,
    private readonly retentionSeconds: number,
  ) {}

  /** The marker keys of the primaries `client` talks to now. */
  async keys(client: Redis | Cluster, timeoutMs: number): Promise<string[]> {
    if (!(client instanceof Cluster)) return [`${this.prefix}{generation}`];
    const keys: string[] = [];
    for (const primary of client.nodes('master')) {
      const node = `${primary.options.host ?? ''}:${String(primary.options.port ?? '')}`;
      for (let index = 0; index < 100_000; index++) {
        const tag = `generation-${index}`;
        let slot = this.slotOfTag.get(tag);
        if (slot === undefined) {
          slot = Number(await timed(client.call('CLUSTER', 'KEYSLOT', tag), timeoutMs));
          this.slotOfTag.set(tag, slot);
        }
        if (client.slots[slot]?.[0] === node) {
          keys.push(`${this.prefix}{${tag}}`);
          break;
        }
      }
    }
    return keys;
  }

  /**
   * Stamps (and if need be creates) the marker at `key`. `watermark` is the
   * newest event time this replica recorded, from which a loss found now is
   * dated (the clock when it has recorded nothing).
   */
  async check(client: Redis | Cluster, key: string, watermark: number, timeoutMs: number): Promise<MarkerCheck> {
    const previous = this.known.get(key);
    const now = new Date().toISOString();
    const fields = ['id', randomUUID(), 'created_at', now];
    const note = previous === undefined ? [] : this.note(previous, now, watermark);
    const reply = (await timed(client.eval(MARKER_SCRIPT, 1, key, now, ...fields, ...note), timeoutMs)) as unknown[];
    const created = reply[0] === 1;
    let marker = markerOf(key, reply.slice(1).map(String));
    let lost: MarkerCheck['lost'];
    if (previous !== undefined && created) lost = { previous, how: 'gone' };
    else if (previous !== undefined && marker.id !== previous) {
      lost = { previous, how: 'replaced' };
      // Another replica (or one that never saw the old marker) made the new one: the note says the history is incomplete.
      const noted = await timed(client.eval(NOTE_SCRIPT, 1, key, ...this.note(previous, now, watermark)), timeoutMs);
      if (noted === 1) marker = markerOf(key, await timed(client.hgetall(key), timeoutMs));
    }
    this.known.set(key, marker.id);
    return { marker, lost, created };
  }

  /** Forgets markers of primaries no longer in the cluster. */
  retain(keys: readonly string[]): void {
    for (const key of [...this.known.keys()]) if (!keys.includes(key)) this.known.delete(key);
  }

  private note(previous: string, now: string, watermark: number): string[] {
    const from = Number.isFinite(watermark) ? watermark : Date.now() / 1000;
    return ['noted', '1', 'lost_generation', previous, 'lost_at', now, 'incomplete_until', String(Math.ceil(from + this.retentionSeconds))];
  }
}

function markerOf(key: string, reply: readonly string[] | Readonly<Record<string, string>>): GenerationMarker {
  const fields = new Map<string, string>();
  if (Array.isArray(reply)) {
    for (let index = 0; index + 1 < reply.length; index += 2) fields.set(reply[index] as string, reply[index + 1] as string);
  } else {
    for (const [name, value] of Object.entries(reply)) fields.set(name, value);
  }
  const until = Number(fields.get('incomplete_until'));
  return {
    key,
    id: fields.get('id') ?? '',
    createdAt: fields.get('created_at') ?? '',
    incompleteUntil: fields.has('incomplete_until') && Number.isFinite(until) ? until : undefined,
    lostGeneration: fields.get('lost_generation'),
  };
}
