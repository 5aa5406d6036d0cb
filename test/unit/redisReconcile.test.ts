import assert from 'node:assert/strict';
import type { CustomerReply, IndexEntry, TerminalCount } from '../../src/state/redisCodec.js';
import { reconcile, type Reconciled } from '../../src/state/redisReconcile.js';
import type { TransactionEvent } from '../../src/state/stateStore.js';

const event: TransactionEvent = { id: 7n, customerId: 1n, terminalId: 2n, amount: 10, time: 1_600_000_000 };
const sameEntity: IndexEntry = { customerId: 1n, terminalId: 2n, time: event.time, amount: event.amount };
const otherTerminal: IndexEntry = { customerId: 1n, terminalId: 3n, time: event.time, amount: event.amount };
const otherCustomerSameTerminal: IndexEntry = { customerId: 9n, terminalId: 2n, time: event.time, amount: event.amount };
/** The id set's horizon: the terminal's watermark before the call (here the event's time) minus a lateness of an hour. */
const horizon = event.time - 3_600;
const otherCustomerSameTerminalBeforeTheHorizon: IndexEntry = { customerId: 9n, terminalId: 2n, time: horizon - 1, amount: event.amount };

type Row = [string, CustomerReply['status'], TerminalCount, IndexEntry | undefined, Reconciled];

describe('reconciling the customer, terminal and index answers of one transaction (Redis store)', () => {
  const rows: Row[] = [
    ['a new transaction', 'new', 'counted', undefined, { late: false, duplicate: false, takeBack: undefined, forgetIndex: false }],
    ['a retry the terminal remembers', 'duplicate', 'seen', sameEntity, { late: false, duplicate: true, takeBack: undefined, forgetIndex: false }],
    ['a late transaction the terminal counted: count and index entry taken back', 'late', 'counted', undefined, { late: true, duplicate: false, takeBack: 'late', forgetIndex: true }],
    ['a late transaction whose id was recorded elsewhere: the index entry stays', 'late', 'counted', otherTerminal, { late: true, duplicate: false, takeBack: 'late', forgetIndex: false }],
    ['a late transaction the terminal had seen: nothing to take back', 'late', 'seen', undefined, { late: true, duplicate: false, takeBack: undefined, forgetIndex: true }],
    ['a retry later than the lateness: never late, counted nowhere', 'late', 'counted_unsure', sameEntity, { late: false, duplicate: true, takeBack: 'repeat', forgetIndex: false }],
    ['a retry the id set forgot (customer within the lateness)', 'duplicate', 'counted_unsure', sameEntity, { late: false, duplicate: true, takeBack: 'repeat', forgetIndex: false }],
    ['an id first recorded at this terminal by another customer, forgotten by the id set', 'new', 'counted_unsure', otherCustomerSameTerminal, { late: false, duplicate: false, takeBack: 'repeat', forgetIndex: false }],
    ['an id first recorded at this terminal by another customer before the id set\'s horizon, reused within it', 'new', 'counted', otherCustomerSameTerminalBeforeTheHorizon, { late: false, duplicate: false, takeBack: 'repeat', forgetIndex: false }],
    ['an id first recorded at this terminal by another customer at the id set\'s horizon: the set vouches for the count', 'new', 'counted', { ...otherCustomerSameTerminalBeforeTheHorizon, time: horizon }, { late: false, duplicate: false, takeBack: undefined, forgetIndex: false }],
    ['a retry of a reuse whose first recording at this terminal left the id set: a duplicate', 'duplicate', 'counted', otherCustomerSameTerminalBeforeTheHorizon, { late: false, duplicate: true, takeBack: 'repeat', forgetIndex: false }],
    ['the same id at another terminal: counted there, not a duplicate', 'duplicate', 'counted', otherTerminal, { late: false, duplicate: false, takeBack: undefined, forgetIndex: false }],
    // Two replicas racing the same new transaction, the other one's index write first:
    ['race: this call reached the customer first (new) and the index second', 'new', 'counted', sameEntity, { late: false, duplicate: false, takeBack: undefined, forgetIndex: false }],
    ['race: this call reached the terminal first and the index second; the id set vouches for the count', 'duplicate', 'counted', sameEntity, { late: false, duplicate: true, takeBack: undefined, forgetIndex: false }],
  ];
  for (const [what, customer, terminal, recorded, expected] of rows) {
    it(`should reconcile ${what}`, () => {
      assert.deepEqual(reconcile(event, customer, terminal, recorded, horizon), expected);
    });
  }
});
