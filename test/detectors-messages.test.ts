import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import { Rule } from '../detectors/rules/index.ts';
import type { Detection } from '../core/streams.ts';
import { createHouseholdState } from '../detectors/household-state.ts';
import { step } from '../detectors/step.ts';
import { historyDays } from '../detectors/validate-rules.ts';
import { openedText } from '../notifier/alert-message.ts';

/** The worker's message names the peak window that applied — a learned one too — in local time. */
const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 4, 16); // 2026-01-05 00:00 Asia/Shanghai

function run(localTime: LocalTime, start: number, days: number[][], rules: Rule[]): Detection[] {
  const state = createHouseholdState(24, historyDays(rules));
  const out: Detection[] = [];
  let t = start;
  for (const day of days)
    for (const liters of day) {
      step(
        'h',
        state,
        { kind: 'bucket', start: t, end: t + H, liters },
        rules,
        { localTime, rulesVersion: 1 },
        out,
      );
      t += H;
    }
  return out.filter((d) => d.kind === 'opened');
}

/** A night-shift worker who gets up at 18:00 (nothing before, 2 L an hour after 21:00). */
const evening = (empty: boolean) =>
  Array.from({ length: 24 }, (_, h) => (h < 18 ? 0 : h < 21 ? (empty ? 0 : 30) : 2));
const peakRule = Rule.parse({
  ...DEFAULT_RULES.find((r) => r.id === 'no-water-at-peak')!,
  params: { start: '06:00', end: '09:00', maxLiters: 1, learn: true, minDays: 2 },
});

describe('no-water-at-peak messages', () => {
  it.each([
    ['Asia/Shanghai', T0],
    ['Asia/Kolkata', Date.UTC(2026, 0, 4, 18, 30)],
  ])('name the learned evening window in local time (%s)', (zone, midnight) => {
    const lt = new LocalTime(zone, 60);
    // The fallback 06:00–09:00 fires on the dry mornings of the first days; then the learned window does.
    const d = run(lt, midnight, [evening(false), evening(false), evening(true)], [peakRule]).find(
      (x) => x.evidence.thresholds.peak === 'learned',
    );
    const text = openedText(d!.ruleType, d!.audience, '3-2-101', d!.evidence, (ms) => lt.formatTime(ms));
    expect(text.en).toContain('between 18:00 and 21:00');
    expect(text['zh-CN']).toContain('18:00–21:00');
  });

  it('name the fallback window before a peak is learned', () => {
    const lt = new LocalTime('Asia/Shanghai', 60);
    const morning = Array.from({ length: 24 }, (_, h) => (h >= 6 && h < 9 ? 0 : 2));
    const [d] = run(lt, T0, [morning], [peakRule]);
    const text = openedText(d!.ruleType, d!.audience, '3-2-101', d!.evidence, (ms) => lt.formatTime(ms));
    expect(text.en).toContain('between 06:00 and 09:00');
  });

  it('name the dry span and the usual window when the rule waits for confirmation (the default)', () => {
    const lt = new LocalTime('Asia/Shanghai', 60);
    const confirmed = Rule.parse({
      ...peakRule,
      params: { ...peakRule.params, learn: false, confirmMinutes: 120 },
    });
    const late = Array.from({ length: 24 }, (_, h) => (h >= 6 && h < 11 ? 0 : 2));
    const [d] = run(lt, T0, [late], [confirmed]);
    const text = openedText(d!.ruleType, d!.audience, '3-2-101', d!.evidence, (ms) => lt.formatTime(ms));
    expect(text.en).toBe(
      '3-2-101: no water used between 06:00 and 11:00; this household usually uses water between 06:00 and 09:00. The resident may not have got up; please check on them.',
    );
    expect(text['zh-CN']).toBe(
      '3-2-101：今天 06:00–11:00 没有用水（平时 06:00–09:00 会用水），住户可能没有起床，请联系确认。',
    );
  });
});

describe('meter-silent messages', () => {
  const silentRule = DEFAULT_RULES.find((r) => r.id === 'meter-silent')!;
  const opened = (receivedAt: number[], now: number) => {
    const state = createHouseholdState(24, 0);
    const out: Detection[] = [];
    const ctx = { localTime: new LocalTime('Asia/Shanghai', 60), rulesVersion: 1 };
    for (const at of receivedAt)
      step('h', state, { kind: 'reading', ts: at, receivedAt: at }, [silentRule], ctx, out);
    step('h', state, { kind: 'tick', now }, [silentRule], ctx, out);
    const d = out.find((x) => x.kind === 'opened')!;
    return openedText(d.ruleType, d.audience, '3-2-101', d.evidence, () => '');
  };

  it('name the wait of an hourly meter: 6 hours', () => {
    const text = opened([T0, T0 + H, T0 + 2 * H], T0 + 9 * H);
    expect(text.en).toContain('has not reported for over 6 hours');
    expect(text['zh-CN']).toContain('已超过6小时没有上报数据');
  });

  it('name the longer wait of a meter that uploads once a day, to a tenth of an hour', () => {
    expect(opened([T0, T0 + 24 * H, T0 + 48 * H], T0 + 90 * H).en).toContain('for over 30 hours');
    const day = 24 * H - 3 * 60_000; // uploads every 23 h 57 min: waits 1,796 min
    expect(opened([T0, T0 + day, T0 + 2 * day], T0 + 90 * H)['zh-CN']).toContain('已超过29.9小时');
  });
});
