import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../alerts.ts';
import { MIGRATIONS } from './migrations.ts';
import { migrate } from './open-store.ts';
import { openStore, type Store } from './store.ts';

let dir: string;
let dbPath: string;
const opened: Store[] = [];

function open(synchronous?: 'FULL' | 'NORMAL'): Store {
  const store = openStore(synchronous ? { path: dbPath, synchronous } : { path: dbPath });
  opened.push(store);
  return store;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'careflow-store-'));
  dbPath = join(dir, 'nested', 'careflow.db');
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  rmSync(dir, { recursive: true, force: true });
});

function tables(store: Store): string[] {
  return store.db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
    .pluck()
    .all() as string[];
}

function alert(id: string, overrides: Partial<Alert> = {}): Alert {
  return {
    id,
    householdId: 'h-1',
    gridCode: 'g1',
    ruleId: 'no-water-at-peak',
    severity: 'warning',
    audience: 'welfare',
    state: 'open',
    openedAt: Date.UTC(2026, 0, 5, 1),
    updatedAt: Date.UTC(2026, 0, 5, 1),
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    resolvedBy: null,
    outcome: null,
    note: null,
    evidence: { windowStart: 0, windowEnd: 1, thresholds: { maxLiters: 1 }, ruleVersion: 1 },
    ...overrides,
  };
}

describe('openStore', () => {
  it('creates the directory and the whole schema on a fresh file', () => {
    const store = open();

    expect(existsSync(dbPath)).toBe(true);
    expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(tables(store)).toEqual(
      expect.arrayContaining([
        'streets',
        'communities',
        'grids',
        'workers',
        'worker_grids',
        'households',
        'meters',
        'inbox',
        'dead_letters',
        'usage_buckets',
        'checkpoints',
        'alerts',
        'alert_timeline',
        'outbox',
      ]),
    );
  });

  it('keeps data and runs no migration twice when the file is opened again', () => {
    const first = open();
    first.registry.upsertStreet('s1', 'Jiefang Street Office');
    const schema = tables(first);
    first.close();

    const second = open();

    expect(second.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(tables(second)).toEqual(schema);
    expect(second.registry.exists('street', 's1')).toBe(true);
    expect(() => migrate(second.db)).not.toThrow();
    expect(second.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
  });

  it('runs in WAL mode with foreign keys enforced', () => {
    const store = open();

    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    store.registry.upsertStreet('s1', 'Street');
    expect(existsSync(`${dbPath}-wal`)).toBe(true);
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(() => store.registry.upsertCommunity('c1', 'no-such-street', 'Community')).toThrow(/FOREIGN KEY/);
  });

  it('uses synchronous FULL by default and NORMAL when asked', () => {
    expect(open().db.pragma('synchronous', { simple: true })).toBe(2);
    opened.splice(0).forEach((s) => s.close());
    expect(open('NORMAL').db.pragma('synchronous', { simple: true })).toBe(1);
  });

  it('holds at most one unresolved alert per household and rule', () => {
    const store = open();
    store.alerts.insert(alert('a-1'));

    expect(() => store.alerts.insert(alert('a-2'))).toThrow(/UNIQUE/);
    expect(() => store.alerts.insert(alert('a-3', { state: 'acknowledged' }))).toThrow(/UNIQUE/);
    store.alerts.insert(alert('a-4', { ruleId: 'sustained-high' }));
    store.alerts.insert(alert('a-5', { householdId: 'h-2' }));

    store.alerts.update(
      alert('a-1', { state: 'resolved', resolvedAt: Date.UTC(2026, 0, 5, 2), outcome: 'resident-ok' }),
    );
    store.alerts.insert(alert('a-6'));

    expect(store.alerts.findOpen('h-1', 'no-water-at-peak')!.id).toBe('a-6');
    expect(store.alerts.get('a-1')!.state).toBe('resolved');
    expect(store.alerts.get('a-2')).toBeUndefined();
  });

  it('rolls a transaction back entirely when it throws, nested calls included', () => {
    const store = open();

    expect(() =>
      store.transaction(() => {
        store.registry.upsertStreet('s1', 'Street');
        store.transaction(() => store.registry.upsertStreet('s2', 'Street 2'));
        throw new Error('abort');
      }),
    ).toThrow('abort');

    expect(store.registry.exists('street', 's1')).toBe(false);
    expect(store.registry.exists('street', 's2')).toBe(false);
    expect(store.transaction(() => 42)).toBe(42);
  });
});
