import assert from 'node:assert/strict';
import type { TransactionInput } from '../../client/fraudClient.js';
import { DecisionRecord, DecisionRole } from '../../src/gen/fraud/v1/decision_record.js';
import { ModelTask, type ModelRef } from '../../src/gen/fraud/v1/fraud_service.js';
import { KafkaBroker, type ReadMessage } from '../helpers/kafka.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';
import { waitFor } from '../helpers/waitFor.js';

const TOPIC = 'fraud-decisions';
/** More than the first test's calls, so none is dropped however slow the machine; the outage test sends more. */
const BUFFER_RECORDS = 5_000;
const INSTANCE = 'fraud-scoring-test-0';
/** The simulator's epoch (tx_time_seconds counts from it). */
const EPOCH_MS = Date.UTC(2018, 3, 1);

/** What the caller got for one transaction of one call: the record must say the same. */
interface Answered {
  readonly transaction: TransactionInput;
  readonly method: string;
  readonly task: ModelTask;
  readonly model: ModelRef;
  readonly classId: number;
  readonly prediction: string;
  readonly fraudProbability: number;
  readonly probabilities: readonly number[];
  /** The features the model saw (explain), or undefined when the call did not ask. */
  readonly features: Readonly<Record<string, number>> | undefined;
  readonly threshold: number | undefined;
}

let nextId = 7_000_000_000;

/** `count` transactions of new ids, over a few hundred cards, some over the amount that is fraud whatever the card. */
function transactions(count: number): TransactionInput[] {
  return Array.from({ length: count }, () => {
    const id = nextId++;
    return {
      transactionId: id,
      customerId: 500_000 + (id % 397),
      terminalId: 800_000 + (id % 113),
      txAmount: id % 11 === 0 ? 250 + (id % 50) : 5 + (id % 170),
      // Ascending by id: every card's transactions arrive in order, well within the lateness.
      txTimeSeconds: 30 * 86_400 + (id - 7_000_000_000),
    };
  });
}

describe('decision log to Apache Kafka (a real broker)', function () {
  this.timeout(240_000);
  let broker: KafkaBroker;
  let service: TestService;

  before(async () => {
    broker = await KafkaBroker.start();
    await broker.createTopic(TOPIC, 3);
    service = await startTestService({
      FRAUD_DECISION_LOG_KAFKA_BROKERS: broker.bootstrap,
      FRAUD_DECISION_LOG_KAFKA_TOPIC: TOPIC,
      FRAUD_DECISION_LOG_BUFFER_RECORDS: String(BUFFER_RECORDS),
      FRAUD_DECISION_LOG_INSTANCE: INSTANCE,
    });
  });

  after(async () => {
    await service.stop();
    await broker.stop();
  });

  const metric = async (series: string): Promise<number> => sample(await scrape(service.service.metricsPort), series) ?? Number.NaN;
  const delivered = (): Promise<number> => metric('fraud_decision_log_records_total{sink="kafka"}');

  /**
   * Scores `list` with every kind of scoring call, some with explain: batches
   * one after another, then (a share `unaryShare` of the list) unary Predict
   * and PredictScenario calls side by side. Returns what the callers got, in
   * the order the calls were answered for the batches.
   */
  async function score(list: readonly TransactionInput[], unaryShare = 0.4): Promise<Answered[]> {
    const answered: Answered[] = [];
    const batchPart = Math.ceil(list.length * (1 - unaryShare));
    const batchSize = 250;
    for (let start = 0; start < batchPart; start += batchSize) {
      const batch = list.slice(start, Math.min(batchPart, start + batchSize));
      const explain = (start / batchSize) % 2 === 0;
      const response = await service.client.predictBatch(batch, { explain });
      response.predictions.forEach((prediction, index) => {
        answered.push({
          transaction: batch[index] as TransactionInput,
          method: 'fraud.v1.FraudService/PredictBatch',
          task: ModelTask.MODEL_TASK_BINARY,
          model: response.model as ModelRef,
          ...prediction,
          features: explain ? prediction.features : undefined,
          threshold: response.threshold,
        });
      });
    }
    // Unary calls side by side, as a busy service gets them.
    const unary = list.slice(batchPart);
    const answers = await Promise.all(
      unary.map(async (transaction, index): Promise<Answered> => {
        const explain = index % 3 !== 0;
        if (index % 5 === 0) {
          const response = await service.client.predictScenario(transaction, { explain });
          return {
            transaction,
            method: 'fraud.v1.FraudService/PredictScenario',
            task: ModelTask.MODEL_TASK_MULTICLASS,
            ...response,
            model: response.model as ModelRef,
            features: explain ? response.features : undefined,
            threshold: undefined,
          };
        }
        const response = await service.client.predict(transaction, { explain });
        return {
          transaction,
          method: 'fraud.v1.FraudService/Predict',
          task: ModelTask.MODEL_TASK_BINARY,
          ...response,
          model: response.model as ModelRef,
          features: explain ? response.features : undefined,
          threshold: response.threshold,
        };
      }),
    );
    answered.push(...answers);
    return answered;
  }

  /** Each message as a record, by transaction id; a repeated id fails (none is expected while the broker runs). */
  function byTransaction(messages: readonly ReadMessage[]): Map<string, { record: DecisionRecord; key: string }> {
    const records = new Map<string, { record: DecisionRecord; key: string }>();
    for (const message of messages) {
      const record = DecisionRecord.fromJSON(JSON.parse(message.value));
      const id = record.transactionId.toString();
      assert.ok(!records.has(id), `transaction ${id} is in the topic twice`);
      records.set(id, { record, key: message.key });
    }
    return records;
  }

  function assertRecordOf(answer: Answered, record: DecisionRecord, key: string): void {
    const { transaction } = answer;
    const id = String(transaction.transactionId);
    assert.equal(key, id, 'the message key is the transaction id');
    assert.equal(record.customerId, BigInt(transaction.customerId));
    assert.equal(record.terminalId, BigInt(transaction.terminalId));
    assert.equal(record.txAmount, transaction.txAmount);
    assert.equal(record.eventTime?.getTime(), EPOCH_MS + Number(transaction.txTimeSeconds) * 1000);
    assert.equal(record.method, answer.method);
    assert.equal(record.serviceInstance, INSTANCE);
    assert.ok(record.latencySeconds > 0, `latency ${record.latencySeconds}`);
    assert.ok(record.decidedAt !== undefined);
    assert.equal(record.models.length, 1);
    const [model] = record.models;
    assert.ok(model !== undefined);
    assert.equal(model.role, DecisionRole.DECISION_ROLE_SERVING);
    assert.equal(model.task, answer.task);
    assert.deepEqual({ name: model.name, version: model.version, revision: model.revision }, { ...answer.model });
    assert.deepEqual(model.probabilities, answer.probabilities, `probabilities of ${id}`);
    assert.equal(model.fraudProbability, answer.fraudProbability);
    assert.equal(model.classId, answer.classId);
    assert.equal(model.prediction, answer.prediction);
    assert.equal(model.threshold, answer.threshold);
    if (answer.features !== undefined) assert.deepEqual(model.features, answer.features, `features of ${id}`);
    else assert.ok(Object.keys(model.features).length > 0, `features of ${id} (scored without explain)`);
  }

  it('should hold in Kafka one record per answered transaction, equal to the answer (ids, features, probabilities, model), none lost over batches and unary calls', async () => {
    const answered = await score(transactions(3_000));
    await waitFor('every record acknowledged by Kafka', async () => (await delivered()) === answered.length, 60_000, 100);
    const messages = await broker.readAll(TOPIC, answered.length);
    assert.equal(messages.length, answered.length);
    const records = byTransaction(messages);
    for (const answer of answered) {
      const found = records.get(String(answer.transaction.transactionId));
      assert.ok(found !== undefined, `no record of transaction ${answer.transaction.transactionId}`);
      assertRecordOf(answer, found.record, found.key);
    }
    assert.ok(
      answered.some((answer) => answer.classId === 1 && answer.task === ModelTask.MODEL_TASK_BINARY),
      'some transactions are fraud, so both decisions are checked',
    );
    assert.equal(await metric('fraud_decision_log_records_dropped_total{sink="kafka",reason="buffer_full"}'), 0);
    assert.equal(await metric('fraud_decision_log_buffered_records{sink="kafka"}'), 0);
  });

  it('should keep answering while the broker is down, buffer up to the bound and count the rest as dropped, then deliver the buffered records and new ones once it is back', async () => {
    const before = await delivered();
    const droppedBefore = await metric('fraud_decision_log_records_dropped_total{sink="kafka",reason="buffer_full"}');
    assert.equal(await metric('fraud_decision_log_buffered_records{sink="kafka"}'), 0);
    const inTopicBefore = await broker.messageCount(TOPIC);
    await broker.kill();
    // More than the buffer holds, in batches one after another (so the buffer's order is the answers' order); every call must still be answered.
    const duringOutage = await score(transactions(BUFFER_RECORDS + 1_500), 0);
    assert.equal(duringOutage.length, BUFFER_RECORDS + 1_500);
    await waitFor('a failed write to be counted', async () => (await metric('fraud_decision_log_write_failures_total{sink="kafka"}')) > 0, 30_000, 100);
    const story = (): string =>
      JSON.stringify(service.logs.filter((line) => /decision log/.test(line.msg)).map(({ level, msg, ...rest }) => ({ level, msg, ...rest })));
    assert.equal(await metric('fraud_decision_log_records_dropped_total{sink="kafka",reason="buffer_full"}'), droppedBefore + 1_500, story());
    assert.equal(await metric('fraud_decision_log_buffered_records{sink="kafka"}'), BUFFER_RECORDS);
    assert.equal(await delivered(), before);
    const warnings = (text: RegExp): unknown[] => service.logs.filter((line) => line.level === 'warn' && text.test(line.msg));
    assert.equal(warnings(/writing to the sink failed/).length, 1, 'the outage is logged once');
    assert.equal(warnings(/the buffer is full/).length, 1, 'the drops are logged once');

    await broker.resume();
    await waitFor('the buffered records delivered after the broker returned', async () => (await delivered()) === before + BUFFER_RECORDS, 60_000, 100);
    const afterOutage = await score(transactions(500));
    await waitFor('the new records delivered', async () => (await delivered()) === before + BUFFER_RECORDS + afterOutage.length, 60_000, 100);
    assert.ok(service.logs.some((line) => /accepts writes again/.test(line.msg)), 'the recovery is logged');

    const expectedCount = inTopicBefore + BUFFER_RECORDS + afterOutage.length;
    const records = byTransaction(await broker.readAll(TOPIC, expectedCount));
    assert.equal(records.size, expectedCount);
    // The buffer keeps the oldest records and drops the newest: the first BUFFER_RECORDS answered during the outage are there.
    const kept = new Set(duringOutage.slice(0, BUFFER_RECORDS));
    for (const answer of duringOutage) {
      const found = records.get(String(answer.transaction.transactionId));
      if (kept.has(answer)) {
        assert.ok(found !== undefined, `buffered record of ${answer.transaction.transactionId} lost`);
        assertRecordOf(answer, found.record, found.key);
      } else {
        assert.equal(found, undefined, `dropped record of ${answer.transaction.transactionId} is in the topic`);
      }
    }
    for (const answer of afterOutage) {
      const found = records.get(String(answer.transaction.transactionId));
      assert.ok(found !== undefined, `record of ${answer.transaction.transactionId} after the outage missing`);
      assertRecordOf(answer, found.record, found.key);
    }
  });
});
