import assert from 'node:assert/strict';
import { EntityList, type ListedEntity } from '../../src/state/entityList.js';

class Member implements ListedEntity {
  previous: ListedEntity | undefined = undefined;
  next: ListedEntity | undefined = undefined;
  list: EntityList | undefined = undefined;
  constructor(readonly name: string) {}
}

/** The members front to back, read both ways (so a neighbour left wrong on either side shows). */
function order(list: EntityList<Member>): string[] {
  const forward: string[] = [];
  let last: Member | undefined;
  for (let member = list.first; member !== undefined; member = member.next as Member | undefined) {
    forward.push(member.name);
    last = member;
  }
  const backward: string[] = [];
  for (let member = last; member !== undefined; member = member.previous as Member | undefined) backward.push(member.name);
  assert.deepEqual(backward.reverse(), forward, 'the same order both ways');
  assert.equal(list.size, forward.length);
  return forward;
}

describe('the entity list (eviction segments)', () => {
  it('should keep members in the order appended through removals at the front, the back and the middle, and moves to the back', () => {
    const list = new EntityList<Member>();
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((name) => new Member(name)) as [Member, Member, Member, Member, Member];
    for (const member of [a, b, c, d]) list.append(member);
    assert.deepEqual(order(list), ['a', 'b', 'c', 'd']);
    list.remove(a);
    assert.deepEqual(order(list), ['b', 'c', 'd']);
    list.remove(d);
    assert.deepEqual(order(list), ['b', 'c']);
    list.append(e);
    list.remove(c);
    assert.deepEqual(order(list), ['b', 'e']);
    list.moveToBack(b);
    assert.deepEqual(order(list), ['e', 'b']);
    list.remove(e);
    list.remove(b);
    assert.deepEqual(order(list), []);
    assert.equal(list.first, undefined);
    list.append(c);
    assert.deepEqual(order(list), ['c']);
    assert.equal(a.list, undefined);
    assert.equal(c.list, list);
  });

  it('should refuse to hold an entity in two lists, and to remove one it does not hold', () => {
    const one = new EntityList<Member>();
    const other = new EntityList<Member>();
    const member = new Member('a');
    one.append(member);
    assert.throws(() => {
      other.append(member);
    }, /one list at a time/);
    assert.throws(() => {
      other.remove(member);
    }, /not a member/);
    one.remove(member);
    other.append(member);
    assert.deepEqual(order(other), ['a']);
    assert.deepEqual(order(one), []);
  });
});
