import type { NoiseReport } from '../notifier/alert-noise.ts';
import { attribute } from '../simulators/alert-matching.ts';
import type { Expectation } from '../simulators/ground-truth.ts';
import { quantile } from '../simulators/usage-statistics.ts';
import type {
  DelayStats,
  FalseExample,
  Miss,
  RuleScore,
  ScenarioScore,
  ScoreReport,
  Target,
} from './score-report-types.ts';
import type { AlertsFile, GroundTruthFile, RaisedAlert } from './simulate-results.ts';

export type * from './score-report-types.ts';

/**
 * `careflow score`: matches the raised alerts to the ground truth (simulators/alert-matching.ts) and
 * measures, per scenario type and per rule, what docs/simulation.md defines: recall, precision, detection
 * delay (event time, in buckets after the condition became observable), notification delay (service
 * clock), and false welfare alerts per household-month.
 */
const TARGET_GROUPS: { name: string; types: string[] }[] = [
  { name: 'leaks', types: ['leak'] },
  { name: 'falls/illness', types: ['fall', 'illness', 'low-use'] },
  { name: 'heavy use', types: ['heavy-use', 'burst'] },
];

export function scoreRun(truth: GroundTruthFile, raised: AlertsFile): ScoreReport {
  const bucketMs = truth.run.bucketMinutes * 60_000;
  const householdMonths = (truth.run.households * truth.run.days) / 30;
  const byHousehold = new Map<string, RaisedAlert[]>();
  for (const a of raised.alerts)
    byHousehold.set(a.householdId, [...(byHousehold.get(a.householdId) ?? []), a]);

  const audienceOf = new Map<string, string>(truth.run.rules.map((r) => [String(r.id), String(r.audience)]));
  for (const a of raised.alerts) audienceOf.set(a.ruleId, a.audience);
  const firstHit = new Map<string, RaisedAlert>();
  const hitRules = new Map<string, Record<string, number>>();
  const rule = new Map<string, RuleScore>();
  const falseWelfare: ScoreReport['falseWelfare'] = {
    total: 0,
    perHouseholdMonth: 0,
    byRule: {},
    byCause: {},
    byProfile: {},
    byMeterMode: {},
  };
  const maintenance: ScoreReport['maintenance'] = { alerts: 0, false: 0, byMeterMode: {} };
  const chargedTo = new Map<string, number>();
  const falseOfRule = new Map<string, number>();
  const falseExamples: FalseExample[] = [];

  for (const h of truth.households) {
    const month = truth.run.days / 30;
    for (const group of [falseWelfare.byProfile, falseWelfare.byMeterMode]) {
      const key = group === falseWelfare.byProfile ? h.profile : h.meterMode;
      const g = (group[key] ??= { households: 0, alerts: 0, perHouseholdMonth: 0 });
      g.households++;
      g.perHouseholdMonth = g.alerts / (g.households * month);
    }
    const example: FalseExample = {
      householdId: h.id,
      profile: h.profile,
      meterMode: h.meterMode,
      cause: '',
      alerts: [],
    };
    for (const a of byHousehold.get(h.id) ?? []) {
      const r = getOr(rule, a.ruleId, () => ({
        ruleId: a.ruleId,
        audience: a.audience,
        alerts: 0,
        hits: 0,
        false: 0,
        precision: null,
        falsePerHouseholdMonth: 0,
      }));
      r.alerts++;
      if (a.audience === 'maintenance') {
        maintenance.alerts++;
        maintenance.byMeterMode[h.meterMode] = (maintenance.byMeterMode[h.meterMode] ?? 0) + 1;
      }
      const at = attribute(a, h.expectations);
      if (at.kind === 'hit') {
        r.hits++;
        const key = `${h.id}#${at.expectation}`;
        const prev = firstHit.get(key);
        if (!prev || a.openedAt < prev.openedAt) firstHit.set(key, a);
        const counts = (hitRules.get(key) ?? {}) as Record<string, number>;
        counts[a.ruleId] = (counts[a.ruleId] ?? 0) + 1;
        hitRules.set(key, counts);
        continue;
      }
      r.false++;
      falseOfRule.set(a.ruleId, (falseOfRule.get(a.ruleId) ?? 0) + 1);
      const cause = at.expectation === null ? 'normal' : h.expectations[at.expectation]!.scenario;
      if (at.expectation !== null)
        chargedTo.set(`${h.id}#${at.expectation}`, (chargedTo.get(`${h.id}#${at.expectation}`) ?? 0) + 1);
      if (a.audience === 'maintenance') maintenance.false++;
      if (a.audience !== 'welfare') continue;
      falseWelfare.total++;
      falseWelfare.byRule[a.ruleId] = (falseWelfare.byRule[a.ruleId] ?? 0) + 1;
      falseWelfare.byCause[cause] = (falseWelfare.byCause[cause] ?? 0) + 1;
      falseWelfare.byProfile[h.profile]!.alerts++;
      falseWelfare.byMeterMode[h.meterMode]!.alerts++;
      example.cause = example.cause || cause;
      example.alerts.push({
        ruleId: a.ruleId,
        openedAt: a.openedAt,
        buckets: a.evidence.buckets?.slice(-6),
        totalLiters: a.evidence.totalLiters,
      });
    }
    if (example.alerts.length > 0) falseExamples.push(example);
  }
  for (const group of [falseWelfare.byProfile, falseWelfare.byMeterMode]) {
    for (const g of Object.values(group))
      g.perHouseholdMonth = g.alerts / (g.households * (truth.run.days / 30));
  }
  falseWelfare.perHouseholdMonth = falseWelfare.total / householdMonths;
  for (const r of rule.values()) {
    r.precision = r.alerts > 0 ? r.hits / r.alerts : null;
    r.falsePerHouseholdMonth = r.false / householdMonths;
  }

  const scenarios = new Map<
    string,
    ScenarioScore & { delays: number[]; notify: number[]; matched: number; rules: Set<string> }
  >();
  const misses: Miss[] = [];
  for (const h of truth.households) {
    h.expectations.forEach((e: Expectation, i) => {
      // A late riser who is up before the household's peak ends is a different case: no alert is expected.
      const name =
        e.note === 'up before the peak ends' ? `${e.scenario} (up before the peak ends)` : e.scenario;
      const s = getOr(scenarios, name, () => ({
        scenario: name,
        expect: e.expect,
        instances: 0,
        observable: 0,
        runEnded: 0,
        rulesCannotSee: 0,
        detected: 0,
        recall: null,
        precision: null,
        delayBuckets: { median: null, p95: null },
        notifyDelayBuckets: { median: null, p95: null },
        falseAlerts: 0,
        hitsByRule: {},
        delays: [],
        notify: [],
        matched: 0,
        rules: new Set<string>(),
      }));
      s.instances++;
      e.rules.forEach((r) => s.rules.add(r));
      const key = `${h.id}#${i}`;
      s.falseAlerts += chargedTo.get(key) ?? 0;
      if (e.expect !== 'alert') return;
      if (e.observableAt !== null) s.observable++;
      else if (e.unobservable === 'run-ended') s.runEnded++;
      else s.rulesCannotSee++;
      for (const [r, n] of Object.entries(hitRules.get(key) ?? {})) {
        s.hitsByRule[r] = (s.hitsByRule[r] ?? 0) + n;
        s.matched += n;
      }
      const hit = firstHit.get(key);
      if (hit) {
        s.detected++;
        if (e.observableAt !== null) {
          s.delays.push((hit.openedAt - e.observableAt) / bucketMs);
          if (hit.notifiedAt !== null) s.notify.push((hit.notifiedAt - e.observableAt) / bucketMs);
        }
      } else if (e.unobservable !== 'run-ended') {
        misses.push({
          householdId: h.id,
          scenario: e.scenario,
          profile: h.profile,
          meterMode: h.meterMode,
          observableAt: e.observableAt,
          ...(e.unobservable ? { unobservable: e.unobservable } : {}),
          alerts: (byHousehold.get(h.id) ?? []).map((a) => `${a.ruleId}@${a.openedAt}`),
          usage: h.usage[i] ?? null,
        });
      }
    });
  }
  const scenarioScores: ScenarioScore[] = [...scenarios.values()].map(
    ({ delays, notify, matched, rules, ...s }) => {
      const falseOfRules = [...rules].reduce((n, r) => n + (falseOfRule.get(r) ?? 0), 0);
      const counted = s.instances - s.runEnded;
      return {
        ...s,
        recall: s.expect === 'alert' && counted > 0 ? s.detected / counted : null,
        precision:
          s.expect === 'alert' && matched + falseOfRules > 0 ? matched / (matched + falseOfRules) : null,
        delayBuckets: stats(delays),
        notifyDelayBuckets: stats(notify),
      };
    },
  );
  scenarioScores.sort((a, b) =>
    a.expect === b.expect ? a.scenario.localeCompare(b.scenario) : a.expect === 'alert' ? -1 : 1,
  );
  falseExamples.sort(
    (a, b) => b.alerts.length - a.alerts.length || a.householdId.localeCompare(b.householdId),
  );

  return {
    run: truth.run,
    noise: (raised.noise as NoiseReport | undefined) ?? null,
    householdMonths,
    scenarios: scenarioScores,
    rules: [...rule.values()].sort((a, b) => a.ruleId.localeCompare(b.ruleId)),
    falseWelfare,
    maintenance,
    targets: targets(scenarioScores, falseWelfare.perHouseholdMonth),
    misses,
    falseExamples: falseExamples.slice(0, 15),
  };
}

function targets(scores: ScenarioScore[], falsePerMonth: number): Target[] {
  const out: Target[] = TARGET_GROUPS.map((g) => {
    const members = scores.filter((s) => g.types.includes(s.scenario));
    const counted = members.reduce((n, s) => n + s.instances - s.runEnded, 0);
    const detected = members.reduce((n, s) => n + s.detected, 0);
    const value = counted > 0 ? detected / counted : null;
    return { name: `recall, ${g.name}`, target: '≥ 0.95', value, met: value !== null && value >= 0.95 };
  });
  out.push({
    name: 'false welfare alerts per household-month',
    target: '≤ 0.5',
    value: falsePerMonth,
    met: falsePerMonth <= 0.5,
  });
  const delays = scores.filter((s) => s.expect === 'alert' && s.delayBuckets.median !== null);
  const all = delays.map((s) => s.delayBuckets.median!);
  const worst = all.length > 0 ? Math.max(...all) : null;
  out.push({
    name: 'median detection delay, worst scenario type (buckets)',
    target: '≤ 1',
    value: worst,
    met: worst !== null && worst <= 1,
  });
  return out;
}

function getOr<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = make()));
  return v;
}

function stats(values: number[]): DelayStats {
  if (values.length === 0) return { median: null, p95: null };
  return { median: round(quantile(values, 0.5)), p95: round(quantile(values, 0.95)) };
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
