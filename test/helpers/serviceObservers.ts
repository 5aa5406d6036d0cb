import { credentials, type ClientReadableStream } from '@grpc/grpc-js';
import type { FraudClient } from '../../client/fraudClient.js';
import { ModelTask } from '../../src/gen/fraud/v1/fraud_service.js';
import { HealthCheckResponse_ServingStatus, HealthClient, type HealthCheckResponse } from '../../src/gen/grpc/health/v1/health.js';
import { waitFor } from './waitFor.js';

export interface HealthWatch {
  /** Every status the server sent, in order (the first is the status when the watch began). */
  readonly statuses: readonly string[];
  /** Set when the stream ended or failed before `stop`. */
  readonly broken: string | undefined;
  stop(): void;
}

/**
 * Subscribes to grpc.health.v1 Watch for `service`: the server sends the
 * status at once and again on every change, so "SERVING throughout" is one
 * status and a stream still open, with nothing sampled and nothing missed.
 */
export function watchHealth(address: string, service = ''): HealthWatch {
  const client = new HealthClient(address, credentials.createInsecure());
  const statuses: string[] = [];
  let broken: string | undefined;
  let stopped = false;
  const stream: ClientReadableStream<HealthCheckResponse> = client.watch({ service });
  stream.on('data', (response: HealthCheckResponse) => {
    statuses.push(HealthCheckResponse_ServingStatus[response.status]);
  });
  stream.on('error', (error: Error) => {
    if (!stopped) broken = error.message;
  });
  stream.on('end', () => {
    if (!stopped) broken ??= 'the stream ended';
  });
  return {
    statuses,
    get broken() {
      return broken;
    },
    stop() {
      stopped = true;
      stream.cancel();
      client.close();
    },
  };
}

/**
 * Waits until the service has checked `task`'s model source `count` more
 * times: GetModelInfo's last_checked_at moves on every successful check. Lets
 * a test say "several polls went by" without guessing how long they take.
 */
export async function checksGoneBy(client: FraudClient, task: 'binary' | 'multiclass', count: number, timeoutMs = 20_000): Promise<void> {
  const wanted = task === 'binary' ? ModelTask.MODEL_TASK_BINARY : ModelTask.MODEL_TASK_MULTICLASS;
  const checkedAt = async (): Promise<number> => {
    const { models } = await client.getModelInfo();
    return models.find((model) => model.task === wanted)?.lastCheckedAt?.getTime() ?? 0;
  };
  let last = await checkedAt();
  let seen = 0;
  await waitFor(
    `${count} more checks of the ${task} model's source`,
    async () => {
      const now = await checkedAt();
      if (now !== last) {
        seen++;
        last = now;
      }
      return seen >= count;
    },
    timeoutMs,
  );
}
