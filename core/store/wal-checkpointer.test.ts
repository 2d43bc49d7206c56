import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from './store.ts';
import { startWalCheckpointer } from './wal-checkpointer.ts';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) if (s.db.open) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function store(): Store {
  const dir = mkdtempSync(join(tmpdir(), 'careflow-wal-'));
  dirs.push(dir);
  const s = openStore({ path: join(dir, 'careflow.db') });
  stores.push(s);
  return s;
}

describe('WAL checkpoints on a second thread', () => {
  it('the main connection stops checkpointing; the thread copies the WAL into the database file', async () => {
    const s = store();
    const checkpointer = await startWalCheckpointer(s.db, { synchronous: 'FULL', everyMs: 50 });
    expect(checkpointer).not.toBeNull();
    expect(s.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    s.db.exec('CREATE TABLE t (x BLOB)');
    const before = statSync(s.db.name).size;
    const insert = s.db.prepare('INSERT INTO t VALUES (randomblob(4000))');
    for (let i = 0; i < 20; i++) s.transaction(() => insert.run());
    // Committed into the WAL by the main connection; only a checkpoint writes the database file.
    const deadline = Date.now() + 5_000;
    while (statSync(s.db.name).size < before + 20 * 4000 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(statSync(s.db.name).size).toBeGreaterThanOrEqual(before + 20 * 4000);
    await checkpointer!.stop();
    expect(s.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    expect(s.db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(20);
  });

  it('does nothing for a store in memory', async () => {
    const s = openStore({ path: ':memory:' });
    stores.push(s);
    expect(await startWalCheckpointer(s.db, { synchronous: 'FULL' })).toBeNull();
  });
});
