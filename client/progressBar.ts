import type { Writable } from 'node:stream';

/**
 * A one-line progress bar for long batch runs, redrawn in place on a
 * terminal. It writes nothing when the stream is not a terminal, so piped
 * output and logs stay clean.
 */
export class ProgressBar {
  private lastDraw = 0;
  private readonly started = Date.now();

  constructor(
    private readonly stream: Writable & { isTTY?: boolean; columns?: number },
    private readonly label: string,
  ) {}

  update(done: number, total?: number): void {
    if (this.stream.isTTY !== true) return;
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const rate = done / Math.max(0.001, (now - this.started) / 1000);
    const width = 30;
    const share = total === undefined || total === 0 ? undefined : Math.min(1, done / total);
    const bar = share === undefined ? '' : `[${'#'.repeat(Math.round(share * width)).padEnd(width, '.')}] ${(share * 100).toFixed(0)}% `;
    this.stream.write(`\r${this.label} ${bar}${done}${total === undefined ? '' : `/${total}`} (${Math.round(rate)}/s)`);
  }

  finish(done: number): void {
    if (this.stream.isTTY !== true) return;
    this.lastDraw = 0;
    this.update(done);
    this.stream.write('\n');
  }
}
