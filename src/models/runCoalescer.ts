import type { InputBuffer } from './servingModel.js';

type Output = Float32Array | Float64Array;

interface PendingRun {
  readonly input: InputBuffer;
  readonly rows: number;
  readonly resolve: (output: Output) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Runs the small requests that arrive in one turn of the event loop as one
 * model run. onnxruntime-node runs a session on the main thread and each run
 * has a fixed cost far above the cost of a row, so under load many unary
 * calls share one run; alone, a call waits one setImmediate. Rows are
 * independent in the models served here, so results do not change.
 */
export class RunCoalescer {
  private pending: PendingRun[] = [];

  constructor(
    private readonly run: (input: InputBuffer, rows: number) => Promise<Output>,
    private readonly allocate: (rows: number) => InputBuffer,
    private readonly classCount: number,
  ) {}

  submit(input: InputBuffer, rows: number): Promise<Output> {
    return new Promise((resolve, reject) => {
      this.pending.push({ input, rows, resolve, reject });
      if (this.pending.length === 1) {
        setImmediate(() => {
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    const only = batch[0];
    if (batch.length === 1 && only !== undefined) {
      this.run(only.input, only.rows).then(only.resolve, only.reject);
      return;
    }
    let rows = 0;
    for (const run of batch) rows += run.rows;
    const input = this.allocate(rows);
    let offset = 0;
    for (const run of batch) {
      input.set(run.input, offset);
      offset += run.input.length;
    }
    this.run(input, rows).then(
      (output) => {
        let row = 0;
        for (const run of batch) {
          run.resolve(output.subarray(row * this.classCount, (row + run.rows) * this.classCount));
          row += run.rows;
        }
      },
      (error: unknown) => {
        for (const run of batch) run.reject(error);
      },
    );
  }
}
