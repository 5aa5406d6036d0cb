import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  FraudServiceService,
  GetModelInfoResponse,
  GetModelQualityResponse,
  ModelQuality,
  ModelTask,
  type FraudServiceServer,
  type GetModelQualityRequest,
  type ModelInfo,
} from '../../src/gen/fraud/v1/fraud_service.js';
import { binnedAuc, binnedAveragePrecision, type QualityCounts } from '../../client/qualityStatistics.js';

/**
 * A stand-in for the service's GetModelInfo and GetModelQuality: a real
 * grpc-js server on a real port answering known messages, as
 * bench/noopServer.ts stands in for the transport. The CLI's comparison and
 * promotion are tested against it while the service's own quality RPC is
 * built elsewhere; an end-to-end test against the real service follows it.
 * Every other method answers UNIMPLEMENTED.
 */
export class QualityStandIn {
  /** The GetModelQuality requests received, in order. */
  readonly qualityRequests: GetModelQualityRequest[] = [];
  info: GetModelInfoResponse = GetModelInfoResponse.fromPartial({});
  /** The answer to each GetModelQuality request; FAILED_PRECONDITION (as the service without quality) when undefined. */
  quality: ((request: GetModelQualityRequest) => GetModelQualityResponse) | undefined;

  private readonly server = new Server();
  private port = 0;

  private constructor() {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(): Promise<QualityStandIn> {
    const standIn = new QualityStandIn();
    const server = standIn.server;
    const unimplemented = (_call: unknown, callback: sendUnaryData<never>): void => {
      callback({ code: status.UNIMPLEMENTED, details: 'quality stand-in' });
    };
    const handlers: FraudServiceServer = {
      predict: unimplemented,
      predictScenario: unimplemented,
      predictBatch: unimplemented,
      predictScenarioBatch: unimplemented,
      reportOutcome: unimplemented,
      reportOutcomeBatch: unimplemented,
      predictStream: (call) => {
        call.emit('error', { code: status.UNIMPLEMENTED, details: 'quality stand-in' });
      },
      getModelInfo: (_call, callback) => {
        callback(null, standIn.info);
      },
      getModelQuality: (call: ServerUnaryCall<GetModelQualityRequest, GetModelQualityResponse>, callback) => {
        standIn.qualityRequests.push(call.request);
        const answer = standIn.quality;
        if (answer === undefined) callback({ code: status.FAILED_PRECONDITION, details: 'model quality is not kept by this service' });
        else callback(null, answer(call.request));
      },
    };
    server.addService(FraudServiceService, handlers);
    standIn.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => {
        if (error) reject(error);
        else resolve(bound);
      });
    });
    return standIn;
  }

  /** GetModelInfo naming `serving` as the binary task's model and `shadow`, if any, as its challenger. */
  serve(serving: string, shadow: string | undefined): void {
    const model = (revision: string, version: string): Partial<ModelInfo> => ({
      task: ModelTask.MODEL_TASK_BINARY,
      serving: true,
      model: { name: 'fraud-binary', version, revision },
      threshold: 0.5,
    });
    this.info = GetModelInfoResponse.fromPartial({ models: [model(serving, '1.0.0')], shadows: shadow === undefined ? [] : [model(shadow, '2.0.0')] });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.tryShutdown(() => {
        resolve();
      });
    });
  }
}

export const DAY_MS = 86_400_000;

/** Six score bins, as a service might keep them. */
export const BOUNDS = [0.1, 0.3, 0.5, 0.7, 0.9, 1];

/** A ModelQuality entry of the binary task from counts, over `days` event days ending (exclusive) at `end`. */
export function qualityEntry(revision: string, version: string, counts: QualityCounts, days: number, end: Date): ModelQuality {
  return ModelQuality.fromPartial({
    task: ModelTask.MODEL_TASK_BINARY,
    name: 'fraud-binary',
    version,
    revision,
    window: { seconds: BigInt(days * 86_400), nanos: 0 },
    startTime: new Date(end.getTime() - days * DAY_MS),
    endTime: end,
    fraudAlerted: BigInt(counts.fraudAlerted),
    fraudPassed: BigInt(counts.fraudPassed),
    legitimateAlerted: BigInt(counts.legitimateAlerted),
    legitimatePassed: BigInt(counts.legitimatePassed),
    fraudScoreBins: counts.fraudBins.map(BigInt),
    legitimateScoreBins: counts.legitimateBins.map(BigInt),
    // The service's own figures, by the definitions of the proto's comments.
    auc: binnedAuc(counts.fraudBins, counts.legitimateBins),
    averagePrecision: binnedAveragePrecision(counts.fraudBins, counts.legitimateBins),
  });
}

/** Counts whose decisions follow the bins: the bins from `alertFrom` up (scores above 0.5 here) are alerts. */
export function binnedCounts(fraudBins: number[], legitimateBins: number[], alertFrom = 3): QualityCounts {
  const total = (bins: number[]): number => bins.reduce((a, b) => a + b, 0);
  return {
    fraudBins,
    legitimateBins,
    fraudAlerted: total(fraudBins.slice(alertFrom)),
    fraudPassed: total(fraudBins.slice(0, alertFrom)),
    legitimateAlerted: total(legitimateBins.slice(alertFrom)),
    legitimatePassed: total(legitimateBins.slice(0, alertFrom)),
  };
}

/** A champion that separates fairly and a challenger that separates clearly better, each with 200 frauds. */
export const FAIR = binnedCounts([30, 40, 40, 40, 30, 20], [5_000, 3_000, 1_500, 400, 80, 20]);
export const BETTER = binnedCounts([5, 10, 15, 30, 60, 80], [5_200, 3_100, 1_400, 260, 30, 10]);

/** A GetModelQuality answer holding, for each revision asked, its counts over the window asked, ending at `end`. */
export function answerWith(countsOf: Readonly<Record<string, QualityCounts>>, end: Date): (request: GetModelQualityRequest) => GetModelQualityResponse {
  return (request) => {
    const days = Number(request.windows[0]?.seconds ?? 7n * 86_400n) / 86_400;
    const models = request.revisions.flatMap((revision) => {
      const counts = countsOf[revision];
      return counts === undefined ? [] : [qualityEntry(revision, revision.slice(0, 6), counts, days, end)];
    });
    return GetModelQualityResponse.fromPartial({ models, scoreBinUpperBounds: BOUNDS });
  };
}
