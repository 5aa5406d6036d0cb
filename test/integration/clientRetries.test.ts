import { Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { FraudCallError, FraudClient } from '../../client/fraudClient.js';
import { FraudServiceService, type PredictRequest, type PredictResponse } from '../../src/gen/fraud/v1/fraud_service.js';
import { RetryInfo } from '../../src/gen/google/rpc/error_details.js';
import { Status } from '../../src/gen/google/rpc/status.js';
import { HealthService } from '../../src/gen/grpc/health/v1/health.js';

/** One Predict attempt as the server saw it. */
interface Attempt {
  readonly transactionId: bigint;
  /** Milliseconds left before the attempt's deadline when it arrived; Infinity for a call sent without one. */
  readonly remainingMs: number;
}

/**
 * A real gRPC server on 127.0.0.1 (grpc-js, a port chosen by the OS) that
 * answers each transaction's first `failures` Predict attempts UNAVAILABLE,
 * then answers, and records every attempt in arrival order.
 */
class FlakyServer {
  readonly attempts: Attempt[] = [];
  private readonly server = new Server();
  port = 0;

  /** `failures` attempts of each transaction get `refusal` (UNAVAILABLE unless told otherwise; no answer at all when it gives undefined). */
  constructor(
    private readonly failures: number,
    private readonly refusal: (attempt: number) => { code: status; details: string; metadata?: Metadata } | undefined = (attempt) => ({
      code: status.UNAVAILABLE,
      details: `attempt ${attempt} refused by the test server`,
    }),
  ) {}

  async start(): Promise<void> {
    const implementation: UntypedServiceImplementation = {
      predict: (call: ServerUnaryCall<PredictRequest, PredictResponse>, callback: sendUnaryData<PredictResponse>) => {
        const transactionId = call.request.transaction?.transactionId ?? 0n;
        const deadline = call.getDeadline();
        // grpc-js gives the deadline as a Date or epoch milliseconds, Infinity when the call has none.
        const remainingMs = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
        this.attempts.push({ transactionId, remainingMs });
        const seen = this.attempts.filter((attempt) => attempt.transactionId === transactionId).length;
        if (seen <= this.failures) {
          const refused = this.refusal(seen);
          if (refused !== undefined) callback(refused);
          return;
        }
        callback(null, {
          transactionId,
          prediction: 'LEGITIMATE',
          classId: 0,
          classProbability: 1,
          fraudProbability: 0,
          threshold: 0.5,
          probabilities: [1, 0],
          model: undefined,
          features: {},
        });
      },
    };
    this.server.addService(FraudServiceService, implementation);
    this.port = await new Promise<number>((resolvePort, rejectPort) => {
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => {
        if (error) rejectPort(error);
        else resolvePort(port);
      });
    });
  }

  attemptsOf(transactionId: number): Attempt[] {
    return this.attempts.filter((attempt) => attempt.transactionId === BigInt(transactionId));
  }

  stop(): Promise<void> {
    return new Promise((stopped) => { this.server.tryShutdown(() => { stopped(); }); });
  }

  /** Stops at once, ending the calls it never answered. */
  halt(): void {
    this.server.forceShutdown();
  }
}

/**
 * A RESOURCE_EXHAUSTED as the service sends it when busy: a google.rpc.RetryInfo
 * and the grpc-retry-pushback-ms trailer with the same delay (1 ms); or with a
 * negative pushback, which says "do not retry" in gRPC's retry design.
 */
function resourceExhausted(retry: boolean): { code: status; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  const details = retry
    ? [{ typeUrl: 'type.googleapis.com/google.rpc.RetryInfo', value: Buffer.from(RetryInfo.encode({ retryDelay: { seconds: 0n, nanos: 1_000_000 } }).finish()) }]
    : [];
  metadata.set('grpc-status-details-bin', Buffer.from(Status.encode({ code: status.RESOURCE_EXHAUSTED, message: 'busy', details }).finish()));
  metadata.set('grpc-retry-pushback-ms', retry ? '1' : '-1');
  return { code: status.RESOURCE_EXHAUSTED, details: 'busy', metadata };
}

function input(transactionId: number) {
  return { transactionId, customerId: 1, terminalId: 1, txAmount: 10, txTimeSeconds: 0 };
}

describe('typed client retries against a real gRPC server that fails on purpose', () => {
  it('should make exactly its number of attempts, then give up with UNAVAILABLE', async () => {
    const server = new FlakyServer(Number.POSITIVE_INFINITY);
    await server.start();
    const client = new FraudClient({ address: `127.0.0.1:${server.port}`, retry: { attempts: 3, initialBackoffMs: 1, maxBackoffMs: 1 } });
    try {
      await assert.rejects(client.predict(input(1)), (error: unknown) => error instanceof FraudCallError && error.code === status.UNAVAILABLE);
      assert.equal(server.attemptsOf(1).length, 3);
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('should answer after UNAVAILABLE attempts within its budget, with five attempts by default (the published service config)', async () => {
    const server = new FlakyServer(4);
    await server.start();
    const client = new FraudClient({ address: `127.0.0.1:${server.port}`, retry: { initialBackoffMs: 1, maxBackoffMs: 1 } });
    try {
      const answer = await client.predict(input(2));
      assert.equal(answer.transactionId, 2n);
      assert.equal(server.attemptsOf(2).length, 5);
    } finally {
      client.close();
      await server.stop();
    }
  });

  it("should keep one deadline for the call, its retries included, as gRPC's retry design does", async () => {
    const server = new FlakyServer(1);
    await server.start();
    const deadlineMs = 10_000;
    const client = new FraudClient({ address: `127.0.0.1:${server.port}`, deadlineMs, retry: { attempts: 3, initialBackoffMs: 200, maxBackoffMs: 200 } });
    try {
      await client.predict(input(3));
      const attempts = server.attemptsOf(3);
      assert.equal(attempts.length, 2);
      for (const [index, attempt] of attempts.entries()) {
        assert.ok(Number.isFinite(attempt.remainingMs) && attempt.remainingMs <= deadlineMs, `attempt ${index + 1} was sent without the call's deadline (no grpc-timeout)`);
      }
      // The retry carries what is left of the same deadline, not a fresh one.
      assert.ok((attempts[1]?.remainingMs ?? 0) < (attempts[0]?.remainingMs ?? 0), JSON.stringify(attempts.map((attempt) => attempt.remainingMs)));
    } finally {
      client.close();
      await server.stop();
    }
  });

  it("should not start a retry past the call's deadline: DEADLINE_EXCEEDED after one attempt", async () => {
    const server = new FlakyServer(Number.POSITIVE_INFINITY);
    await server.start();
    // The backoff (at least 8 s) outlasts the deadline: the call ends while it waits.
    const client = new FraudClient({ address: `127.0.0.1:${server.port}`, deadlineMs: 300, retry: { attempts: 3, initialBackoffMs: 10_000, maxBackoffMs: 10_000 } });
    try {
      await assert.rejects(client.predict(input(10)), (error: unknown) => error instanceof FraudCallError && error.code === status.DEADLINE_EXCEEDED);
      assert.equal(server.attemptsOf(10).length, 1);
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('should jitter its backoff: calls refused together come back in a shuffled order', async () => {
    // One client, one connection: without jitter the retries wait the same
    // backoff and arrive in the order of the first attempts.
    const server = new FlakyServer(1);
    await server.start();
    const client = new FraudClient({ address: `127.0.0.1:${server.port}`, retry: { attempts: 2, initialBackoffMs: 200, maxBackoffMs: 200 } });
    const calls = 20;
    try {
      await client.getModelInfo().catch(() => undefined); // connected before the calls start together
      await Promise.all(Array.from({ length: calls }, (_, index) => client.predict(input(100 + index))));
      const first = server.attempts.slice(0, calls).map((attempt) => attempt.transactionId);
      const retries = server.attempts.slice(calls).map((attempt) => attempt.transactionId);
      assert.equal(retries.length, calls);
      assert.deepEqual([...retries].sort(), [...first].sort());
      assert.notDeepEqual(retries, first, 'every retry came back in the order of the first attempts: the backoff has no jitter');
    } finally {
      client.close();
      await server.stop();
    }
  });
  it('should not retry when its own deadline passes: one attempt, DEADLINE_EXCEEDED', async () => {
    // The server never answers: the attempt ends at the client's deadline.
    const server = new FlakyServer(Number.POSITIVE_INFINITY, () => undefined);
    await server.start();
    const client = new FraudClient({ address: `127.0.0.1:${server.port}`, deadlineMs: 200, retry: { attempts: 4, initialBackoffMs: 1, maxBackoffMs: 1 } });
    try {
      await assert.rejects(client.predict(input(8)), (error: unknown) => error instanceof FraudCallError && error.code === status.DEADLINE_EXCEEDED);
      assert.equal(server.attemptsOf(8).length, 1);
    } finally {
      client.close();
      server.halt();
    }
  });

  it('should not retry DEADLINE_EXCEEDED answered by the server (a deadline passed on the way): one attempt', async () => {
    const server = new FlakyServer(1, () => ({ code: status.DEADLINE_EXCEEDED, details: 'deadline exceeded upstream' }));
    await server.start();
    const client = new FraudClient({ address: `127.0.0.1:${server.port}`, retry: { attempts: 4, initialBackoffMs: 1, maxBackoffMs: 1 } });
    try {
      await assert.rejects(client.predict(input(9)), (error: unknown) => error instanceof FraudCallError && error.code === status.DEADLINE_EXCEEDED);
      assert.equal(server.attemptsOf(9).length, 1);
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('should retry RESOURCE_EXHAUSTED that carries a pushback (the service is busy)', async () => {
    const server = new FlakyServer(2, () => resourceExhausted(true));
    await server.start();
    const client = new FraudClient({ address: `127.0.0.1:${server.port}`, retry: { attempts: 3, initialBackoffMs: 1, maxBackoffMs: 1 } });
    try {
      assert.equal((await client.predict(input(4))).transactionId, 4n);
      assert.equal(server.attemptsOf(4).length, 3);
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('should not retry RESOURCE_EXHAUSTED whose pushback is negative (the server says not to)', async () => {
    const server = new FlakyServer(Number.POSITIVE_INFINITY, () => resourceExhausted(false));
    await server.start();
    const client = new FraudClient({ address: `127.0.0.1:${server.port}`, retry: { attempts: 3, initialBackoffMs: 1, maxBackoffMs: 1 } });
    try {
      await assert.rejects(client.predict(input(5)), (error: unknown) => error instanceof FraudCallError && error.code === status.RESOURCE_EXHAUSTED);
      assert.equal(server.attemptsOf(5).length, 1);
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('should send a deadline with every kind of call', async () => {
    // Every method of the service and the health check: record the deadline, answer INTERNAL (never retried).
    const deadlines = new Map<string, number>();
    const recorder = (method: string) => (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const deadline = call.getDeadline();
      deadlines.set(method, (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now());
      callback({ code: status.INTERNAL, details: 'recorded' });
    };
    const server = new Server();
    server.addService(FraudServiceService, Object.fromEntries(Object.keys(FraudServiceService).map((method) => [method, recorder(method)])));
    server.addService(HealthService, { check: recorder('healthCheck'), watch: () => undefined, list: recorder('healthList') });
    const port = await new Promise<number>((resolvePort, rejectPort) => {
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => {
        if (error) rejectPort(error);
        else resolvePort(bound);
      });
    });
    const deadlineMs = 60_000;
    const client = new FraudClient({ address: `127.0.0.1:${port}`, deadlineMs });
    try {
      const outcome = { transactionId: 1, outcome: 'fraud' as const };
      const calls: [string, () => Promise<unknown>][] = [
        ['predict', () => client.predict(input(6))],
        ['predictScenario', () => client.predictScenario(input(6))],
        ['predictBatch', () => client.predictBatch([input(6)])],
        ['predictScenarioBatch', () => client.predictScenarioBatch([input(6)])],
        ['reportOutcome', () => client.reportOutcome(outcome)],
        ['reportOutcomeBatch', () => client.reportOutcomes([outcome])],
        ['getModelInfo', () => client.getModelInfo()],
        ['healthCheck', () => client.checkHealth()],
      ];
      for (const [method, call] of calls) {
        await assert.rejects(call(), (error: unknown) => error instanceof FraudCallError && error.code === status.INTERNAL, method);
        const remainingMs = deadlines.get(method);
        assert.ok(remainingMs !== undefined && Number.isFinite(remainingMs) && remainingMs <= deadlineMs, `${method}: ${String(remainingMs)}`);
      }
    } finally {
      client.close();
      await new Promise<void>((stopped) => {
        server.tryShutdown(() => {
          stopped();
        });
      });
    }
  });
});
