import assert from 'node:assert/strict';
import { FraudClient, type TransactionInput } from '../../client/fraudClient.js';
import { KafkaBroker, type KafkaSaslUsers } from '../helpers/kafka.js';
import { sample, scrape } from '../helpers/scrape.js';
import { spawnService, type SpawnedService } from '../helpers/spawnService.js';
import { waitFor } from '../helpers/waitFor.js';

const TOPIC = 'fraud-decisions';
const USERS: KafkaSaslUsers = {
  admin: { username: 'broker', password: 'broker-secret-51c2' },
  user: { username: 'fraud-scoring', password: 'decision-log-secret-9f3a7e' },
};
let nextId = 8_000_000;

function transactions(count: number): TransactionInput[] {
  return Array.from({ length: count }, () => {
    const id = nextId++;
    return { transactionId: id, customerId: 600 + (id % 40), terminalId: 700 + (id % 10), txAmount: 30 + (id % 60), txTimeSeconds: 86_400 + (id - 8_000_000) };
  });
}

describe('decision log to Kafka with SASL/PLAIN (a real broker)', function () {
  this.timeout(180_000);
  let broker: KafkaBroker;
  const services: SpawnedService[] = [];

  before(async () => {
    broker = await KafkaBroker.start(USERS);
    await broker.createTopic(TOPIC, 1);
  });

  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.kill('SIGKILL')));
  });

  after(async () => {
    await broker.stop();
  });

  async function start(password: string): Promise<{ service: SpawnedService; client: FraudClient; metric: (series: string) => Promise<number> }> {
    const service = await spawnService({
      FRAUD_DECISION_LOG_KAFKA_BROKERS: broker.bootstrap,
      FRAUD_DECISION_LOG_KAFKA_SASL_MECHANISM: 'plain',
      FRAUD_DECISION_LOG_KAFKA_SASL_USERNAME: USERS.user.username,
      FRAUD_DECISION_LOG_KAFKA_SASL_PASSWORD: password,
    });
    services.push(service);
    await service.waitForLog('serving');
    const client = new FraudClient({ address: service.address, retry: { attempts: 1 } });
    return { service, client, metric: async (series) => sample(await scrape(service.metricsPort), series) ?? Number.NaN };
  }

  /** Everything the process wrote, debug lines included (spawnService runs it at debug level). */
  const output = (service: SpawnedService): string => JSON.stringify(service.logs) + service.stderr.join('');

  it('should deliver with the right credentials, and never log the password', async () => {
    const { service, client, metric } = await start(USERS.user.password);
    try {
      const before = await broker.messageCount(TOPIC);
      await client.predictBatch(transactions(120));
      await waitFor('records acknowledged', async () => (await metric('fraud_decision_log_records_total{sink="kafka"}')) === 120, 60_000, 100);
      assert.equal(await broker.messageCount(TOPIC), before + 120);
      assert.ok(!output(service).includes(USERS.user.password), 'the SASL password is in the service output');
    } finally {
      client.close();
    }
  });

  it('should count failed writes with a wrong password, deliver nothing, answer every call, and never log the password', async () => {
    const wrong = 'not-the-password-3b8d0c';
    const { service, client, metric } = await start(wrong);
    try {
      const before = await broker.messageCount(TOPIC);
      const answer = await client.predictBatch(transactions(30));
      assert.equal(answer.predictions.length, 30);
      await waitFor('a failed write', async () => (await metric('fraud_decision_log_write_failures_total{sink="kafka"}')) > 0, 60_000, 100);
      assert.equal(await metric('fraud_decision_log_records_total{sink="kafka"}'), 0);
      assert.equal(await metric('fraud_decision_log_buffered_records{sink="kafka"}'), 30);
      assert.equal(await broker.messageCount(TOPIC), before);
      const failure = service.logs.find((line) => /writing to the sink failed/.test(line.msg));
      assert.ok(failure !== undefined && /auth|SASL/i.test(String(failure.err)), JSON.stringify(failure));
      assert.ok(!output(service).includes(wrong), 'the SASL password is in the service output');
    } finally {
      client.close();
    }
  });
});
