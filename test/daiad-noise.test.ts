import { describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import { replayDetections } from '../testbench/replay-detectors.ts';
import type { Detection } from '../core/streams.ts';
import { daiadAvailable, defaultDaiadPath } from '../simulators/calibration-data.ts';
import { readRecordedFile } from '../simulators/recorded-file.ts';

/**
 * What grid workers would receive from the 89 real DAIAD households (80 days), every household registered
 * as elderly and living alone so that no rule is skipped: the recording through the real normalizer and the
 * real detector engine, readings arriving at the end of each 15-minute step with clock ticks in between, as
 * `careflow replay` delivers them (the embedded replay gives the same detections: README, "Alert noise").
 * Skipped, saying where it looked, without `../shared/data/daiad`.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const available = daiadAvailable();
/** The service's outage watch as configured by default (`--auto-register` puts every household in one grid). */
const { detectors: dc } = loadConfig({}, {});
const outage = {
  minMeters: dc.outageMinMeters,
  minShare: dc.outageMinShare,
  withinMinutes: dc.outageWithinMinutes,
};

interface FlowRun {
  meterId: string;
  start: number;
  end: number;
}

/**
 * Independent of careflow's code: runs of unbroken flow straight from the raw readings — consecutive
 * readings at most 2 h apart whose register rose by at least 1 L per hour of the interval — lasting 24 h
 * or more.
 */
function flowRuns(meters: Map<string, readonly { ts: number; totalLiters: number }[]>): FlowRun[] {
  const runs: FlowRun[] = [];
  for (const [meterId, readings] of meters) {
    const sorted = [...readings].sort((a, b) => a.ts - b.ts);
    let start: number | null = null;
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1]!;
      const b = sorted[i]!;
      const hours = (b.ts - a.ts) / HOUR;
      const flowing = hours > 0 && hours <= 2 && (b.totalLiters - a.totalLiters) / hours >= 1;
      if (flowing) start ??= a.ts;
      if (!flowing || i === sorted.length - 1) {
        const end = flowing ? b.ts : a.ts;
        if (start !== null && end - start >= DAY) runs.push({ meterId, start, end });
        start = null;
      }
    }
  }
  return runs;
}

/** When each household's continuous-flow alert was open: [opened, cleared) spans. */
function openSpans(ds: readonly Detection[]): Map<string, [number, number][]> {
  const spans = new Map<string, [number, number][]>();
  for (const d of ds) {
    if (d.ruleId !== 'continuous-flow') continue;
    const list = spans.get(d.householdId) ?? [];
    spans.set(d.householdId, list);
    if (d.kind === 'opened') list.push([d.at, Infinity]);
    if (d.kind === 'cleared' && list.length > 0) list[list.length - 1]![1] = d.at;
  }
  return spans;
}

describe.skipIf(!available)(`alert noise on the DAIAD trial (${defaultDaiadPath()})`, () => {
  const recording = available ? readRecordedFile(defaultDaiadPath(), { format: 'daiad' }) : null;
  const detections = recording
    ? replayDetections(recording, {
        rules: DEFAULT_RULES,
        timeZone: 'Europe/Madrid',
        welfare: () => true,
        outage,
      })
    : [];
  const first = recording ? Math.min(...[...recording.meters.values()].map((l) => l[0]!.ts)) : 0;
  const last = recording ? Math.max(...[...recording.meters.values()].map((l) => l.at(-1)!.ts)) : 0;
  const householdMonths = recording ? (recording.meters.size * (last - first)) / DAY / 30 : 0;

  it('covers every run of 24 h of unbroken flow with a continuous-flow alert within 25 h of its start', () => {
    const runs = flowRuns(recording!.meters);
    expect(runs.length, 'the trial holds real leaks').toBeGreaterThan(10);
    const spans = openSpans(detections);
    const uncovered = runs.filter((run) => {
      const by = run.start + 25 * HOUR;
      return !(spans.get(run.meterId) ?? []).some(
        ([open, clear]) => open <= by && clear > Math.max(open, run.start),
      );
    });
    expect(uncovered).toEqual([]);
  });

  it('never opens a continuous-flow alert as new within 48 h of the household’s previous one clearing', () => {
    const lastCleared = new Map<string, number>();
    const tooSoon: string[] = [];
    for (const d of detections) {
      if (d.ruleId !== 'continuous-flow') continue;
      if (d.kind === 'cleared') lastCleared.set(d.householdId, d.at);
      if (d.kind !== 'opened' || d.reopen === true) continue;
      const cleared = lastCleared.get(d.householdId);
      if (cleared !== undefined && d.at - cleared < 48 * HOUR)
        tooSoon.push(`${d.householdId} ${new Date(d.at).toISOString()}`);
    }
    expect(tooSoon).toEqual([]);
    // The clear-hold is used: a leak that stopped for more than a day and came back within the week is
    // written to the alert it already has (an update after a pause of over 24 h, with no clearing between).
    const lastSeen = new Map<string, number>();
    let resumed = 0;
    for (const d of detections) {
      if (d.ruleId !== 'continuous-flow') continue;
      if (d.kind === 'cleared') lastSeen.delete(d.householdId);
      else {
        const seen = lastSeen.get(d.householdId);
        if (d.kind === 'updated' && seen !== undefined && d.at - seen > 24 * HOUR) resumed++;
        lastSeen.set(d.householdId, d.at);
      }
    }
    expect(resumed).toBeGreaterThan(0);
  });

  it('keeps what reaches grid workers to the figure the README states, reporting onsets per rule', () => {
    // Welfare rules by condition onsets (as if every alert were closed at once) — an onset within another
    // welfare rule's episode (\`episode\`) goes to that episode's alert and is no new problem — leak alerts
    // by openings and re-openings; maintenance (meter-silent tickets, outages) goes to community staff.
    const onsets: Record<string, number> = {};
    const joined: Record<string, number> = {};
    for (const d of detections) {
      if (d.kind !== 'opened' || d.audience === 'maintenance') continue;
      const into = d.episode ? joined : onsets;
      into[d.ruleId] = (into[d.ruleId] ?? 0) + 1;
    }
    const perMonth = (n: number) => Math.round((n / householdMonths) * 1000) / 1000;
    const all = Object.values(onsets).reduce((a, b) => a + b, 0);
    const rows = Object.keys({ ...onsets, ...joined })
      .sort()
      .map((r) => `${r}: ${onsets[r] ?? 0} onsets (${perMonth(onsets[r] ?? 0)}), ${joined[r] ?? 0} joined`);
    console.log(
      `DAIAD, ${householdMonths.toFixed(1)} household-months, new problems reaching grid workers:\n  ` +
        [...rows, `all: ${all} (${perMonth(all)} per household-month)`].join('\n  '),
    );
    // Measured on this trial (README, "Alert noise"): 1.08 per household-month (1.16 before low-use was judged
    // by weekdays and weekend days apart; 1.78 before no-water-at-peak
    // was judged by weekdays and weekend days apart and confirmed two hours after its window, and before the
    // week-long leak clear-hold; 2.54 before welfare episodes, the outage share, the low-use gate and the
    // relative heavy-use bar; 10.7 with the documented defaults). The target of 0.5 is not met:
    // README, "Why not 0.5 on DAIAD". This bound catches any regression.
    expect(perMonth(all)).toBeLessThanOrEqual(1.13);
    // Every welfare rule's onsets within another's episode join it instead of raising a new problem.
    expect(joined['low-use'] ?? 0).toBeGreaterThan(0);
    expect(perMonth(onsets['continuous-flow'] ?? 0)).toBeLessThanOrEqual(0.16);
    expect(perMonth(onsets['heavy-use'] ?? 0)).toBeLessThanOrEqual(0.16);
    // Fewer dry mornings open an episode, so more days without water are the first of theirs.
    expect(perMonth(onsets['low-use'] ?? 0)).toBeLessThanOrEqual(0.45);
    expect(perMonth(onsets['no-water-at-peak'] ?? 0)).toBeLessThanOrEqual(0.25);
    expect(perMonth(onsets['welfare-silent'] ?? 0)).toBeLessThanOrEqual(0.15);
  });
});
