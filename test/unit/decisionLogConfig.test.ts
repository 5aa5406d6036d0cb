import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/envValues.js';
import { loadConfig } from '../../src/config/config.js';

/** loadConfig(env) fails with one line that names `variable`, and never shows `secret`. */
function refused(env: Record<string, string>, variable: string, secret?: string): void {
  assert.throws(
    () => loadConfig(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.variable, variable, error.message);
      assert.ok(error.message.startsWith(`${variable}: `), error.message);
      assert.ok(!error.message.includes('\n'), error.message);
      if (secret !== undefined) assert.ok(!error.message.includes(secret), error.message);
      return true;
    },
  );
}

describe('decision log configuration', () => {
  it('should be off by default: no sink', () => {
    const { decisionLog } = loadConfig({});
    assert.equal(decisionLog.file, undefined);
    assert.equal(decisionLog.kafka, undefined);
    assert.equal(decisionLog.bufferRecords, 50_000);
  });

  it('should turn each sink on by its location, with its defaults', () => {
    const { decisionLog } = loadConfig({ FRAUD_DECISION_LOG_DIR: '/var/log/fraud', FRAUD_DECISION_LOG_KAFKA_BROKERS: 'kafka-0:9092,kafka-1:9092' });
    assert.deepEqual(decisionLog.file, { dir: '/var/log/fraud', maxBytes: 16 * 1024 * 1024, rotateMs: 3_600_000, keepFiles: 48, flushMs: 1_000 });
    assert.deepEqual(decisionLog.kafka, { brokers: ['kafka-0:9092', 'kafka-1:9092'], topic: 'fraud-decisions', tls: false, caFile: undefined, sasl: undefined });
  });

  it('should turn TLS on with a CA file, and refuse a CA file with TLS turned off', () => {
    assert.equal(loadConfig({ FRAUD_DECISION_LOG_KAFKA_BROKERS: 'k:9093', FRAUD_DECISION_LOG_KAFKA_CA_FILE: '/etc/kafka/ca.pem' }).decisionLog.kafka?.tls, true);
    refused({ FRAUD_DECISION_LOG_KAFKA_BROKERS: 'k:9093', FRAUD_DECISION_LOG_KAFKA_CA_FILE: '/ca.pem', FRAUD_DECISION_LOG_KAFKA_TLS: 'false' }, 'FRAUD_DECISION_LOG_KAFKA_CA_FILE');
  });

  it('should refuse settings of a sink that is off, rather than ignore them', () => {
    refused({ FRAUD_DECISION_LOG_FILE_KEEP: '3' }, 'FRAUD_DECISION_LOG_FILE_KEEP');
    refused({ FRAUD_DECISION_LOG_FILE_FLUSH_SECONDS: '0' }, 'FRAUD_DECISION_LOG_FILE_FLUSH_SECONDS');
    refused({ FRAUD_DECISION_LOG_KAFKA_TOPIC: 'decisions' }, 'FRAUD_DECISION_LOG_KAFKA_TOPIC');
  });

  it('should refuse brokers that are not host:port, and topic names Kafka refuses', () => {
    refused({ FRAUD_DECISION_LOG_KAFKA_BROKERS: 'kafka-0' }, 'FRAUD_DECISION_LOG_KAFKA_BROKERS');
    refused({ FRAUD_DECISION_LOG_KAFKA_BROKERS: 'kafka://kafka-0:9092' }, 'FRAUD_DECISION_LOG_KAFKA_BROKERS');
    refused({ FRAUD_DECISION_LOG_KAFKA_BROKERS: 'kafka-0:70000' }, 'FRAUD_DECISION_LOG_KAFKA_BROKERS');
    refused({ FRAUD_DECISION_LOG_KAFKA_BROKERS: 'k:9092', FRAUD_DECISION_LOG_KAFKA_TOPIC: 'fraud decisions' }, 'FRAUD_DECISION_LOG_KAFKA_TOPIC');
  });

  it('should need a user and a password with a SASL mechanism, and never show the password', () => {
    const base = { FRAUD_DECISION_LOG_KAFKA_BROKERS: 'k:9093', FRAUD_DECISION_LOG_KAFKA_TLS: 'true' };
    refused({ ...base, FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM: 'scram-sha-256', FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD: 'pw-7d41' }, 'FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME', 'pw-7d41');
    refused({ ...base, FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM: 'scram-sha-256', FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME: 'fraud' }, 'FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD');
    refused({ ...base, FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM: 'gssapi', FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME: 'fraud', FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD: 'pw-7d41' }, 'FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM', 'pw-7d41');
    refused({ ...base, FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD: 'pw-7d41' }, 'FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD', 'pw-7d41');
  });

  it('should refuse a batch larger than the buffer', () => {
    refused({ FRAUD_DECISION_LOG_BUFFER_RECORDS: '100', FRAUD_DECISION_LOG_BATCH_RECORDS: '101' }, 'FRAUD_DECISION_LOG_BATCH_RECORDS');
    assert.equal(loadConfig({ FRAUD_DECISION_LOG_BUFFER_RECORDS: '100', FRAUD_DECISION_LOG_BATCH_RECORDS: '100' }).decisionLog.batchRecords, 100);
    assert.equal(loadConfig({ FRAUD_DECISION_LOG_BUFFER_RECORDS: '100' }).decisionLog.batchRecords, 100, 'the default batch fits a small buffer');
  });
});
