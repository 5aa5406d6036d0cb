import { readFileSync } from 'node:fs';
import { CompressionTypes, Kafka, logLevel, Partitioners, type KafkaConfig, type LogEntry, type Producer, type SASLOptions } from 'kafkajs';
import type { Logger } from '../observability/logger.js';
import type { DecisionSink } from './decisionSink.js';
import type { EncodedRecord } from './decisionRecords.js';

export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaSinkConfig {
  /** host:port of the bootstrap brokers. */
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly clientId: string;
  /** TLS to the brokers; `caFile` adds a CA (PEM) to the system's. */
  readonly tls: boolean;
  readonly caFile: string | undefined;
  /** SASL authentication (over TLS in production); the password comes from the environment and is never logged. */
  readonly sasl: { readonly mechanism: KafkaSaslMechanism; readonly username: string; readonly password: string } | undefined;
}

/**
 * Decision records to an Apache Kafka topic with kafkajs: one message per
 * record, keyed by the transaction id (so a transaction's records share a
 * partition, and Java clients agree on which: murmur2 as theirs), gzip
 * batches, acknowledged by all in-sync replicas. The producer is idempotent:
 * kafkajs's own retries of a batch do not duplicate it. After a failed write
 * the producer is dropped and a new one connects for the next attempt, so an
 * outage, a broker restart or a lost producer id all end the same way.
 */
export class KafkaSink implements DecisionSink {
  readonly name = 'kafka';
  private readonly kafka: Kafka;
  private producer: Producer | undefined;

  constructor(
    private readonly config: KafkaSinkConfig,
    logger: Logger,
  ) {
    const kafkaConfig: KafkaConfig = {
      clientId: config.clientId,
      brokers: [...config.brokers],
      ssl: config.tls ? (config.caFile === undefined ? true : { ca: [readFileSync(config.caFile, 'utf8')] }) : false,
      // Fail a write within seconds: the queue above retries with its own backoff and counts what it drops.
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2_000 },
      logLevel: logLevel.INFO,
      // kafkajs's own lines (one per retry during an outage) go to the service's log at debug level; the queue logs an outage once.
      logCreator: () => (entry: LogEntry) => {
        const { message, ...extra } = entry.log;
        logger.debug({ kafkajs: entry.namespace, ...pick(extra) }, `kafkajs: ${message}`);
      },
    };
    if (config.sasl !== undefined) kafkaConfig.sasl = config.sasl as SASLOptions;
    this.kafka = new Kafka(kafkaConfig);
  }

  async write(records: readonly EncodedRecord[]): Promise<void> {
    const producer = await this.connected();
    try {
      await producer.send({
        topic: this.config.topic,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: records.map((record) => ({ key: record.key, value: record.json, timestamp: String(record.decidedAtMs) })),
      });
    } catch (error) {
      this.producer = undefined;
      await producer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect();
  }

  private async connected(): Promise<Producer> {
    if (this.producer !== undefined) return this.producer;
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // The topic is the operator's: a missing one is an outage to see, not one to create with broker defaults.
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2_000 },
    });
    try {
      await producer.connect();
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      throw error;
    }
    this.producer = producer;
    return producer;
  }
}

/** kafkajs log fields worth keeping (never its configuration: that may hold SASL credentials). */
function pick(extra: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const field of ['broker', 'clientId', 'error', 'retryCount', 'retryTime', 'topic', 'groupId']) {
    if (extra[field] !== undefined) kept[field] = extra[field];
  }
  return kept;
}
