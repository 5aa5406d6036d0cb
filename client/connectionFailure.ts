import { status } from '@grpc/grpc-js';
import type { FraudCallError } from './fraudClient.js';

/** Why a connection could not be made, by the socket error grpc-js names in its "Last error". */
const CAUSES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'name not found',
  EAI_AGAIN: 'name not resolved',
};

/**
 * When a call failed because no connection to the address could be made (no
 * service listens there, the name does not resolve), why, in a few words;
 * undefined for any other failure, including the service's own UNAVAILABLE
 * and a deadline that passed while the service was working on the call.
 * grpc-js says it as nested "No connection established. Last error: …" text.
 */
export function connectionFailure(error: FraudCallError): string | undefined {
  // The deadline passed while the call still waited for a connection (an address that never answers).
  if (error.code === status.DEADLINE_EXCEEDED) return /Waiting for LB pick\s*$/.test(error.details) ? 'no connection before the deadline' : undefined;
  if (error.code !== status.UNAVAILABLE) return undefined;
  if (error.details.startsWith('Name resolution failed')) return 'name not resolved';
  if (!/No connection established|Failed to connect/i.test(error.details)) return undefined;
  const code = /\b(E[A-Z_]{3,})\b/.exec(error.details)?.[1];
  return code === undefined ? 'no connection' : (CAUSES[code] ?? code);
}
