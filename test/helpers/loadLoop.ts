import type { FraudClient } from '../../client/fraudClient.js';
import { transaction } from './testService.js';

export interface LoadReport {
  readonly calls: number;
  readonly failures: readonly string[];
  /** When each model version was first seen in an answer (ms since the loop started). */
  readonly firstSeen: ReadonlyMap<string, number>;
}

/**
 * Calls Predict as fast as `concurrency` loops allow until stopped, recording
 * every failure and when each model version first answered.
 */
export class LoadLoop {
  private calls = 0;
  private readonly failures: string[] = [];
  private readonly firstSeen = new Map<string, number>();
  private running = true;
  private readonly started = Date.now();
  private readonly loops: Promise<void>[];
  latestVersion = '';

  constructor(
    private readonly client: FraudClient,
    concurrency = 8,
  ) {
    this.loops = Array.from({ length: concurrency }, () => this.loop());
  }

  /** ms since the loop started when `version` first answered, if it did. */
  seen(version: string): number | undefined {
    return this.firstSeen.get(version);
  }

  get elapsed(): number {
    return Date.now() - this.started;
  }

  get failureCount(): number {
    return this.failures.length;
  }

  async stop(): Promise<LoadReport> {
    this.running = false;
    await Promise.all(this.loops);
    return { calls: this.calls, failures: this.failures, firstSeen: this.firstSeen };
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        const answer = await this.client.predict(transaction({ transactionId: this.calls, txAmount: 250 }));
        this.calls++;
        const version = `${answer.model?.version ?? '?'}@${answer.model?.revision ?? '?'}`;
        this.latestVersion = version;
        if (!this.firstSeen.has(version)) this.firstSeen.set(version, Date.now() - this.started);
      } catch (error) {
        this.calls++;
        this.failures.push(error instanceof Error ? error.message : String(error));
      }
    }
  }
}
