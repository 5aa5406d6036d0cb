import assert from 'node:assert/strict';
import { BatchLane } from '../../src/api/batchLane.js';

/** A batch whose work ends when the test says so. */
function gate(): { readonly done: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const done = new Promise<void>((resolveGate) => {
    open = resolveGate;
  });
  return { done, open };
}

describe('the batch lane', () => {
  it('should score at most its rows at once, start waiting batches in arrival order, and run one larger than itself alone', async () => {
    const lane = new BatchLane(10);
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const batch = (name: string, rows: number): Promise<string> => {
      const held = gate();
      gates.set(name, held);
      return lane.run(rows, async () => {
        started.push(name);
        await held.done;
        return name;
      });
    };
    const a = batch('a', 6);
    const b = batch('b', 6);
    const c = batch('c', 3);
    const big = batch('big', 25);
    await Promise.resolve();
    // "c" would fit beside "a", but waits behind "b": no overtaking, so a large batch is never starved.
    assert.deepEqual(started, ['a']);
    assert.equal(lane.queued, 3);
    gates.get('a')?.open();
    assert.equal(await a, 'a');
    await new Promise((resolveTurn) => setImmediate(resolveTurn));
    assert.deepEqual(started, ['a', 'b', 'c']);
    gates.get('b')?.open();
    gates.get('c')?.open();
    await Promise.all([b, c]);
    await new Promise((resolveTurn) => setImmediate(resolveTurn));
    assert.deepEqual(started, ['a', 'b', 'c', 'big']);
    gates.get('big')?.open();
    assert.equal(await big, 'big');
    assert.equal(lane.queued, 0);
  });

  it('should give the lane back when a batch fails', async () => {
    const lane = new BatchLane(10);
    await assert.rejects(lane.run(10, () => Promise.reject(new Error('refused'))));
    assert.equal(await lane.run(10, () => Promise.resolve('next')), 'next');
  });
});
