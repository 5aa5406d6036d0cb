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
