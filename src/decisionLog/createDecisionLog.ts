import type { Config } from '../config/config.js';
import type { DecisionLogConfig } from '../config/decisionLogConfig.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { DecisionLog, type SinkSetup } from './decisionLog.js';
import { FileSink } from './fileSink.js';

/** The client id the Kafka sink connects with (broker logs and quotas name it). */
const KAFKA_CLIENT_ID = 'fraud-scoring';

/** The decision log the configuration asks for, or undefined when no sink is configured. kafkajs loads only when Kafka is. */
export async function createDecisionLog(
  config: DecisionLogConfig,
  s3: Config['s3'],
  epochSeconds: number,
  metrics: Metrics,
  logger: Logger,
): Promise<DecisionLog | undefined> {
  const sinks: SinkSetup[] = [];
  if (config.file !== undefined) {
    sinks.push({
      sink: new FileSink({ dir: config.file.dir, instance: config.instance, maxBytes: config.file.maxBytes, rotateMs: config.file.rotateMs, keepFiles: config.file.keepFiles }),
      batchRecords: config.batchRecords,
      lingerMs: config.file.flushMs,
    });
  }
  if (config.kafka !== undefined) {
    const { KafkaSink } = await import('./kafkaSink.js');
    sinks.push({ sink: new KafkaSink({ ...config.kafka, clientId: KAFKA_CLIENT_ID }, logger), batchRecords: config.batchRecords, lingerMs: 0 });
  }
  if (config.s3 !== undefined) {
    // Loaded only when configured, as for models: the AWS SDK costs about 20 MB.
    const [{ S3Client }, { S3Sink }] = await Promise.all([import('@aws-sdk/client-s3'), import('./s3Sink.js')]);
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      // The queue retries with its own backoff.
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 30_000 },
    });
    sinks.push({
      sink: new S3Sink({ client, bucket: config.s3.bucket, prefix: config.s3.prefix, instance: config.instance, endpoint: s3.endpoint }),
      batchRecords: config.s3.objectRecords,
      lingerMs: config.s3.flushMs,
    });
  }
  if (sinks.length === 0) return undefined;
  const log = new DecisionLog({ sinks, bufferRecords: config.bufferRecords, instance: config.instance, epochSeconds, metrics, logger });
  logger.info(
    {
      sinks: log.sinkNames,
      instance: config.instance,
      bufferRecords: config.bufferRecords,
      dir: config.file?.dir,
      fileFlushSeconds: config.file === undefined ? undefined : config.file.flushMs / 1000,
      kafka: config.kafka && { brokers: config.kafka.brokers, topic: config.kafka.topic, tls: config.kafka.tls, sasl: config.kafka.sasl?.mechanism },
      s3: config.s3 && { uri: `s3://${config.s3.bucket}/${config.s3.prefix}`, endpoint: s3.endpoint, objectRecords: config.s3.objectRecords, flushSeconds: config.s3.flushMs / 1000 },
    },
    'decision log on',
  );
  return log;
}
