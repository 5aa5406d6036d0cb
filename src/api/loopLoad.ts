import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/**
 * How busy the event loop was over the last interval (0 to 1, Node's event
 * loop utilization), sampled in the background. The loop is the service's
 * one CPU for answers: past a share of it, optional work (a shadow model's
 * runs) only takes time from answers, so it is shed.
 */
export class LoopLoad {
  private last: EventLoopUtilization = performance.eventLoopUtilization();
  private utilization = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 100) {
    this.timer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      this.utilization = performance.eventLoopUtilization(now, this.last).utilization;
      this.last = now;
    }, intervalMs);
    this.timer.unref();
  }

  /** The share of the last interval the loop spent running callbacks. */
  get busy(): number {
    return this.utilization;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
