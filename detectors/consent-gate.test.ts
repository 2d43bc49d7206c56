import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Config } from '../core/config.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { tempDataDir } from '../test/harness.ts';
import { ConsentGate } from './consent-gate.ts';

/** The privacy settings as the config schema makes them (retention periods at their defaults). */
const policy = (p: object) => Config.shape.privacy.parse(p);

let dir: string;
let store: Store;
afterEach(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const enabled = (gate: ConsentGate, hid: string) =>
  gate
    .apply(hid, DEFAULT_RULES)
    .filter((r) => r.enabled)
    .map((r) => r.id)
    .sort();

function consent(hid: string, purposes: ('welfare' | 'leak' | 'family')[]) {
  store.privacy.addConsent({
    householdId: hid,
    purposes,
    givenBy: 'resident',
    givenAt: 1,
    recordedBy: 'test',
    recordedAt: 1,
    note: null,
  });
}

describe('the consent gate', () => {
  it('follows each policy: unrecorded consent assumed or refused, leak rules with or without consent', () => {
    dir = tempDataDir();
    store = openStore({ path: join(dir, 'careflow.db') });
    consent('welfare-only', ['welfare']);
    consent('leak-only', ['leak']);
    consent('withdrawn', []);
    const all = DEFAULT_RULES.filter((r) => r.enabled)
      .map((r) => r.id)
      .sort();
    const of = (audiences: string[]) =>
      DEFAULT_RULES.filter((r) => r.enabled && audiences.includes(r.audience))
        .map((r) => r.id)
        .sort();

    const lenient = new ConsentGate(
      store,
      policy({ unrecordedConsent: 'assume', leakBasis: 'vital-interest' }),
    );
    expect(enabled(lenient, 'no-record')).toEqual(all);
    expect(enabled(lenient, 'welfare-only')).toEqual(all);
    expect(enabled(lenient, 'leak-only')).toEqual(of(['leak', 'maintenance']));
    expect(enabled(lenient, 'withdrawn')).toEqual(of(['leak', 'maintenance']));

    const strict = new ConsentGate(store, policy({ unrecordedConsent: 'refuse', leakBasis: 'consent' }));
    expect(enabled(strict, 'no-record')).toEqual(of(['maintenance']));
    expect(enabled(strict, 'welfare-only')).toEqual(of(['welfare', 'maintenance']));
    expect(enabled(strict, 'leak-only')).toEqual(of(['leak', 'maintenance']));
    expect(enabled(strict, 'withdrawn')).toEqual(of(['maintenance']));
    // The same rule array comes back for households in the same position (the detectors cache per grid).
    expect(strict.apply('withdrawn', DEFAULT_RULES)).toBe(strict.apply('no-record', DEFAULT_RULES));
  });

  it('sees a change made through another connection, and one household reloaded at once', () => {
    dir = tempDataDir();
    const path = join(dir, 'careflow.db');
    store = openStore({ path });
    consent('h1', ['welfare', 'leak']);
    const gate = new ConsentGate(store, policy({ unrecordedConsent: 'assume', leakBasis: 'vital-interest' }));
    expect(gate.withheld('h1')).toEqual([]);
    expect(gate.followStore()).toBe(false);
    const other = openStore({ path });
    try {
      other.privacy.addConsent({
        householdId: 'h1',
        purposes: ['leak'],
        givenBy: 'resident',
        givenAt: 2,
        recordedBy: 'import',
        recordedAt: 2,
        note: null,
      });
    } finally {
      other.close();
    }
    expect(gate.withheld('h1')).toEqual([]); // not yet: the detectors look at their next tick
    expect(gate.followStore()).toBe(true);
    expect(gate.withheld('h1')).toEqual(['welfare']);
    consent('h1', []);
    gate.reload('h1');
    expect(gate.withheld('h1')).toEqual(['welfare']);
    expect(enabled(gate, 'h1')).not.toContain('low-use');
  });
});
