import type { EncodedRecord } from './decisionRecords.js';

/** Names of the sinks, the `sink` label of the decision log's metrics. */
export type SinkName = 'file' | 'kafka' | 's3';

/**
 * Where decision records go. `write` resolves once the batch is stored as far
 * as the sink promises (appended to a file, acknowledged by every in-sync
 * Kafka replica, an object put) and rejects otherwise: the batch is then
 * written again, whole, so a record may arrive twice but is never lost while
 * it is buffered.
 */
export interface DecisionSink {
  readonly name: SinkName;
  write(records: readonly EncodedRecord[]): Promise<void>;
  /** Releases files and connections; records not yet written are the caller's to count. */
  close(): Promise<void>;
}
