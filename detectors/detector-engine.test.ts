import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { PLAIN_RULES } from './rules/default-rules.ts';
import { Rule } from './rules/index.ts';
import type { Detection, DetectorInput } from '../core/streams.ts';
import { DetectorEngine } from './detector-engine.ts';
import { lastBuckets } from './household-state.ts';
import { ruleNeeds } from './validate-rules.ts';

const MINUTE = 60_000;
const H = 60 * MINUTE;
const DAY = 24 * H;
// 2026-01-05 00:00 Asia/Shanghai = 2026-01-04 16:00 UTC
const T0 = Date.UTC(2026, 0, 4, 16);
const shanghai = new LocalTime('Asia/Shanghai', 60);

const engineWith = (rules: readonly Rule[] = PLAIN_RULES) =>
  new DetectorEngine(shanghai, () => rules, ruleNeeds(rules));

const bucket = (householdId: string, start: number, liters: number | null): DetectorInput => ({
  kind: 'bucket',
  bucket: { householdId, start, end: start + H, liters },
});
const reading = (householdId: string, receivedAt: number): DetectorInput => ({
  kind: 'reading',
  householdId,
  meterId: `m-${householdId}`,
  ts: receivedAt,
  receivedAt,
});
const tick = (now: number): DetectorInput => ({ kind: 'tick', now });

/** Hourly buckets for one household from `from`, one per value. */
const hours = (householdId: string, from: number, liters: readonly (number | null)[]): DetectorInput[] =>
  liters.map((l, i) => bucket(householdId, from + i * H, l));
const repeat = <T>(v: T, n: number): T[] => new Array<T>(n).fill(v);

function applyAll(engine: DetectorEngine, inputs: readonly DetectorInput[]): Detection[] {
  return inputs.flatMap((input) => engine.apply(input));
}
const summary = (ds: Detection[]) => ds.map((d) => [d.householdId, d.ruleId, d.kind, d.at]);

function drain(engine: DetectorEngine): Map<string, Uint8Array> {
  const saved = new Map<string, Uint8Array>();
  engine.drainDirty((hid, state) => saved.set(hid, state));
  return saved;
}

describe('DetectorEngine', () => {
  it('routes each bucket to its own household', () => {
    const engine = engineWith();
    const ds = applyAll(engine, [...hours('dry', T0, repeat(0, 24)), ...hours('leaky', T0, repeat(2, 24))]);
    expect(engine.householdCount()).toBe(2);
    expect(summary(ds)).toEqual([
      ['dry', 'no-water-at-peak', 'opened', T0 + 9 * H],
      ['dry', 'low-use', 'opened', T0 + DAY],
      ['leaky', 'continuous-flow', 'opened', T0 + DAY],
    ]);
  });

  it('keeps households apart when their buckets arrive interleaved', () => {
    const engine = engineWith();
    const inputs: DetectorInput[] = [];
    for (let h = 0; h < 24; h++) inputs.push(bucket('dry', T0 + h * H, 0), bucket('leaky', T0 + h * H, 2));
    const ds = applyAll(engine, inputs);
    expect(summary(ds)).toEqual([
      ['dry', 'no-water-at-peak', 'opened', T0 + 9 * H],
      ['dry', 'low-use', 'opened', T0 + DAY],
      ['leaky', 'continuous-flow', 'opened', T0 + DAY],
    ]);
  });

  it('asks which rules apply to each household', () => {
    const quietRules = PLAIN_RULES.map((r) => ({ ...r, enabled: false }));
    const engine = new DetectorEngine(
      shanghai,
      (hid) => (hid === 'away' ? quietRules : PLAIN_RULES),
      ruleNeeds(PLAIN_RULES),
    );
    const ds = applyAll(engine, [...hours('away', T0, repeat(0, 24)), ...hours('home', T0, repeat(0, 24))]);
    expect(new Set(ds.map((d) => d.householdId))).toEqual(new Set(['home']));
  });

  it("routes readings by household, so one meter speaking does not end another one's silence", () => {
    const engine = engineWith();
    applyAll(engine, [reading('a', T0), reading('b', T0)]);
    expect(summary(engine.apply(tick(T0 + 6 * H)))).toEqual([
      ['a', 'meter-silent', 'opened', T0 + 6 * H],
      ['b', 'meter-silent', 'opened', T0 + 6 * H],
    ]);
    expect(summary(engine.apply(reading('a', T0 + 7 * H)))).toEqual([
      ['a', 'meter-silent', 'cleared', T0 + 7 * H],
    ]);
    expect(engine.state('b')!.active['meter-silent']).toBe(T0 + 6 * H);
  });

  it('evaluates every household on a tick, each against its own last reading', () => {
    const engine = engineWith();
    applyAll(engine, [reading('early', T0), reading('late', T0 + 2 * H), ...hours('no-readings', T0, [1])]);
    expect(engine.apply(tick(T0 + 6 * H - 1))).toEqual([]);
    expect(summary(engine.apply(tick(T0 + 7 * H)))).toEqual([
      ['early', 'meter-silent', 'opened', T0 + 6 * H],
    ]);
    expect(summary(engine.apply(tick(T0 + 9 * H)))).toEqual([['late', 'meter-silent', 'opened', T0 + 8 * H]]);
    expect(engine.apply(tick(T0 + 30 * H))).toEqual([]);
  });

  it('hands over only the households that changed since the last drain', () => {
    const engine = engineWith();
    applyAll(engine, [...hours('a', T0, [1, 2]), ...hours('b', T0, [3]), reading('c', T0)]);
    expect([...drain(engine).keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(drain(engine).size).toBe(0);
    engine.apply(bucket('b', T0 + H, 4));
    const saved = drain(engine);
    expect([...saved.keys()]).toEqual(['b']);
    expect(lastBuckets(engine.state('b')!, 2)).toEqual([3, 4]);
  });

  it('marks a household changed on a tick only when the tick detected something', () => {
    const engine = engineWith();
    applyAll(engine, [reading('a', T0), reading('b', T0 + 3 * H)]);
    drain(engine);
    engine.apply(tick(T0 + H));
    expect(drain(engine).size).toBe(0);
    engine.apply(tick(T0 + 6 * H));
    const saved = drain(engine);
    expect([...saved.keys()]).toEqual(['a']);
    const second = engineWith();
    second.load(saved);
    expect(second.state('a')!.active).toEqual({ 'meter-silent': T0 + 6 * H });
  });

  it('counts the households it handed over', () => {
    const engine = engineWith();
    applyAll(engine, [reading('a', T0), reading('b', T0)]);
    expect(engine.drainDirty(() => {})).toBe(2);
    expect(engine.drainDirty(() => {})).toBe(0);
  });

  it('bumps the rules version on setRules and stamps it on later detections', () => {
    const engine = engineWith();
    expect(engine.rulesVersion).toBe(1);
    const [before] = applyAll(engine, hours('a', T0, repeat(0, 9)));
    expect(before!.evidence.ruleVersion).toBe(1);
    engine.setRules(() => PLAIN_RULES, ruleNeeds(PLAIN_RULES));
    expect(engine.rulesVersion).toBe(2);
    const [after] = applyAll(engine, hours('a', T0 + 9 * H, repeat(0, 15)));
    expect(after).toMatchObject({ ruleId: 'low-use', kind: 'opened', evidence: { ruleVersion: 2 } });
  });

  it('applies new rules without a restart', () => {
    const engine = engineWith();
    applyAll(engine, hours('a', T0, repeat(0, 24)));
    engine.setRules(() => PLAIN_RULES.filter((r) => r.id !== 'low-use'), ruleNeeds(PLAIN_RULES));
    expect(engine.apply(bucket('a', T0 + DAY, 0))).toEqual([]);
  });

  it("grows every household's history when a longer window is set, keeping what it had", () => {
    const engine = engineWith();
    applyAll(engine, hours('a', T0, repeat(0, 24)));
    expect(engine.state('a')!.ringCapacity).toBe(24);
    const twoDays = Rule.parse({
      ...PLAIN_RULES[0]!,
      id: 'low-use-2d',
      params: { windowMinutes: 2880, maxTotalLiters: 20 },
    });
    engine.setRules(() => [twoDays], ruleNeeds([twoDays]));
    expect(engine.state('a')!.ringCapacity).toBe(48);
    expect(lastBuckets(engine.state('a')!, 48)).toEqual([...repeat(null, 24), ...repeat(0, 24)]);
    expect(applyAll(engine, hours('a', T0 + DAY, repeat(0, 23)))).toEqual([]);
    expect(summary(engine.apply(bucket('a', T0 + 47 * H, 0)))).toEqual([
      ['a', 'low-use-2d', 'opened', T0 + 2 * DAY],
    ]);
  });

  it('gives new households the grown history too', () => {
    const engine = engineWith();
    const twoDays = Rule.parse({
      ...PLAIN_RULES[0]!,
      id: 'low-use-2d',
      params: { windowMinutes: 2880, maxTotalLiters: 20 },
    });
    engine.setRules(() => [twoDays], ruleNeeds([twoDays]));
    const ds = applyAll(engine, hours('new', T0, repeat(0, 48)));
    expect(summary(ds)).toEqual([['new', 'low-use-2d', 'opened', T0 + 2 * DAY]]);
  });

  it('loads saved households', () => {
    const first = engineWith();
    applyAll(first, [...hours('a', T0, repeat(0, 24)), reading('b', T0)]);
    const second = engineWith();
    second.load(drain(first));
    expect(second.householdCount()).toBe(2);
    // The dry day joined the dry morning's welfare episode; the checkpoint keeps the episode too.
    expect(second.state('a')!.active).toEqual({
      'no-water-at-peak': T0 + 9 * H,
      'low-use': T0 + DAY,
      '#episode:no-water-at-peak': T0 + 9 * H,
      '#episode-member:low-use': T0 + DAY,
    });
    expect(lastBuckets(second.state('a')!, 24)).toEqual(repeat(0, 24));
  });

  it('gives the same detections after a save and restore as without one', () => {
    const before: DetectorInput[] = [
      ...hours('dry', T0, repeat(0, 30)),
      ...hours('leaky', T0, [...repeat(2, 20), null, ...repeat(2, 9)]),
      ...hours('shower', T0, [...repeat(5, 28), 180, 190]),
      // An hourly meter that stops: its usual interval (restored) keeps its silence at 6 h.
      reading('silent', T0 - 2 * H),
      reading('silent', T0 - H),
      reading('silent', T0),
      reading('dry', T0 + 25 * H),
      tick(T0 + 30 * H),
    ];
    const after: DetectorInput[] = [
      ...hours('dry', T0 + 30 * H, [...repeat(0, 3), 4, 4, 4, ...repeat(0, 20)]),
      ...hours('leaky', T0 + 30 * H, [...repeat(2, 20), 0.5, 2]),
      ...hours('shower', T0 + 30 * H, [200, 10, 0]),
      reading('silent', T0 + 31 * H),
      tick(T0 + 40 * H),
    ];

    const uninterrupted = engineWith();
    applyAll(uninterrupted, before);
    // Copies of the bytes, as they come back from the store.
    const saved = [...drain(uninterrupted)].map(([hid, bytes]): [string, Uint8Array] => [
      hid,
      Buffer.from(bytes),
    ]);

    const restored = engineWith();
    restored.load(saved);

    const expected = applyAll(uninterrupted, after);
    const actual = applyAll(restored, after);
    expect(actual).toEqual(expected);
    // The restored state must matter: these follow from detections opened before the save.
    expect(summary(expected)).toEqual(
      expect.arrayContaining([
        ['dry', 'low-use', 'updated', T0 + 31 * H],
        ['shower', 'heavy-use', 'updated', T0 + 31 * H],
        ['shower', 'heavy-use', 'cleared', T0 + 32 * H],
        ['silent', 'meter-silent', 'cleared', T0 + 31 * H],
        ['silent', 'meter-silent', 'opened', T0 + 37 * H],
      ]),
    );
  });
});
