import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * The lane batches are scored in, so real-time calls keep their latency while
 * bulk batches run. Everything runs on one event loop, and a batch is scored
 * in a few long synchronous steps (recording its history, running the model,
 * building its answer): with several batches scored at once, those steps queue
 * up in each turn of the loop, and a unary call waits behind all of them (with
 * 7 batch clients, every unary call missed a 200 ms deadline). In the lane, at
 * most `maxRows` batch transactions are scored at once (one full batch by
 * default); other batches wait their turn in arrival order, holding the rows
 * admission control gave them (and their request's bytes, not decoded yet:
 * see unaryCall.ts). Unary calls never wait for the lane: between two steps of
 * a batch, they run.
 */
export class BatchLane {
  private scoring = 0;
  private readonly waiting: { readonly rows: number; readonly start: () => void }[] = [];

  constructor(readonly maxRows: number) {}

  /** Batches waiting for their turn now. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `work` for a batch of `rows` transactions once the lane has room for it (a batch larger than the lane runs alone). */
  async run<T>(rows: number, work: () => Promise<T>): Promise<T> {
    if (this.waiting.length > 0 || !this.fits(rows)) {
      // Its rows are counted when its turn comes (startWaiting).
      await new Promise<void>((start) => {
        this.waiting.push({ rows, start });
      });
    } else {
      this.scoring += rows;
    }
    try {
      return await work();
    } finally {
      this.scoring -= rows;
      this.startWaiting();
    }
  }

  private fits(rows: number): boolean {
    return this.scoring === 0 || this.scoring + rows <= this.maxRows;
  }

  private startWaiting(): void {
    for (let next = this.waiting[0]; next !== undefined && this.fits(next.rows); next = this.waiting[0]) {
      this.waiting.shift();
      this.scoring += next.rows;
      next.start();
    }
  }
}

/** Lets the event loop run what is waiting (other calls' I/O and steps) before a batch's next step. */
export function yieldToLoop(): Promise<void> {
  return nextTurn();
}
