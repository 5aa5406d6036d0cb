import { ServerInterceptingCall, type Metadata, type ServerInterceptingCallInterface } from '@grpc/grpc-js';
import { constants } from 'node:http2';
import type { Logger } from '../observability/logger.js';
import { toCallError } from './apiErrors.js';
import { http2StreamOf } from './callStream.js';
import { CheckedRequest } from './requestDecoding.js';
import type { RowAdmission, RowHold } from './rowAdmission.js';

/**
 * Admission of a stream of requests (PredictStream): each request message
 * takes its rows when it arrives, or the stream ends with RESOURCE_EXHAUSTED.
 * The rows ride on the request (CheckedRequest.admitted) to the handler, which
 * marks them answered when it hands over the request's answer and gives them
 * back once that answer is written: an answer the client leaves unread holds
 * its rows, and after the time limit resets the stream as it does a unary
 * call. Whatever the stream still holds when it ends is given back.
 */
export function streamAdmission(admission: RowAdmission, call: ServerInterceptingCallInterface, logger: Logger, path: string): ServerInterceptingCall {
  const methodName = path.slice(path.lastIndexOf('/') + 1);
  const connection = call.getPeer();
  const holds = new Set<RowHold>();
  let refused = false;
  const refuse = (error: unknown): void => {
    refused = true;
    const { code, details, metadata } = toCallError(error, logger, methodName);
    call.sendStatus({ code, details, metadata: metadata ?? null });
  };
  // The whole stream goes, with every row it holds: one reset per call, whichever of its answers waited too long.
  const reset = (): void => {
    for (const hold of holds) hold.release();
    holds.clear();
    http2StreamOf(call)?.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
  };
  // Past its deadline grpc-js queues the status behind the answers not yet written, so a stream whose client
  // stopped reading would hold its rows until the unread-answer limit: its client has given up, so it goes now.
  const deadline = call.getDeadline();
  const deadlineTimer = Number.isFinite(Number(deadline))
    ? setTimeout(
        () => {
          if (holds.size === 0) return;
          for (const hold of holds) hold.release();
          holds.clear();
          http2StreamOf(call)?.close(constants.NGHTTP2_CANCEL);
        },
        Math.max(0, Number(deadline) - Date.now()),
      )
    : undefined;
  deadlineTimer?.unref();
  return new ServerInterceptingCall(call, {
    start: (next) => {
      next({
        onReceiveMetadata: (metadata: Metadata, nextMetadata: (metadata: Metadata) => void) => {
          try {
            admission.checkRoom(connection);
          } catch (error) {
            refuse(error);
            return;
          }
          nextMetadata(metadata);
        },
        onReceiveMessage: (message: unknown, nextMessage: (message: unknown) => void) => {
          if (refused) return;
          if (message instanceof CheckedRequest && message.rows > 0) {
            let hold: RowHold;
            try {
              hold = admission.admit(message.rows, connection, reset);
            } catch (error) {
              refuse(error);
              return;
            }
            holds.add(hold);
            message.admitted = {
              answered: () => {
                hold.answered();
              },
              release: () => {
                holds.delete(hold);
                hold.release();
              },
            };
          }
          nextMessage(message);
        },
        onReceiveHalfClose: (nextHalfClose: () => void) => {
          if (!refused) nextHalfClose();
        },
        onCancel: () => {
          clearTimeout(deadlineTimer);
          for (const hold of holds) hold.release();
          holds.clear();
        },
      });
    },
    // The final status waits for the answers before it to be written; what is still held counts as answered from now on.
    sendStatus: (sent, nextStatus) => {
      for (const hold of holds) hold.answered();
      nextStatus(sent);
    },
  });
}
