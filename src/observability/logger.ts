import { setLogger as setGrpcLogger } from '@grpc/grpc-js';
import { pino, type Level, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * JSON lines on stdout. Secrets never reach the logger in the first place; the
 * redaction list is a second line of defence for fields that could carry one.
 */
export function createLogger(level: Level | 'silent', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'fraud-scoring' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['*.secretAccessKey', '*.sessionToken', '*.authorization', '*.password', 'credentials'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/**
 * grpc-js writes its own errors ("No address added…") to stderr as plain text;
 * this routes them into the JSON log instead.
 */
export function routeGrpcLogs(logger: Logger): void {
  const grpcLogger = logger.child({ component: 'grpc-js' });
  setGrpcLogger({
    error: (...parts: unknown[]) => {
      grpcLogger.warn(parts.map(String).join(' '));
    },
    info: (...parts: unknown[]) => {
      grpcLogger.debug(parts.map(String).join(' '));
    },
    debug: (...parts: unknown[]) => {
      grpcLogger.trace(parts.map(String).join(' '));
    },
  });
}
