import { hostname } from 'node:os';
import { boolean, ConfigError, integer, oneOf, optionalPath, optionalUrl, raw, seconds, shown, text, type Env } from './envValues.js';

/** The decision log's variables (see decisionLogConfig). */
export const DECISION_LOG_VARIABLES = [
  'FRAUD_DECISION_LOG_INSTANCE',
  'FRAUD_DECISION_LOG_BUFFER_RECORDS',
  'FRAUD_DECISION_LOG_BATCH_RECORDS',
  'FRAUD_DECISION_LOG_DIR',
  'FRAUD_DECISION_LOG_FILE_MAX_BYTES',
  'FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS',
  'FRAUD_DECISION_LOG_FILE_KEEP',
  'FRAUD_DECISION_LOG_FILE_FLUSH_SECONDS',
  'FRAUD_DECISION_LOG_KAFKA_BROKERS',
  'FRAUD_DECISION_LOG_KAFKA_TOPIC',
  'FRAUD_DECISION_LOG_KAFKA_TLS',
  'FRAUD_DECISION_LOG_KAFKA_CA_FILE',
  'FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM',
  'FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME',
  'FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD',
  'FRAUD_DECISION_LOG_S3_URI',
  'FRAUD_DECISION_LOG_S3_OBJECT_RECORDS',
  'FRAUD_DECISION_LOG_S3_FLUSH_SECONDS',
] as const;

export interface DecisionLogConfig {
  /** The service instance named in every record and file name (the pod name in Kubernetes). */
  readonly instance: string;
  /** Records each sink buffers at most; beyond, new records are dropped and counted. */
  readonly bufferRecords: number;
  /** Records per Kafka send or file append at most. */
  readonly batchRecords: number;
  /** Local JSON Lines files (gzip), or undefined when off. */
  readonly file:
    | {
        readonly dir: string;
        readonly maxBytes: number;
        readonly rotateMs: number;
        readonly keepFiles: number;
        /** How long a record may wait for others to share its append (one gzip member), unless a batch fills first. */
        readonly flushMs: number;
      }
    | undefined;
  /** Apache Kafka, or undefined when off. */
  readonly kafka: KafkaDecisionLogConfig | undefined;
  /** Object storage (S3, MinIO, lakeFS's S3 gateway; endpoint and credentials as for models), or undefined when off. */
  readonly s3: { readonly bucket: string; readonly prefix: string; readonly objectRecords: number; readonly flushMs: number } | undefined;
}

export interface KafkaDecisionLogConfig {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly tls: boolean;
  readonly caFile: string | undefined;
  readonly sasl: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string } | undefined;
}

/**
 * A buffered record keeps its call's decoded transaction, feature row and
 * probabilities referenced until the sink has written it: measured about
 * 0.2 KB a record from batch calls and 0.7 KB from unary calls, so 50,000
 * are at most about 35 MB, several seconds of a busy replica's calls.
 */
export const DEFAULT_DECISION_LOG_BUFFER_RECORDS = 50_000;

/**
 * Each sink is on when its location is set: FRAUD_DECISION_LOG_DIR (files),
 * FRAUD_DECISION_LOG_KAFKA_BROKERS (Kafka). The settings of a sink that is
 * off are refused rather than ignored.
 */
export function decisionLogConfig(env: Env): DecisionLogConfig {
  const dir = optionalPath(env, 'FRAUD_DECISION_LOG_DIR');
  if (dir === undefined) {
    for (const name of ['FRAUD_DECISION_LOG_FILE_MAX_BYTES', 'FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS', 'FRAUD_DECISION_LOG_FILE_KEEP', 'FRAUD_DECISION_LOG_FILE_FLUSH_SECONDS']) {
      if (raw(env, name) !== undefined) throw new ConfigError(name, 'is used only with FRAUD_DECISION_LOG_DIR, which is unset');
    }
  }
  const bufferRecords = integer(env, 'FRAUD_DECISION_LOG_BUFFER_RECORDS', DEFAULT_DECISION_LOG_BUFFER_RECORDS, 1, 10_000_000);
  // kafkajs encodes a send on the event loop: 500 records keep that to a millisecond or two.
  const batchRecords = integer(env, 'FRAUD_DECISION_LOG_BATCH_RECORDS', Math.min(bufferRecords, 500), 1, 100_000);
  if (batchRecords > bufferRecords) {
    throw new ConfigError('FRAUD_DECISION_LOG_BATCH_RECORDS', `must be at most FRAUD_DECISION_LOG_BUFFER_RECORDS (${bufferRecords}), got ${batchRecords}`);
  }
  return {
    instance: text(env, 'FRAUD_DECISION_LOG_INSTANCE', env.HOSTNAME ?? hostname()),
    bufferRecords,
    batchRecords,
    file:
      dir === undefined
        ? undefined
        : {
            dir,
            maxBytes: integer(env, 'FRAUD_DECISION_LOG_FILE_MAX_BYTES', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024 * 1024),
            rotateMs: seconds(env, 'FRAUD_DECISION_LOG_FILE_ROTATE_SECONDS', 3600, 1, 7 * 86_400),
            keepFiles: integer(env, 'FRAUD_DECISION_LOG_FILE_KEEP', 48, 1, 100_000),
            // An append per call costs a gzip member (its header and an empty dictionary) and a write:
            // about 5x the disk and many times the CPU of appends of hundreds of records.
            flushMs: seconds(env, 'FRAUD_DECISION_LOG_FILE_FLUSH_SECONDS', 1, 0, 3600),
          },
    kafka: kafkaDecisionLogConfig(env),
    s3: s3DecisionLogConfig(env, bufferRecords),
  };
}

/** s3://<bucket>/<prefix>: with lakeFS, s3://<repository>/<branch>/<path>. */
export function s3DecisionLogConfig(env: Env, bufferRecords: number): DecisionLogConfig['s3'] {
  const url = optionalUrl(env, 'FRAUD_DECISION_LOG_S3_URI', ['s3'], 's3://<bucket>/<prefix> (with lakeFS: s3://<repository>/<branch>/<path>)');
  if (url === undefined) {
    for (const name of ['FRAUD_DECISION_LOG_S3_OBJECT_RECORDS', 'FRAUD_DECISION_LOG_S3_FLUSH_SECONDS']) {
      if (raw(env, name) !== undefined) throw new ConfigError(name, 'is used only with FRAUD_DECISION_LOG_S3_URI, which is unset');
    }
    return undefined;
  }
  if (url.username !== '' || url.password !== '') throw new ConfigError('FRAUD_DECISION_LOG_S3_URI', 'must not hold credentials; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  if (url.hostname === '') throw new ConfigError('FRAUD_DECISION_LOG_S3_URI', `must name a bucket, got ${shown(url.toString())}`);
  const objectRecords = integer(env, 'FRAUD_DECISION_LOG_S3_OBJECT_RECORDS', Math.min(bufferRecords, 10_000), 1, 1_000_000);
  if (objectRecords > bufferRecords) {
    throw new ConfigError('FRAUD_DECISION_LOG_S3_OBJECT_RECORDS', `must be at most FRAUD_DECISION_LOG_BUFFER_RECORDS (${bufferRecords}), got ${objectRecords}`);
  }
  return {
    bucket: url.hostname,
    prefix: decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, ''),
    objectRecords,
    flushMs: seconds(env, 'FRAUD_DECISION_LOG_S3_FLUSH_SECONDS', 60, 0, 86_400),
  };
}

export function kafkaDecisionLogConfig(env: Env): KafkaDecisionLogConfig | undefined {
  const list = raw(env, 'FRAUD_DECISION_LOG_KAFKA_BROKERS');
  const others = ['FRAUD_DECISION_LOG_KAFKA_TOPIC', 'FRAUD_DECISION_LOG_KAFKA_TLS', 'FRAUD_DECISION_LOG_KAFKA_CA_FILE', 'FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM', 'FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME', 'FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD'];
  if (list === undefined) {
    for (const name of others) {
      if (raw(env, name) !== undefined) throw new ConfigError(name, 'is used only with FRAUD_DECISION_LOG_KAFKA_BROKERS, which is unset');
    }
    return undefined;
  }
  const brokers = list.split(',').map((entry) => {
    const broker = entry.trim();
    const match = /^(?:\[[0-9a-fA-F:.]+\]|[^\s:[\]/@]+):(\d{1,5})$/.exec(broker);
    if (match === null || Number(match[1]) < 1 || Number(match[1]) > 65_535) {
      throw new ConfigError('FRAUD_DECISION_LOG_KAFKA_BROKERS', `must be a comma-separated list of host:port, got ${shown(broker)}`);
    }
    return broker;
  });
  const topic = text(env, 'FRAUD_DECISION_LOG_KAFKA_TOPIC', 'fraud-decisions');
  // Kafka's own rule for topic names.
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic) || topic === '.' || topic === '..') {
    throw new ConfigError('FRAUD_DECISION_LOG_KAFKA_TOPIC', `must be a Kafka topic name (letters, digits, '.', '_', '-'; at most 249), got ${JSON.stringify(topic)}`);
  }
  const caFile = optionalPath(env, 'FRAUD_DECISION_LOG_KAFKA_CA_FILE');
  const tls = boolean(env, 'FRAUD_DECISION_LOG_KAFKA_TLS', caFile !== undefined);
  if (caFile !== undefined && !tls) throw new ConfigError('FRAUD_DECISION_LOG_KAFKA_CA_FILE', 'is used only with TLS; unset FRAUD_DECISION_LOG_KAFKA_TLS=false');
  const mechanism = raw(env, 'FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM') === undefined
    ? undefined
    : oneOf(env, 'FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM', 'plain', ['plain', 'scram-sha-256', 'scram-sha-512'] as const);
  const username = raw(env, 'FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME');
  // The password is taken as it is (spaces and all), and never shown in an error.
  const password = env.FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD;
  if (mechanism === undefined) {
    for (const name of ['FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME', 'FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD']) {
      if (raw(env, name) !== undefined) throw new ConfigError(name, 'is used only with FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM, which is unset');
    }
  } else {
    if (username === undefined) throw new ConfigError('FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME', `is required with FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM=${mechanism}`);
    if (password === undefined || password === '') throw new ConfigError('FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD', `is required with FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM=${mechanism} (from a Secret)`);
  }
  return {
    brokers,
    topic,
    tls,
    caFile,
    sasl: mechanism === undefined ? undefined : { mechanism, username: username ?? '', password: password ?? '' },
  };
}
