import {
  beforeTransactionMessage,
  conflictingOutcomeMessage,
  correctedOutcomeMessage,
  duplicateOutcomeMessage,
  outOfOrderCorrectionMessage,
  tooManyCorrectionsMessage,
  unknownTransactionMessage,
} from './outcomeMessages.js';
import type { OutcomeReply, RecordedOutcome } from './redisCodec.js';
import { MAX_CORRECTIONS, type OutcomeReport, type OutcomeResult } from './stateStore.js';

/** A reply of a transaction the index holds: its terminal and the outcomes recorded after the call. */
export type RecordedOutcomeReply = Extract<OutcomeReply, { readonly outcomes: unknown }>;

/**
 * What an outcome report gets from OUTCOME_RECORD's reply (redisScripts.ts),
 * with the embedded store's messages, and `toTerminal`, the reply whose
 * outcomes in force go to the terminal: applied, corrected or reported again
 * (so that a retry repairs a crash between the two steps).
 */
export function outcomeResultOf(report: OutcomeReport, reply: OutcomeReply): { result: OutcomeResult; toTerminal: RecordedOutcomeReply | undefined } {
  if (reply.status === 'unknown_transaction') return { result: { status: reply.status, message: unknownTransactionMessage(report.transactionId) }, toTerminal: undefined };
  if (reply.status === 'before_transaction') return { result: { status: reply.status, message: beforeTransactionMessage(report.knownAt, reply.time) }, toTerminal: undefined };
  const inForce = reply.outcomes[reply.outcomes.length - 1] as RecordedOutcome;
  switch (reply.status) {
    case 'conflict':
      return { result: { status: reply.status, message: conflictingOutcomeMessage(report.transactionId, inForce.outcome, inForce.knownAt) }, toTerminal: undefined };
    case 'out_of_order':
      return { result: { status: reply.status, message: outOfOrderCorrectionMessage(inForce.outcome, inForce.knownAt) }, toTerminal: undefined };
    case 'too_many_corrections':
      return { result: { status: reply.status, message: tooManyCorrectionsMessage(report.transactionId, MAX_CORRECTIONS) }, toTerminal: undefined };
    case 'corrected': {
      const replaced = reply.outcomes[reply.outcomes.length - 2] as RecordedOutcome;
      return {
        result: {
          status: reply.status,
          message: correctedOutcomeMessage(report.transactionId, replaced.outcome, replaced.knownAt, report.knownAt),
          replaced: { outcome: replaced.outcome, knownAt: replaced.knownAt },
        },
        toTerminal: reply,
      };
    }
    default:
      return { result: { status: reply.status, message: reply.status === 'applied' ? '' : duplicateOutcomeMessage(inForce.knownAt) }, toTerminal: reply };
  }
}
