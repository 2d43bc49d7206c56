import type { TimelineEntry } from '../core/alerts.ts';
import type { RuleAudience } from '../core/rules.ts';

/**
 * What people receive, counted from alert timelines (issue: "one problem, one alert"). The same function
 * serves `careflow replay` and `careflow simulate`, so their reports speak the same language:
 *
 * - **alerts opened / re-opened**: new alerts, and alerts the re-open window brought back on their timeline;
 * - **condition onsets**: each time a rule's condition became true after being false (the opening detection,
 *   and every later `opened` detection written to an alert that was still open). That is what a grid worker
 *   who closes every alert at once would face; in a replay nobody closes alerts, so welfare alerts alone
 *   would undercount. A welfare rule that became true within another's welfare episode (written to that
 *   alert's timeline as `joined`) is part of that problem, not a new onset;
 * - **messages to grid workers**: queued messages (any channel) to people whose role is `grid-worker`, by the
 *   event that caused them: opened, re-opened, escalated, reminder, updated, resolved;
 * - **grid-worker alerts**: what reaches a grid worker as a new problem — for welfare rules the condition
 *   onsets (as if every alert were closed at once), for the others the openings and re-openings that queued a
 *   message to a grid worker.
 */
export interface NoiseAlert {
  householdId: string;
  ruleId: string;
  audience: RuleAudience;
  timeline: readonly TimelineEntry[];
}

export interface GridWorkerMessages {
  opened: number;
  reopened: number;
  escalated: number;
  reminder: number;
  updated: number;
  resolved: number;
  total: number;
}

export interface NoiseCounts {
  alertsOpened: number;
  alertsReopened: number;
  conditionOnsets: number;
  gridWorkerAlerts: number;
  messagesToGridWorkers: GridWorkerMessages;
}

export interface NoisePerHouseholdMonth {
  alertsOpened: number;
  alertsReopened: number;
  conditionOnsets: number;
  gridWorkerAlerts: number;
  messagesToGridWorkers: number;
}

export interface RuleNoise extends NoiseCounts {
  ruleId: string;
  audience: RuleAudience;
  perHouseholdMonth: NoisePerHouseholdMonth;
}

export interface HouseholdNoise extends NoiseCounts {
  householdId: string;
}

export interface NoiseReport {
  households: number;
  householdMonths: number;
  rules: RuleNoise[];
  byAudience: Record<string, NoiseCounts & { perHouseholdMonth: NoisePerHouseholdMonth }>;
  total: NoiseCounts & { perHouseholdMonth: NoisePerHouseholdMonth };
  /** The five households that got the most grid-worker alerts (then messages). */
  worstHouseholds: HouseholdNoise[];
}

const DAY_MS = 86_400_000;
/** A household-month is 30 days, as in the detection benchmark. */
export const MONTH_DAYS = 30;

/** The household-months of `households` households over [from, to). */
export function householdMonths(households: number, from: number, to: number): number {
  return (households * Math.max(0, to - from)) / DAY_MS / MONTH_DAYS;
}

function zero(): NoiseCounts {
  return {
    alertsOpened: 0,
    alertsReopened: 0,
    conditionOnsets: 0,
    gridWorkerAlerts: 0,
    messagesToGridWorkers: {
      opened: 0,
      reopened: 0,
      escalated: 0,
      reminder: 0,
      updated: 0,
      resolved: 0,
      total: 0,
    },
  };
}

function add(into: NoiseCounts, c: NoiseCounts): void {
  into.alertsOpened += c.alertsOpened;
  into.alertsReopened += c.alertsReopened;
  into.conditionOnsets += c.conditionOnsets;
  into.gridWorkerAlerts += c.gridWorkerAlerts;
  const m = into.messagesToGridWorkers;
  for (const k of Object.keys(m) as (keyof GridWorkerMessages)[]) m[k] += c.messagesToGridWorkers[k];
}

function perMonth(c: NoiseCounts, months: number): NoisePerHouseholdMonth {
  const r = (v: number) => (months > 0 ? Math.round((v / months) * 1000) / 1000 : 0);
  return {
    alertsOpened: r(c.alertsOpened),
    alertsReopened: r(c.alertsReopened),
    conditionOnsets: r(c.conditionOnsets),
    gridWorkerAlerts: r(c.gridWorkerAlerts),
    messagesToGridWorkers: r(c.messagesToGridWorkers.total),
  };
}

/** Which message an event is, by the timeline entry that caused its `queued` entries. */
const CAUSES: Record<string, keyof Omit<GridWorkerMessages, 'total'>> = {
  opened: 'opened',
  reopened: 'reopened',
  escalated: 'escalated',
  reminder: 'reminder',
  'condition-cleared': 'updated',
  'detection-updated': 'updated',
  resolved: 'resolved',
  'auto-resolved': 'resolved',
};

/**
 * Counts one alert's timeline. A new alert that went out inside a grouped message (several alerts, one
 * message) still reaches the worker, but its message is counted once per group: the group's key is added to
 * `groups` and counted by `noiseReport`.
 */
export function alertNoise(
  a: NoiseAlert,
  isGridWorker: (personId: string) => boolean,
  groups: Set<string> = new Set(),
): NoiseCounts {
  const c = zero();
  let cause: keyof Omit<GridWorkerMessages, 'total'> = 'updated';
  // Openings (new or re-opened) that reached a grid worker, and whether anything reached one at all.
  let pendingOpening = false;
  let openingsToWorker = 0;
  let reachedWorker = false;
  for (const e of a.timeline) {
    if (e.kind === 'queued') {
      const worker = e.detail.worker;
      if (typeof worker !== 'string' || !isGridWorker(worker)) continue;
      if (e.detail.grouped !== true) {
        c.messagesToGridWorkers[cause]++;
        c.messagesToGridWorkers.total++;
      }
      reachedWorker = true;
      if (pendingOpening) {
        openingsToWorker++;
        pendingOpening = false;
      }
      continue;
    }
    if (e.kind === 'grouped') {
      const worker = e.detail.worker;
      if (typeof worker === 'string' && isGridWorker(worker) && typeof e.detail.message === 'string')
        groups.add(`${worker}|${String(e.detail.message)}`);
      continue;
    }
    cause = CAUSES[e.kind] ?? cause;
    if (e.kind === 'opened') {
      c.alertsOpened++;
      c.conditionOnsets++;
      pendingOpening = true;
    } else if (e.kind === 'reopened') {
      c.alertsReopened++;
      c.conditionOnsets++;
      pendingOpening = true;
    } else {
      pendingOpening = false;
      // A welfare rule that joined another's episode (`joined`) is not a new problem for the worker.
      if (e.kind === 'detection-updated' && isOpening(e.detail.detection) && e.detail.joined === undefined)
        c.conditionOnsets++;
    }
  }
  c.gridWorkerAlerts = a.audience === 'welfare' ? (reachedWorker ? c.conditionOnsets : 0) : openingsToWorker;
  return c;
}

function isOpening(key: unknown): boolean {
  return typeof key === 'string' && key.split('|')[2] === 'opened';
}

/** The report over every alert of `households` households for `months` household-months. */
export function noiseReport(
  alerts: readonly NoiseAlert[],
  isGridWorker: (personId: string) => boolean,
  households: number,
  months: number,
): NoiseReport {
  const rules = new Map<string, RuleNoise>();
  const audiences = new Map<string, NoiseCounts>();
  const perHousehold = new Map<string, HouseholdNoise>();
  const total = zero();
  const groups = new Set<string>();
  for (const a of alerts) {
    const before = groups.size;
    const c = alertNoise(a, isGridWorker, groups);
    // A grouped message counts once, for the alert that brought it.
    c.messagesToGridWorkers.opened += groups.size - before;
    c.messagesToGridWorkers.total += groups.size - before;
    let r = rules.get(a.ruleId);
    if (!r) {
      r = { ruleId: a.ruleId, audience: a.audience, ...zero(), perHouseholdMonth: perMonth(zero(), 0) };
      rules.set(a.ruleId, r);
    }
    add(r, c);
    let au = audiences.get(a.audience);
    if (!au) audiences.set(a.audience, (au = zero()));
    add(au, c);
    let h = perHousehold.get(a.householdId);
    if (!h) perHousehold.set(a.householdId, (h = { householdId: a.householdId, ...zero() }));
    add(h, c);
    add(total, c);
  }
  for (const r of rules.values()) r.perHouseholdMonth = perMonth(r, months);
  const byAudience: NoiseReport['byAudience'] = {};
  for (const [k, v] of [...audiences].sort(([x], [y]) => x.localeCompare(y)))
    byAudience[k] = { ...v, perHouseholdMonth: perMonth(v, months) };
  const worstHouseholds = [...perHousehold.values()]
    .sort(
      (x, y) =>
        y.gridWorkerAlerts - x.gridWorkerAlerts ||
        y.messagesToGridWorkers.total - x.messagesToGridWorkers.total ||
        y.conditionOnsets - x.conditionOnsets ||
        x.householdId.localeCompare(y.householdId),
    )
    .slice(0, 5);
  return {
    households,
    householdMonths: Math.round(months * 1000) / 1000,
    rules: [...rules.values()].sort((x, y) => x.ruleId.localeCompare(y.ruleId)),
    byAudience,
    total: { ...total, perHouseholdMonth: perMonth(total, months) },
    worstHouseholds,
  };
}

/** The per-rule summary `careflow replay` and `careflow simulate` print (one line per rule, then the total). */
export function formatNoise(n: NoiseReport): string {
  const head = ['rule', 'audience', 'opened', 're-opened', 'onsets', 'to-worker', 'msgs', '/hh-month'];
  const rows = n.rules.map((r) => [
    r.ruleId,
    r.audience,
    String(r.alertsOpened),
    String(r.alertsReopened),
    String(r.conditionOnsets),
    String(r.gridWorkerAlerts),
    String(r.messagesToGridWorkers.total),
    r.perHouseholdMonth.gridWorkerAlerts.toFixed(3),
  ]);
  const t = n.total;
  rows.push([
    'all',
    '',
    String(t.alertsOpened),
    String(t.alertsReopened),
    String(t.conditionOnsets),
    String(t.gridWorkerAlerts),
    String(t.messagesToGridWorkers.total),
    t.perHouseholdMonth.gridWorkerAlerts.toFixed(3),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return (
    `alerts per rule over ${n.households} households, ${n.householdMonths} household-months ` +
    `(to-worker: new problems reaching a grid worker; welfare rules by condition onsets):\n` +
    [line(head), ...rows.map(line)].join('\n') +
    '\n'
  );
}
