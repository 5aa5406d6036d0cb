import type { DecisionLogConfig } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { DecisionLog, type SinkSetup } from './decisionLog.js';
import { FileSink } from './fileSink.js';

/** The client id the Kafka sink connects with (broker logs and quotas name it). */
const KAFKA_CLIENT_ID = 'fraud-scoring';

/** The decision log the configuration asks for, or undefined when no sink is configured. kafkajs loads only when Kafka is. */
export async function createDecisionLog(config: DecisionLogConfig, epochSeconds: number, metrics: Metrics, logger: Logger): Promise<DecisionLog | undefined> {
  const sinks: SinkSetup[] = [];
  if (config.file !== undefined) {
    sinks.push({
      sink: new FileSink({ dir: config.file.dir, instance: config.instance, maxBytes: config.file.maxBytes, rotateMs: config.file.rotateMs, keepFiles: config.file.keepFiles }),
      batchRecords: config.batchRecords,
      lingerMs: 0,
    });
  }
  if (config.kafka !== undefined) {
    const { KafkaSink } = await import('./kafkaSink.js');
    sinks.push({ sink: new KafkaSink({ ...config.kafka, clientId: KAFKA_CLIENT_ID }, logger), batchRecords: config.batchRecords, lingerMs: 0 });
  }
  if (sinks.length === 0) return undefined;
  const log = new DecisionLog({ sinks, bufferRecords: config.bufferRecords, instance: config.instance, epochSeconds, metrics, logger });
  logger.info(
    {
      sinks: log.sinkNames,
      instance: config.instance,
      bufferRecords: config.bufferRecords,
      dir: config.file?.dir,
      kafka: config.kafka && { brokers: config.kafka.brokers, topic: config.kafka.topic, tls: config.kafka.tls, sasl: config.kafka.sasl?.mechanism },
    },
    'decision log on',
  );
  return log;
}
