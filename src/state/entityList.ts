/** What an entity carries to be in one EntityList at a time. */
export interface ListedEntity {
  /** Its neighbours in the list it is in, toward the front and toward the back. */
  previous: ListedEntity | undefined;
  next: ListedEntity | undefined;
  /** The list it is in, if any. */
  list: EntityList | undefined;
}

/**
 * An ordered list of entities threaded through the entities themselves
 * (each knows its neighbours): appending, removing and moving to the back
 * are O(1) and never rebuild anything. A Set in insertion order does the
 * same job, but its table doubles as it grows, re-inserting every member
 * inside one call (about 370 ms at four million members).
 */
export class EntityList<T extends ListedEntity = ListedEntity> {
  private head: T | undefined;
  private tail: T | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The member at the front (the first appended of those still in), or undefined when empty. */
  get first(): T | undefined {
    return this.head;
  }

  /** Appends an entity that is in no list. */
  append(entity: T): void {
    if (entity.list !== undefined) throw new Error('an entity is in one list at a time');
    entity.list = this;
    entity.previous = this.tail;
    entity.next = undefined;
    if (this.tail === undefined) this.head = entity;
    else this.tail.next = entity;
    this.tail = entity;
    this.count++;
  }

  /** Takes a member out of this list. */
  remove(entity: T): void {
    if (entity.list !== (this as EntityList)) throw new Error('not a member of this list');
    const { previous, next } = entity;
    if (previous === undefined) this.head = next as T | undefined;
    else previous.next = next;
    if (next === undefined) this.tail = previous as T | undefined;
    else next.previous = previous;
    entity.previous = undefined;
    entity.next = undefined;
    entity.list = undefined;
    this.count--;
  }

  /** Moves a member to the back. */
  moveToBack(entity: T): void {
    this.remove(entity);
    this.append(entity);
  }
}
