import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../../test/harness.ts';
import { MIGRATIONS } from './migrations.ts';
import { openStore } from './store.ts';

/**
 * A store written before the organisation levels existed opens with them, keeping its rule overrides and
 * escalation chains (the migration rebuilds those tables to widen their scope levels).
 */
let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the organisation migration', () => {
  it('keeps the rule overrides and escalation chains of an existing store, and accepts the new scopes', () => {
    dir = tempDataDir();
    const path = join(dir, 'careflow.db');
    const mine = MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE districts'));
    expect(mine).toBeGreaterThan(0);
    const old = new Database(path);
    for (const m of MIGRATIONS.slice(0, mine)) old.exec(m);
    old.pragma(`user_version = ${mine}`);
    old.exec(`
      INSERT INTO streets (code, name) VALUES ('s1', 'Street');
      INSERT INTO communities (code, street, name) VALUES ('c1', 's1', 'Community');
      INSERT INTO grids (code, community, name) VALUES ('g1', 'c1', 'Grid');
      INSERT INTO households (id, grid, address) VALUES ('h1', 'g1', 'Addr');
      INSERT INTO rule_overrides (level, code, rule_id, override, version)
        VALUES ('grid', 'g1', 'low-use', '{"enabled":false}', 2);
      INSERT INTO escalation_settings (level, code, settings, updated_at, updated_by)
        VALUES ('community', 'c1', '{"welfare":{"levels":[{"notify":"grid-leader","afterMinutes":5}],"reminderMinutes":0}}', 1, 'a');
    `);
    old.close();

    const store = openStore({ path });
    try {
      expect(store.rules.all()).toEqual([
        { scope: { level: 'grid', code: 'g1' }, ruleId: 'low-use', override: { enabled: false } },
      ]);
      expect(store.escalation.effectiveChain('g1', 'welfare', 'h1')).toMatchObject({
        source: 'community:c1',
      });
      expect(store.registry.household('h1')).toEqual({
        id: 'h1',
        gridCode: 'g1',
        address: 'Addr',
        livesAlone: false,
        elderly: false,
        awayUntil: null,
        notes: null,
      });
      store.db
        .prepare(
          `INSERT INTO rule_overrides (level, code, rule_id, override, version) VALUES (?, ?, ?, ?, ?)`,
        )
        .run('building', 'b1', 'low-use', '{}', 3);
      const chain = { levels: [{ notify: 'unit-head' as const, afterMinutes: 5 }], reminderMinutes: 0 };
      store.escalation.putSettings('district', 'd1', { welfare: chain }, 1, 'a');
      expect(store.escalation.settings('district', 'd1')).toEqual({ welfare: chain });
      expect(() =>
        store.db
          .prepare(
            `INSERT INTO rule_overrides (level, code, rule_id, override, version) VALUES (?, ?, ?, ?, ?)`,
          )
          .run('planet', 'p1', 'low-use', '{}', 3),
      ).toThrow(/CHECK/);
    } finally {
      store.close();
    }
  });
});
