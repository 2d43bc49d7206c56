import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { PLAIN_RULES } from './rules/default-rules.ts';
import { Rule } from './rules/index.ts';
import type { Detection } from '../core/streams.ts';
import { createHouseholdState, lastBuckets, type HouseholdState } from './household-state.ts';
import { step, type HouseholdInput } from './step.ts';

const MINUTE = 60_000;
const H = 60 * MINUTE;
const DAY = 24 * H;
// 2026-01-05 00:00 Asia/Shanghai = 2026-01-04 16:00 UTC
const T0 = Date.UTC(2026, 0, 4, 16);
const HID = 'hh-1';
const shanghai = new LocalTime('Asia/Shanghai', 60);

function rule(id: string): Rule {
  const r = PLAIN_RULES.find((x) => x.id === id);
  if (!r) throw new Error(`no default rule ${id}`);
  return r;
}

/** One household fed through `step`, bucket after bucket from `start` (local midnight by default). */
function household(
  rules: readonly Rule[],
  opts: { localTime?: LocalTime; start?: number; capacity?: number; rulesVersion?: number } = {},
) {
  const localTime = opts.localTime ?? shanghai;
  const ctx = { localTime, rulesVersion: opts.rulesVersion ?? 1 };
  const state: HouseholdState = createHouseholdState(opts.capacity ?? 48);
  const bucketMs = localTime.bucketMs;
  let next = opts.start ?? T0;
  const send = (input: HouseholdInput) => step(HID, state, input, rules, ctx);
  return {
    state,
    /** Start of the next bucket that `buckets` will feed. */
    get next() {
      return next;
    },
    /** Feeds consecutive buckets with these liters (null = unknown); returns every detection. */
    buckets(liters: readonly (number | null)[]): Detection[] {
      const out: Detection[] = [];
      for (const l of liters) {
        out.push(...send({ kind: 'bucket', start: next, end: next + bucketMs, liters: l }));
        next += bucketMs;
      }
      return out;
    },
    /** Leaves `n` buckets out: nobody reports them. */
    skip(n: number): void {
      next += n * bucketMs;
    },
    bucketAt(start: number, liters: number | null): Detection[] {
      return send({ kind: 'bucket', start, end: start + bucketMs, liters });
    },
    reading(receivedAt: number, ts = receivedAt): Detection[] {
      return send({ kind: 'reading', ts, receivedAt });
    },
    send,
    tick(now: number): Detection[] {
      return send({ kind: 'tick', now });
    },
  };
}

const repeat = <T>(v: T, n: number): T[] => new Array<T>(n).fill(v);
const summary = (ds: Detection[]) => ds.map((d) => [d.ruleId, d.kind, d.at]);

describe('step', () => {
  describe('sustained-low (low-use: 24 h window, total below 10 L)', () => {
    const rules = [rule('low-use')];

    it('stays quiet while the 24 h window is not yet fully known', () => {
      const hh = household(rules);
      expect(hh.buckets(repeat(0, 23))).toEqual([]);
    });

    it('opens once the whole 24 h window is known and below 10 L', () => {
      const hh = household(rules);
      const ds = hh.buckets(repeat(0.2, 24));
      expect(summary(ds)).toEqual([['low-use', 'opened', T0 + DAY]]);
      expect(ds[0]).toMatchObject({
        householdId: HID,
        ruleType: 'sustained-low',
        severity: 'critical',
        audience: 'welfare',
        autoResolve: false,
      });
    });

    it('dates the detection at the end of the bucket and gives it a deterministic key', () => {
      const hh = household(rules);
      const [d] = hh.buckets(repeat(0, 24));
      expect(d!.at).toBe(T0 + DAY);
      expect(d!.key).toBe(`${HID}|low-use|opened|${T0 + DAY}`);
    });

    it('carries the 24 bucket values, the total and the thresholds as evidence', () => {
      const hh = household(rules, { rulesVersion: 7 });
      const values = [...repeat(0, 12), 1.5, 2.25, ...repeat(0.5, 10)];
      const [d] = hh.buckets(values);
      expect(d!.evidence).toEqual({
        windowStart: T0,
        windowEnd: T0 + DAY,
        buckets: values,
        totalLiters: 8.75,
        thresholds: { windowMinutes: 1440, maxTotalLiters: 10, bucketMinutes: 60 },
        ruleVersion: 7,
      });
    });

    it('does not open when one bucket of the window is unknown: no data never counts as zero', () => {
      const hh = household(rules);
      expect(hh.buckets([...repeat(0, 10), null, ...repeat(0, 13)])).toEqual([]);
    });

    it('opens only once the unknown bucket has left the window', () => {
      const hh = household(rules);
      hh.buckets([...repeat(0, 10), null, ...repeat(0, 13)]);
      expect(hh.buckets(repeat(0, 10))).toEqual([]);
      expect(summary(hh.buckets([0]))).toEqual([['low-use', 'opened', T0 + 35 * H]]);
    });

    it('does not open when the window total is exactly 10 L', () => {
      const hh = household(rules);
      expect(hh.buckets([10, ...repeat(0, 23)])).toEqual([]);
    });

    it('does not count a window of 0.1 L and 0.6 L buckets adding up to exactly 10 L as below 10 L', () => {
      // 4 × 0.1 + 16 × 0.6 = 10 L; summed in binary floating point it comes to 9.999999999999996.
      const hh = household(rules);
      expect(hh.buckets([...repeat(0.1, 4), ...repeat(0.6, 16), ...repeat(0, 4)])).toEqual([]);
    });

    it('reports updated for each new bucket while the total stays below 10 L', () => {
      const hh = household(rules);
      const ds = hh.buckets(repeat(0, 26));
      expect(summary(ds)).toEqual([
        ['low-use', 'opened', T0 + 24 * H],
        ['low-use', 'updated', T0 + 25 * H],
        ['low-use', 'updated', T0 + 26 * H],
      ]);
      expect(new Set(ds.map((d) => d.key)).size).toBe(3);
    });

    it('clears when the known window total reaches 10 L', () => {
      const hh = household(rules);
      hh.buckets(repeat(0, 24));
      expect(summary(hh.buckets([9.5]))).toEqual([['low-use', 'updated', T0 + 25 * H]]);
      const cleared = hh.buckets([0.5]);
      expect(summary(cleared)).toEqual([['low-use', 'cleared', T0 + 26 * H]]);
      expect(cleared[0]!.key).toBe(`${HID}|low-use|cleared|${T0 + 26 * H}`);
      expect(cleared[0]!.evidence.totalLiters).toBe(10);
      expect(hh.state.active['low-use']).toBeUndefined();
    });

    it('stays open without updates across an unknown bucket, and still clears once the known use reaches 10 L', () => {
      const hh = household(rules);
      hh.buckets(repeat(0, 24));
      expect(hh.buckets([null])).toEqual([]);
      expect(hh.state.active['low-use']).toBe(T0 + DAY);
      expect(summary(hh.buckets([12]))).toEqual([['low-use', 'cleared', T0 + 26 * H]]);
    });

    it('opens again after clearing once the use has dropped out of the window', () => {
      const hh = household(rules);
      hh.buckets(repeat(0, 24));
      hh.buckets([20]);
      expect(hh.buckets(repeat(0, 23))).toEqual([]);
      expect(summary(hh.buckets([0]))).toEqual([['low-use', 'opened', T0 + 49 * H]]);
    });
  });

  describe('sustained-high: continuous-flow (24 h, every bucket at least 1 L)', () => {
    const rules = [rule('continuous-flow')];

    it('opens when every bucket of the 24 h window is known and at least 1 L', () => {
      const hh = household(rules);
      expect(hh.buckets(repeat(1.5, 23))).toEqual([]);
      const ds = hh.buckets([1]);
      expect(summary(ds)).toEqual([['continuous-flow', 'opened', T0 + DAY]]);
      expect(ds[0]).toMatchObject({ ruleType: 'sustained-high', audience: 'leak', autoResolve: true });
      expect(ds[0]!.evidence).toEqual({
        windowStart: T0,
        windowEnd: T0 + DAY,
        buckets: [...repeat(1.5, 23), 1],
        totalLiters: 35.5,
        thresholds: { windowMinutes: 1440, minLitersPerBucket: 1, bucketMinutes: 60 },
        ruleVersion: 1,
      });
    });

    it('does not open when one bucket is below the bar', () => {
      const hh = household(rules);
      expect(hh.buckets([...repeat(2, 10), 0.9, ...repeat(2, 13)])).toEqual([]);
    });

    it('does not open when one bucket is unknown', () => {
      const hh = household(rules);
      expect(hh.buckets([...repeat(2, 10), null, ...repeat(2, 13)])).toEqual([]);
    });

    it('reports updated while every new bucket stays at or above the bar', () => {
      const hh = household(rules);
      hh.buckets(repeat(3, 24));
      expect(summary(hh.buckets([3, 1]))).toEqual([
        ['continuous-flow', 'updated', T0 + 25 * H],
        ['continuous-flow', 'updated', T0 + 26 * H],
      ]);
    });

    it('clears on a known bucket below the bar', () => {
      const hh = household(rules);
      hh.buckets(repeat(3, 24));
      expect(summary(hh.buckets([0.4]))).toEqual([['continuous-flow', 'cleared', T0 + 25 * H]]);
      expect(hh.state.active['continuous-flow']).toBeUndefined();
    });

    it('does not clear on an unknown bucket after opening', () => {
      const hh = household(rules);
      hh.buckets(repeat(3, 24));
      expect(hh.buckets([null, 3, 3])).toEqual([]);
      expect(hh.state.active['continuous-flow']).toBe(T0 + DAY);
      expect(summary(hh.buckets([0]))).toEqual([['continuous-flow', 'cleared', T0 + 28 * H]]);
    });

    it('does not clear on a skipped bucket after opening', () => {
      const hh = household(rules);
      hh.buckets(repeat(3, 24));
      hh.skip(1);
      expect(hh.buckets([3])).toEqual([]);
      expect(hh.state.active['continuous-flow']).toBe(T0 + DAY);
    });
  });

  describe('sustained-high: heavy-use (2 h, every bucket at least 120 L)', () => {
    const rules = [rule('heavy-use')];

    it('opens after two consecutive hours of at least 120 L each', () => {
      const hh = household(rules);
      expect(hh.buckets([119, 120])).toEqual([]);
      const ds = hh.buckets([160]);
      expect(summary(ds)).toEqual([['heavy-use', 'opened', T0 + 3 * H]]);
      expect(ds[0]!.evidence).toMatchObject({ windowStart: T0 + H, buckets: [120, 160], totalLiters: 280 });
    });

    it('does not open on a busy family evening: two hours of 60–100 L', () => {
      const hh = household(rules);
      expect(hh.buckets([95, 62, 89, 86, 100, 100])).toEqual([]);
    });

    it('is broken by one hour below 120 L', () => {
      const hh = household(rules);
      expect(hh.buckets([120, 119.9, 120])).toEqual([]);
      expect(summary(hh.buckets([120]))).toEqual([['heavy-use', 'opened', T0 + 4 * H]]);
    });

    it('is broken by one unknown hour', () => {
      const hh = household(rules);
      expect(hh.buckets([200, null, 200])).toEqual([]);
    });

    it('clears when the use drops below 120 L in an hour', () => {
      const hh = household(rules);
      hh.buckets([200, 200, 200]);
      expect(summary(hh.buckets([5]))).toEqual([['heavy-use', 'cleared', T0 + 4 * H]]);
    });
  });

  describe('zero-at-peak (no-water-at-peak: 06:00-09:00 local, at most 1 L)', () => {
    const rules = [rule('no-water-at-peak')];
    const busyNight = repeat(5, 6);

    it('fires when the bucket ending at 09:00 local closes and the peak used at most 1 L', () => {
      const hh = household(rules);
      expect(hh.buckets([...busyNight, 0.5, 0])).toEqual([]);
      const ds = hh.buckets([0.5]);
      // 09:00 in Shanghai is 01:00 UTC
      expect(summary(ds)).toEqual([['no-water-at-peak', 'opened', Date.UTC(2026, 0, 5, 1)]]);
      expect(ds[0]).toMatchObject({
        key: `${HID}|no-water-at-peak|opened|${T0 + 9 * H}`,
        ruleType: 'zero-at-peak',
      });
      expect(ds[0]!.evidence).toEqual({
        windowStart: T0 + 6 * H,
        windowEnd: T0 + 9 * H,
        buckets: [0.5, 0, 0.5],
        totalLiters: 1,
        // The default rule learns each household's peak; until then the 06:00–09:00 fallback applies.
        thresholds: { start: '06:00', end: '09:00', maxLiters: 1, bucketMinutes: 60, peak: 'fallback' },
        ruleVersion: 1,
      });
    });

    it('fires when the peak buckets add up to exactly 1 L (0.33 + 0.56 + 0.11)', () => {
      // Summed in binary floating point these come to 1.0000000000000002.
      const hh = household(rules);
      expect(summary(hh.buckets([...busyNight, 0.33, 0.56, 0.11]))).toEqual([
        ['no-water-at-peak', 'opened', T0 + 9 * H],
      ]);
    });

    it('does not fire when the peak used more than 1 L', () => {
      const hh = household(rules);
      expect(hh.buckets([...busyNight, 0.5, 0.4, 0.2, ...repeat(0, 15)])).toEqual([]);
    });

    it('does not fire when a bucket of the peak window is unknown', () => {
      const hh = household(rules);
      expect(hh.buckets([...busyNight, 0, null, 0, ...repeat(0, 15)])).toEqual([]);
    });

    it('does not fire when a bucket of the peak window was never reported', () => {
      const hh = household(rules);
      hh.buckets([...busyNight, 0]);
      hh.skip(1);
      expect(hh.buckets([0, 0, 0])).toEqual([]);
    });

    it('is not evaluated at any other hour than 09:00 local', () => {
      const hh = household(rules);
      // Quiet from 01:00 to 06:00 and from 09:00 on, but busy in the peak.
      expect(hh.buckets([5, 0, 0, 0, 0, 0, 3, 3, 3, ...repeat(0, 15)])).toEqual([]);
    });

    it('fires once per day on a day without any water', () => {
      const hh = household(rules);
      expect(summary(hh.buckets(repeat(0, 24)))).toEqual([['no-water-at-peak', 'opened', T0 + 9 * H]]);
    });

    it('updates its alert on a following day with an empty peak and no water since: the same problem', () => {
      const hh = household(rules);
      const ds = hh.buckets(repeat(0, 48));
      expect(summary(ds)).toEqual([
        ['no-water-at-peak', 'opened', T0 + 9 * H],
        ['no-water-at-peak', 'updated', T0 + DAY + 9 * H],
      ]);
      expect(ds[0]!.key).not.toBe(ds[1]!.key);
    });

    it('opens again on a later day with an empty peak once water was used in between', () => {
      const hh = household(rules);
      const ds = hh.buckets([...repeat(0, 12), 5, ...repeat(0, 35)]);
      expect(summary(ds)).toEqual([
        ['no-water-at-peak', 'opened', T0 + 9 * H],
        ['no-water-at-peak', 'cleared', T0 + 13 * H],
        ['no-water-at-peak', 'opened', T0 + DAY + 9 * H],
      ]);
    });

    it('clears when a later bucket uses more than 1 L', () => {
      const hh = household(rules);
      hh.buckets([...busyNight, 0, 0, 0]);
      expect(hh.buckets([0.5, 1])).toEqual([]);
      const ds = hh.buckets([3]);
      expect(summary(ds)).toEqual([['no-water-at-peak', 'cleared', T0 + 12 * H]]);
      expect(ds[0]!.evidence).toMatchObject({
        windowStart: T0 + 11 * H,
        windowEnd: T0 + 12 * H,
        totalLiters: 3,
      });
      expect(hh.buckets([3])).toEqual([]);
    });

    it("clears when the next day's peak uses more than 1 L, even spread thinly over its hours", () => {
      const hh = household(rules);
      hh.buckets([...busyNight, 0, 0, 0, ...repeat(0.8, 15)]);
      expect(hh.state.active['no-water-at-peak']).toBe(T0 + 9 * H);
      // 2.4 L in the second day's peak: the resident got up, though no single hour went over 1 L.
      expect(summary(hh.buckets(repeat(0.8, 9)))).toEqual([
        ['no-water-at-peak', 'cleared', T0 + DAY + 9 * H],
      ]);
    });

    it('fires at 09:00 local in Asia/Kolkata (+05:30)', () => {
      const kolkata = new LocalTime('Asia/Kolkata', 60);
      // 2026-01-05 00:00 in Kolkata = 2026-01-04 18:30 UTC
      const midnight = Date.UTC(2026, 0, 4, 18, 30);
      expect(kolkata.bucketStart(midnight + 10 * MINUTE)).toBe(midnight);
      const hh = household(rules, { localTime: kolkata, start: midnight });
      const ds = hh.buckets(repeat(0, 24));
      expect(summary(ds)).toEqual([['no-water-at-peak', 'opened', Date.UTC(2026, 0, 5, 3, 30)]]);
      expect(kolkata.formatTime(ds[0]!.at)).toBe('09:00');
      expect(ds[0]!.evidence.windowStart).toBe(Date.UTC(2026, 0, 5, 0, 30));
    });

    it('looks at the twelve quarter hours of the peak with 15-minute buckets', () => {
      const quarter = new LocalTime('Asia/Shanghai', 15);
      const hh = household(rules, { localTime: quarter, capacity: 96 });
      expect(hh.buckets([...repeat(1, 24), ...repeat(0.05, 11)])).toEqual([]);
      const ds = hh.buckets([0.05]);
      expect(summary(ds)).toEqual([['no-water-at-peak', 'opened', T0 + 9 * H]]);
      expect(ds[0]!.evidence.buckets).toEqual(repeat(0.05, 12));
      expect(ds[0]!.evidence.thresholds).toMatchObject({ bucketMinutes: 15 });
    });
  });

  describe('silent (meter-silent: no reading for 6 h)', () => {
    const rules = [rule('meter-silent')];
    const R = T0 + 3 * H;

    it('raises nothing on a tick before any reading has arrived', () => {
      const hh = household(rules);
      expect(hh.tick(T0 + 30 * DAY)).toEqual([]);
    });

    it('stays quiet until 6 h after the last reading arrived', () => {
      const hh = household(rules);
      hh.reading(R);
      expect(hh.tick(R + 6 * H - 1)).toEqual([]);
    });

    it('fires at the deadline, and only once', () => {
      const hh = household(rules);
      hh.reading(R);
      const ds = hh.tick(R + 6 * H);
      expect(summary(ds)).toEqual([['meter-silent', 'opened', R + 6 * H]]);
      expect(ds[0]).toMatchObject({
        key: `${HID}|meter-silent|opened|${R + 6 * H}`,
        ruleType: 'silent',
        audience: 'maintenance',
        autoResolve: true,
      });
      expect(hh.tick(R + 7 * H)).toEqual([]);
      expect(hh.tick(R + 30 * H)).toEqual([]);
    });

    it('dates the detection at the deadline even when the tick comes late', () => {
      const hh = household(rules);
      hh.reading(R);
      const [d] = hh.tick(R + 9 * H + 17 * MINUTE);
      expect(d!.at).toBe(R + 6 * H);
      expect(d!.evidence).toEqual({
        windowStart: R,
        windowEnd: R + 6 * H,
        thresholds: { afterMinutes: 360, usualIntervalMinutes: null, silentMinutes: 360 },
        ruleVersion: 1,
        lastReadingAt: R,
      });
    });

    it('measures silence from when readings arrived, not from their own timestamps', () => {
      const hh = household(rules);
      hh.reading(R, R - 10 * H);
      expect(hh.tick(R + 5 * H)).toEqual([]);
      expect(summary(hh.tick(R + 6 * H))).toEqual([['meter-silent', 'opened', R + 6 * H]]);
    });

    it('clears when a reading arrives', () => {
      const hh = household(rules);
      hh.reading(R);
      hh.tick(R + 7 * H);
      const ds = hh.reading(R + 8 * H);
      expect(summary(ds)).toEqual([['meter-silent', 'cleared', R + 8 * H]]);
      expect(ds[0]!.evidence).toMatchObject({ windowStart: R + 6 * H, windowEnd: R + 8 * H });
      expect(hh.reading(R + 9 * H)).toEqual([]);
    });

    it('fires again when the meter falls silent a second time', () => {
      const hh = household(rules);
      // An hourly meter: its usual interval stays an hour (the median of 1 h, 1 h and the 8 h outage).
      hh.reading(R - 2 * H);
      hh.reading(R - H);
      hh.reading(R);
      hh.tick(R + 7 * H);
      hh.reading(R + 8 * H);
      expect(hh.tick(R + 13 * H)).toEqual([]);
      expect(summary(hh.tick(R + 14 * H))).toEqual([['meter-silent', 'opened', R + 14 * H]]);
    });

    describe('a meter that uploads once a day (usualIntervalFactor 1.25)', () => {
      /** A day's 24 hourly readings uploaded in one message at `at`. */
      const upload = (hh: ReturnType<typeof household>, at: number) => {
        for (let k = 23; k >= 0; k--) hh.reading(at, at - k * H);
      };

      it('waits 1.25 × its usual 24 h (30 h) once it has uploaded twice', () => {
        const hh = household(rules);
        upload(hh, R);
        upload(hh, R + DAY);
        expect(hh.state.usualIntervalMs).toBe(DAY);
        expect(hh.tick(R + DAY + 30 * H - 1)).toEqual([]);
        const [d, ...rest] = hh.tick(R + DAY + 30 * H);
        expect(rest).toEqual([]);
        expect(d).toMatchObject({ ruleId: 'meter-silent', kind: 'opened', at: R + DAY + 30 * H });
        expect(d!.evidence.thresholds).toEqual({
          afterMinutes: 360,
          usualIntervalMinutes: 1440,
          silentMinutes: 1800,
        });
      });

      it('knows the schedule from the first upload when the registry declares it', () => {
        const hh = household(rules);
        hh.send({ kind: 'reading', ts: R - H, receivedAt: R, declaredIntervalMs: DAY });
        expect(hh.state.usualIntervalMs).toBe(DAY);
        expect(hh.tick(R + 30 * H - 1)).toEqual([]);
        expect(summary(hh.tick(R + 30 * H))).toEqual([['meter-silent', 'opened', R + 30 * H]]);
      });

      it('learns over a wrong declaration within three uploads', () => {
        const hh = household(rules);
        hh.send({ kind: 'reading', ts: R, receivedAt: R, declaredIntervalMs: 7 * DAY });
        for (const k of [1, 2, 3]) hh.reading(R + k * DAY);
        expect(hh.state.usualIntervalMs).toBe(DAY);
      });

      it('uses afterMinutes until the meter has sent twice: its schedule is not known yet', () => {
        const hh = household(rules);
        upload(hh, R);
        expect(summary(hh.tick(R + 6 * H))).toEqual([['meter-silent', 'opened', R + 6 * H]]);
        expect(summary(hh.reading(R + DAY))).toEqual([['meter-silent', 'cleared', R + DAY]]);
        expect(hh.tick(R + 2 * DAY)).toEqual([]);
      });

      it('does not take an outage for its schedule: the median of the last three intervals', () => {
        const hh = household(rules);
        for (const day of [0, 1, 2]) upload(hh, R + day * DAY);
        hh.tick(R + 4 * DAY);
        upload(hh, R + 5 * DAY); // three days late
        expect(hh.state.arrivalGaps).toEqual([3 * DAY, DAY, DAY]);
        expect(hh.tick(R + 5 * DAY + 30 * H - 1)).toEqual([]);
        expect(summary(hh.tick(R + 5 * DAY + 30 * H))).toEqual([
          ['meter-silent', 'opened', R + 5 * DAY + 30 * H],
        ]);
      });

      it('counts readings arriving within a minute as one message', () => {
        const hh = household(rules);
        hh.reading(R);
        hh.reading(R + 59_000);
        hh.reading(R + DAY);
        expect(hh.state.arrivalGaps).toEqual([DAY - 59_000]);
      });

      it('uses afterMinutes for every meter when usualIntervalFactor is null', () => {
        const plain = [
          Rule.parse({ ...rule('meter-silent'), params: { afterMinutes: 360, usualIntervalFactor: null } }),
        ];
        const hh = household(plain);
        upload(hh, R);
        upload(hh, R + DAY);
        expect(summary(hh.tick(R + DAY + 6 * H))).toEqual([['meter-silent', 'opened', R + DAY + 6 * H]]);
      });

      it('never waits less than afterMinutes for a meter that reports often', () => {
        const hh = household(rules);
        for (let k = 0; k < 4; k++) hh.reading(R + k * 15 * MINUTE);
        expect(hh.state.usualIntervalMs).toBe(15 * MINUTE);
        const last = R + 45 * MINUTE;
        expect(hh.tick(last + 6 * H - 1)).toEqual([]);
        expect(summary(hh.tick(last + 6 * H))).toEqual([['meter-silent', 'opened', last + 6 * H]]);
      });
    });

    it('keeps the latest arrival when an older arrival is reported after a newer one', () => {
      const hh = household(rules);
      hh.reading(R + H);
      hh.reading(R);
      expect(hh.tick(R + 6 * H)).toEqual([]);
      expect(summary(hh.tick(R + 7 * H))).toEqual([['meter-silent', 'opened', R + 7 * H]]);
    });

    it('is not triggered by buckets, only by the clock', () => {
      const hh = household(rules);
      hh.reading(R);
      expect(hh.buckets(repeat(0, 30))).toEqual([]);
    });
  });

  describe('with every default rule', () => {
    it('never fires a disabled rule', () => {
      const disabled = PLAIN_RULES.map((r) => ({ ...r, enabled: false }));
      const hh = household(disabled);
      expect(hh.buckets(repeat(0, 48))).toEqual([]);
      expect(hh.buckets(repeat(100, 30))).toEqual([]);
      hh.reading(T0);
      expect(hh.tick(T0 + 10 * DAY)).toEqual([]);
      expect(hh.state.active).toEqual({});
    });

    it('fires the enabled rules and leaves out the disabled one', () => {
      const rules = PLAIN_RULES.map((r) => (r.id === 'low-use' ? { ...r, enabled: false } : r));
      const hh = household(rules);
      expect(summary(hh.buckets(repeat(0, 24)))).toEqual([['no-water-at-peak', 'opened', T0 + 9 * H]]);
    });

    it('raises no-water-at-peak and then low-use on a day without water', () => {
      const hh = household(PLAIN_RULES);
      expect(summary(hh.buckets(repeat(0, 25)))).toEqual([
        ['no-water-at-peak', 'opened', T0 + 9 * H],
        ['low-use', 'opened', T0 + 24 * H],
        ['low-use', 'updated', T0 + 25 * H],
      ]);
    });

    it('ignores a bucket older than the last one (re-processing)', () => {
      const hh = household(PLAIN_RULES);
      hh.buckets(repeat(0, 24));
      const before = structuredClone(hh.state);
      expect(hh.bucketAt(T0 + 10 * H, 500)).toEqual([]);
      expect(hh.bucketAt(T0 + 23 * H, 500)).toEqual([]);
      expect(hh.state).toEqual(before);
      expect(summary(hh.buckets([0]))).toEqual([['low-use', 'updated', T0 + 25 * H]]);
    });

    it('counts skipped buckets as unknown, never as zero', () => {
      const hh = household(PLAIN_RULES);
      hh.buckets(repeat(0, 10));
      hh.skip(3);
      expect(hh.buckets(repeat(0, 11))).toEqual([]);
      expect(lastBuckets(hh.state, 24)).toEqual([...repeat(0, 10), null, null, null, ...repeat(0, 11)]);
    });

    it('survives a skip longer than the whole history it keeps', () => {
      const hh = household(PLAIN_RULES);
      hh.buckets(repeat(0, 24));
      hh.skip(1000);
      expect(hh.buckets([0])).toEqual([]);
      expect(lastBuckets(hh.state, 48)).toEqual([...repeat(null, 47), 0]);
    });

    it('gives the same detections for the same input history', () => {
      const history = [...repeat(0, 30), ...repeat(70, 4), null, ...repeat(2, 30)];
      const a = household(PLAIN_RULES).buckets(history);
      const b = household(PLAIN_RULES).buckets(history);
      expect(a.length).toBeGreaterThan(0);
      expect(b).toEqual(a);
    });
  });
});
