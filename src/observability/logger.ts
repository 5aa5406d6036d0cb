import { setLogger as setGrpcLogger } from '@grpc/grpc-js';
import { format } from 'node:util';
import { pino, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Log text buffered while stdout is slower than the service; past this, lines are dropped rather than memory grown. */
const MAX_BUFFERED_LOG_BYTES = 16 * 1024 * 1024;

/**
 * Where the JSON lines go: stdout, through Node's own stream, which writes to
 * a pipe without blocking and never holds up the process's exit. pino's
 * default stdout writer used blocking writes on a worker thread and a
 * synchronous flush at exit that retried a write error forever: with stdout a
 * pipe whose reader had gone, or that nobody read, the process never ended
 * (and could not handle a second signal). Here a broken stdout just stops the
 * logging, a slow one drops lines past MAX_BUFFERED_LOG_BYTES, and `flush`
 * waits a bounded time.
 */
export class LogOutput implements DestinationStream {
  private broken = false;
  private dropped = 0;

  constructor(private readonly stream: NodeJS.WriteStream = process.stdout) {
    stream.on('error', () => {
      // EPIPE (the reader has gone) or any other write error: nowhere left to log to.
      this.broken = true;
    });
  }

  /** Lines dropped because stdout did not keep up. */
  get droppedLines(): number {
    return this.dropped;
  }

  write(line: string): void {
    if (this.broken) return;
    if (this.stream.writableLength > MAX_BUFFERED_LOG_BYTES) {
      this.dropped++;
      return;
    }
    this.stream.write(line);
  }

  /** Resolves once what was written has reached stdout, or after `timeoutMs`, or at once if stdout is broken. */
  flush(timeoutMs: number): Promise<void> {
    if (this.broken || this.stream.writableLength === 0) return Promise.resolve();
    return new Promise((resolveFlush) => {
      const timer = setTimeout(resolveFlush, timeoutMs);
      // Writes complete in order: this one's callback means every earlier line is out.
      this.stream.write('', () => {
        clearTimeout(timer);
        resolveFlush();
      });
    });
  }
}

/**
 * JSON lines on stdout. Secrets never reach the logger in the first place; the
 * redaction list is a second line of defence for fields that could carry one.
 */
export function createLogger(level: Level | 'silent', destination: DestinationStream = new LogOutput()): Logger {
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

/**
 * Every line the service prints is JSON. Libraries print plain text too: the
 * AWS SDK warns through process.emitWarning (which Node prints to stderr over
 * several lines) and console.warn. Process warnings and console output go
 * into the log instead, one JSON line each.
 */
export function routeProcessOutput(logger: Logger): void {
  const warnings = logger.child({ component: 'process' });
  // Node's own listener is what prints warnings to stderr.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    warnings.warn({ warning: warning.name, code: (warning as NodeJS.ErrnoException).code }, warning.message);
  });
  const consoleLogger = logger.child({ component: 'console' });
  const to = (level: Level) => (...parts: unknown[]) => {
    consoleLogger[level](format(...parts));
  };
  console.error = to('error');
  console.warn = to('warn');
  console.info = to('info');
  console.log = to('info');
  console.debug = to('debug');
  console.trace = to('trace');
}
