import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStateStore } from '../../src/state/memoryStateStore.js';
import { SnapshotError, restoreSnapshot, writeSnapshot } from '../../src/state/stateSnapshot.js';

const OPTIONS = { latenessSeconds: 3600, historyDays: { customer: 30, terminal: 37 }, maxEntities: 1_000, maxTransactions: 1_000 };

describe('state snapshot versions', () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'snapshot-versions-'));
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  async function savedBy(specVersion: number): Promise<string> {
    const path = join(folder, `spec-${specVersion}.snapshot`);
    await writeSnapshot(new MemoryStateStore(OPTIONS), path, specVersion);
    return path;
  }

  it("should keep a version-2 service's history after an upgrade to version 3 (the same state rules)", async () => {
    const header = await restoreSnapshot(new MemoryStateStore(OPTIONS), await savedBy(2), 3);
    assert.equal(header?.specVersion, 2);
  });

  it('should refuse the state of a newer spec, and of version 1 (no history rules)', async () => {
    await assert.rejects(restoreSnapshot(new MemoryStateStore(OPTIONS), await savedBy(4), 3), (error: Error) => error instanceof SnapshotError && /versions 2 to 3/.test(error.message));
    await assert.rejects(restoreSnapshot(new MemoryStateStore(OPTIONS), await savedBy(1), 3), SnapshotError);
  });
});
