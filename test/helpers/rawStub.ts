import { credentials, type ServiceError } from '@grpc/grpc-js';
import { fieldViolationsOf, type FieldViolation } from '../../client/fraudClient.js';
import { FraudServiceClient, Transaction } from '../../src/gen/fraud/v1/fraud_service.js';

export interface CallFailure {
  readonly code: number;
  readonly details: string;
  readonly violations: FieldViolation[];
}

/**
 * The generated stub with no client-side conversion, for requests the typed
 * client would not build (missing fields, NaN, oversize batches).
 */
export class RawStub {
  readonly stub: FraudServiceClient;

  constructor(address: string) {
    this.stub = new FraudServiceClient(address, credentials.createInsecure());
  }

  /** Calls Predict (or PredictScenario) and returns the failure; throws if the call succeeded. */
  predictFailure(transaction: Partial<Transaction> | undefined, method: 'predict' | 'predictScenario' = 'predict'): Promise<CallFailure> {
    const request = { transaction: transaction === undefined ? undefined : Transaction.fromPartial(transaction), explain: false };
    return new Promise((resolveCall, rejectCall) => {
      this.stub[method](request, (error: ServiceError | null) => {
        if (error === null) rejectCall(new Error('the call succeeded'));
        else resolveCall({ code: error.code, details: error.details, violations: fieldViolationsOf(error.metadata) });
      });
    });
  }

  batchFailure(transactions: Partial<Transaction>[], method: 'predictBatch' | 'predictScenarioBatch' = 'predictBatch'): Promise<CallFailure> {
    const request = { transactions: transactions.map((transaction) => Transaction.fromPartial(transaction)), explain: false };
    return new Promise((resolveCall, rejectCall) => {
      this.stub[method](request, (error: ServiceError | null) => {
        if (error === null) rejectCall(new Error('the call succeeded'));
        else resolveCall({ code: error.code, details: error.details, violations: fieldViolationsOf(error.metadata) });
      });
    });
  }

  close(): void {
    this.stub.close();
  }
}
