import assert from 'node:assert/strict';
import type { TransactionInput } from '../../client/fraudClient.js';
import { fixture } from '../helpers/paths.js';
import { at } from '../helpers/historyCalls.js';
import { sample, scrape } from '../helpers/scrape.js';
import { startTestService, type TestService } from '../helpers/testService.js';

const CAPACITY = 2_000;
const FLOOD = 10 * CAPACITY;
const ESTABLISHED_CARDS = 50;
const TERMINALS = 5;
/** Days (of the simulator's clock) of the established cards' three transactions; the flood comes on day 25. */
const HISTORY_DAYS = [10, 15, 20] as const;

describe('the embedded store under a flood of one-off cards', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService({
      FRAUD_BINARY_MODEL_URI: fixture('binary-history-f32'),
      FRAUD_SCENARIO_MODEL_URI: fixture('scenario-zipmap-f32'),
      FRAUD_STATE_MAX_ENTITIES: String(CAPACITY),
      FRAUD_STATE_MAX_TRANSACTIONS: String(100 * CAPACITY),
    });
  });

  after(async () => {
    await service.stop();
  });

  it('should evict none of the cards with 3 transactions in the last 30 days when 10x its capacity in one-off cards arrives, and count the flood', async () => {
    const { client } = service;
    // 50 cards with three transactions each, at 5 terminals (30 each); 50 cards with two.
    const history: TransactionInput[] = [];
    for (const [round, day] of HISTORY_DAYS.entries()) {
      for (let card = 1; card <= ESTABLISHED_CARDS; card++) history.push(at(round * 1_000 + card, card, 500 + (card % TERMINALS), day, 36_000 + card));
      if (round < 2) for (let card = 101; card <= 150; card++) history.push(at(round * 1_000 + card, card, 600, day, 36_000 + card));
    }
    await client.predictBatch(history);
    // The flood: 20,000 transactions, each of a new card at a new terminal, on day 25.
    for (let start = 0; start < FLOOD; start += 5_000) {
      const batch: TransactionInput[] = [];
      for (let index = start; index < start + 5_000; index++) batch.push(at(1_000_000 + index, 1_000_000 + index, 2_000_000 + index, 25, index));
      await client.predictBatch(batch);
    }
    const text = await scrape(service.service.metricsPort);
    const probation = (sample(text, 'fraud_state_entity_evictions_total{kind="customer",segment="probation"}') ?? 0) + (sample(text, 'fraud_state_entity_evictions_total{kind="terminal",segment="probation"}') ?? 0);
    for (let card = 1; card <= ESTABLISHED_CARDS; card++) {
      const answer = await client.predict(at(9_000 + card, card, 500 + (card % TERMINALS), 26), { explain: true });
      assert.equal(answer.features.CUSTOMER_ID_NB_TX_30DAY_WINDOW, 4, `card ${card} kept its three transactions`);
      // Days 10 and 15 are in the terminal's 30-day window ending 7 days before day 26: 10 cards x 2.
      assert.equal(answer.features.TERMINAL_ID_NB_TX_30DAY_WINDOW, 20, `terminal of card ${card} kept its history`);
    }
    // 40,000 one-off entities (and the 2-transaction cards) came in; at most CAPACITY stay.
    assert.ok(probation >= 2 * FLOOD - CAPACITY, `probation evictions ${probation}`);
    assert.equal(sample(text, 'fraud_state_entity_evictions_total{kind="customer",segment="established"}'), undefined);
    assert.equal(sample(text, 'fraud_state_entity_evictions_total{kind="terminal",segment="established"}'), undefined);
    assert.ok((sample(text, 'fraud_state_entity_segments{segment="established"}') ?? 0) >= ESTABLISHED_CARDS + TERMINALS);
  });
});
