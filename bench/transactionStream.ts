import type { Transaction } from '../src/gen/fraud/v1/fraud_service.js';

/**
 * A deterministic stream of card transactions shaped like the simulator's
 * (5,000 customers, 10,000 terminals, about 10,000 transactions a day, time
 * always moving forward), so the benchmark's calls touch the history the way
 * real traffic does: distinct ids, many entities, windows that fill up.
 */
export class TransactionStream {
  private state: number;
  private next = 0;

  constructor(
    seed: number,
    private readonly customers = 5_000,
    private readonly terminals = 10_000,
    /** Event-time seconds between consecutive transactions. */
    private readonly stepSeconds = 9,
    private readonly firstId = 0,
  ) {
    this.state = seed >>> 0;
  }

  take(count: number): Transaction[] {
    return Array.from({ length: count }, () => this.one());
  }

  private one(): Transaction {
    const index = this.next++;
    const id = this.firstId + index;
    return {
      transactionId: BigInt(id),
      customerId: BigInt(Math.floor(this.random() * this.customers)),
      terminalId: BigInt(Math.floor(this.random() * this.terminals)),
      txAmount: Math.round(this.random() * 20_000) / 100,
      txTimeSeconds: BigInt(86_400 + id * this.stepSeconds),
      txTimeDays: undefined,
      txDatetime: undefined,
      features: {},
    };
  }

  /** mulberry32: small, fast and good enough for load shapes. */
  private random(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
