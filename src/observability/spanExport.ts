import { TraceFlags, type Context } from '@opentelemetry/api';
import { ExportResultCode, hrTimeToMilliseconds, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/**
 * The way out of finished spans: a bounded queue in front of the SDK's batch
 * processor, and an exporter wrapper that sees what the collector took. Spans
 * that never reach it are counted in fraud_tracing_spans_dropped_total and
 * logged once per outage (the SDK itself only tells its diagnostics logger,
 * which is silent), and nothing here ever waits on the collector: a call ends
 * its spans and goes on.
 */

export type DropReason = 'queue_full' | 'export_failed' | 'shutdown';

/** Counts and logs lost spans: one warning when losses start, one line when the collector takes spans again. */
export class SpanLoss {
  private losing = false;

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  dropped(reason: DropReason, count: number, error?: Error): void {
    this.metrics.tracingSpansDropped.labels(reason).inc(count);
    if (this.losing || reason === 'shutdown') return;
    this.losing = true;
    this.logger.warn(
      { reason, spans: count, error: error?.message },
      'trace spans are being dropped (collector slow or unreachable); fraud_tracing_spans_dropped_total counts them, and this is logged again only after the collector has taken spans',
    );
  }

  exported(count: number): void {
    this.metrics.tracingSpansExported.inc(count);
    if (!this.losing) return;
    this.losing = false;
    this.logger.info('the trace collector takes spans again');
  }
}

/**
 * Holds at most `maxQueueSize` finished spans waiting for export (the batch
 * processor's own bound is the same, so it never drops silently itself): past
 * it, spans are dropped and counted. `taken` is told when the batch processor
 * hands spans to the exporter.
 */
export class BoundedSpanProcessor implements SpanProcessor {
  private queued = 0;

  constructor(
    private readonly batch: SpanProcessor,
    private readonly maxQueueSize: number,
    private readonly loss: SpanLoss,
  ) {}

  /** Spans finished and not yet handed to the exporter. */
  get pending(): number {
    return this.queued;
  }

  taken(count: number): void {
    this.queued = Math.max(0, this.queued - count);
  }

  onStart(span: Span, parentContext: Context): void {
    this.batch.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    // Unsampled spans are never exported (the batch processor skips them too).
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.queued >= this.maxQueueSize) {
      this.loss.dropped('queue_full', 1);
      return;
    }
    this.queued++;
    this.batch.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.batch.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.batch.shutdown();
  }
}

/** Tells the queue what the batch processor took, and the loss counter what the collector refused. */
export class ReportingExporter implements SpanExporter {
  private exporting = 0;

  constructor(
    private readonly exporter: SpanExporter,
    private readonly queue: () => BoundedSpanProcessor | undefined,
    private readonly loss: SpanLoss,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.queue()?.taken(spans.length);
    this.exporting += spans.length;
    this.exporter.export(spans, (result) => {
      this.exporting -= spans.length;
      if (result.code === ExportResultCode.SUCCESS) this.loss.exported(spans.length);
      else this.loss.dropped('export_failed', spans.length, result.error);
      resultCallback(result);
    });
  }

  /** Spans handed to the exporter whose export has not ended yet. */
  get inFlight(): number {
    return this.exporting;
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.exporter.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * OTEL_TRACES_EXPORTER=console: each span as one JSON log line (component
 * "tracing"), since every line the service prints is JSON; the SDK's console
 * exporter prints multi-line objects.
 */
export class LogSpanExporter implements SpanExporter {
  constructor(private readonly logger: Logger) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    for (const span of spans) {
      const context = span.spanContext();
      this.logger.info(
        {
          trace_id: context.traceId,
          span_id: context.spanId,
          parent_span_id: span.parentSpanContext?.spanId,
          kind: span.kind,
          duration_ms: hrTimeToMilliseconds(span.duration),
          attributes: span.attributes,
          status: span.status,
        },
        `span ${span.name}`,
      );
    }
    resultCallback({ code: ExportResultCode.SUCCESS });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
