import { CONFIRMING_OUTCOMES, type Outcome } from '../core/alerts.ts';
import type { DidFire, RuleDifference, Verdict, WouldFire } from '../core/backtest.ts';
import type { RuleAudience } from '../core/rules.ts';
import type { Rule } from '../detectors/rules/index.ts';
import type { Detection } from '../core/streams.ts';
import type { LiveAlert } from '../core/store/backtest-repo.ts';
import { alertId } from '../notifier/alert-service.ts';

/**
 * How an outcome judges the alert it closed. Confirmed: the outcomes that confirm the rule's audience
 * (welfare: resident-helped, hospitalized, leak-confirmed, leak-repaired; leak: leak-confirmed,
 * leak-repaired; maintenance: meter-fault). False: false-alarm and resident-ok, resident-away (nobody needed
 * a visit: that is what away mode is for), and meter-fault for usage rules (the meter, not the household).
 * Anything else (`other`) is neither; an alert without an outcome is still open.
 */
const FALSE_OUTCOMES: Record<RuleAudience, readonly Outcome[]> = {
  welfare: ['false-alarm', 'resident-ok', 'resident-away', 'meter-fault'],
  leak: ['false-alarm', 'resident-ok', 'resident-away', 'meter-fault'],
  maintenance: ['false-alarm', 'resident-ok'],
};

export function verdict(audience: RuleAudience, outcome: Outcome | null): Verdict {
  if (outcome === null) return 'open';
  if (CONFIRMING_OUTCOMES[audience].includes(outcome)) return 'confirmed';
  if (FALSE_OUTCOMES[audience].includes(outcome)) return 'false';
  return 'other';
}

/**
 * Pairs one household's candidate detections (oldest first, warm-up included) with its live alerts, the way
 * the notifier turns detections into alerts: an `opened` detection starts a new alert unless one of that
 * rule is still open — live, until it was resolved (by a person, or automatically); a would-be alert
 * without a live counterpart stays open until it clears (auto-resolving rules) or for good (nobody has closed
 * it). Each would-be alert is matched to the live alert with the same opening detection, else to the nearest
 * one within `withinMs`. Returns the pairs with openings in [from, to).
 */
export function pairAlerts(
  detections: readonly Detection[],
  live: readonly LiveAlert[],
  withinMs: number,
  period: { from: number; to: number },
): { wouldFire: WouldFire[]; didFire: DidFire[] } {
  const used = new Map<string, WouldFire>();
  const wouldFire: WouldFire[] = [];
  const open = new Map<string, { until: number; autoResolve: boolean }>();
  for (const d of detections) {
    const current = open.get(d.ruleId);
    if (d.kind === 'cleared') {
      if (current && d.autoResolve && d.at < current.until) current.until = d.at;
      continue;
    }
    if (d.kind !== 'opened') continue;
    // One welfare episode, one alert: the opening goes to the timeline of the episode's alert.
    if (d.episode !== undefined && open.has(d.episode.ruleId)) continue;
    if (current && d.at < current.until) continue;
    // The re-open window: the alert careflow closed opens again, no new alert.
    if (d.reopen === true && current?.autoResolve === true) {
      current.until = Infinity;
      continue;
    }
    const w: WouldFire = {
      householdId: d.householdId,
      ruleId: d.ruleId,
      at: d.at,
      alertId: null,
      evidence: {
        windowStart: d.evidence.windowStart,
        windowEnd: d.evidence.windowEnd,
        thresholds: d.evidence.thresholds,
      },
    };
    const candidates = live.filter((a) => a.ruleId === d.ruleId && !used.has(a.id));
    const id = alertId(d.key);
    const hit =
      candidates.find((a) => a.id === id) ??
      candidates
        .filter((a) => Math.abs(a.openedAt - d.at) <= withinMs)
        .sort((x, y) => Math.abs(x.openedAt - d.at) - Math.abs(y.openedAt - d.at))[0];
    if (hit) {
      w.alertId = hit.id;
      used.set(hit.id, w);
    }
    open.set(d.ruleId, { until: hit?.resolvedAt ?? Infinity, autoResolve: d.autoResolve });
    if (d.at >= period.from && d.at < period.to) wouldFire.push(w);
  }
  const didFire: DidFire[] = live
    .filter((a) => a.openedAt >= period.from && a.openedAt < period.to)
    .map((a) => {
      const w = used.get(a.id);
      return {
        alertId: a.id,
        householdId: a.householdId,
        ruleId: a.ruleId,
        openedAt: a.openedAt,
        outcome: a.outcome,
        verdict: verdict(a.audience as RuleAudience, a.outcome),
        caught: w !== undefined,
        shiftMs: w ? w.at - a.openedAt : null,
      };
    });
  return { wouldFire, didFire };
}

export function differences(
  rules: readonly Rule[],
  wouldFire: readonly WouldFire[],
  didFire: readonly DidFire[],
): RuleDifference[] {
  const ids = [...new Set([...rules.map((r) => r.id), ...didFire.map((d) => d.ruleId)])];
  return ids
    .map((ruleId) => {
      const would = wouldFire.filter((w) => w.ruleId === ruleId);
      const did = didFire.filter((d) => d.ruleId === ruleId);
      const caught = did.filter((d) => d.caught);
      return {
        ruleId,
        audience: rules.find((r) => r.id === ruleId)?.audience ?? 'welfare',
        wouldFire: would.length,
        didFire: did.length,
        caught: caught.length,
        confirmed: did.filter((d) => d.verdict === 'confirmed').length,
        confirmedCaught: caught.filter((d) => d.verdict === 'confirmed').length,
        falseAlarms: did.filter((d) => d.verdict === 'false').length,
        falseAlarmsAvoided: did.filter((d) => d.verdict === 'false' && !d.caught).length,
        newAlerts: would.filter((w) => w.alertId === null).length,
        earlier: caught.filter((d) => d.shiftMs! < 0).map((d) => -d.shiftMs!),
        later: caught.filter((d) => d.shiftMs! > 0).map((d) => d.shiftMs!),
      };
    })
    .filter((d) => d.wouldFire + d.didFire > 0);
}

/** "continuous-flow: catches 3 of 3 confirmed leaks, 4 fewer false alarms, 1 alert later by 2 h". */
export function sentence(d: RuleDifference): string {
  const parts: string[] = [];
  const what =
    d.audience === 'leak' ? 'leaks' : d.audience === 'maintenance' ? 'meter faults' : 'welfare cases';
  if (d.confirmed > 0) parts.push(`catches ${d.confirmedCaught} of ${d.confirmed} confirmed ${what}`);
  if (d.falseAlarmsAvoided > 0)
    parts.push(`${d.falseAlarmsAvoided} fewer false alarm${d.falseAlarmsAvoided === 1 ? '' : 's'}`);
  const otherMissed = d.didFire - d.caught - (d.confirmed - d.confirmedCaught) - d.falseAlarmsAvoided;
  if (otherMissed > 0)
    parts.push(`${otherMissed} unjudged alert${otherMissed === 1 ? '' : 's'} no longer raised`);
  if (d.later.length > 0) parts.push(shifted(d.later, 'later'));
  if (d.earlier.length > 0) parts.push(shifted(d.earlier, 'earlier'));
  if (d.newAlerts > 0)
    parts.push(`${d.newAlerts} new alert${d.newAlerts === 1 ? '' : 's'} (no outcome recorded yet)`);
  if (parts.length === 0)
    return `${d.ruleId}: the same ${d.didFire} alert${d.didFire === 1 ? '' : 's'} as live`;
  return `${d.ruleId}: ${parts.join(', ')}`;
}

function shifted(ms: readonly number[], how: 'later' | 'earlier'): string {
  const max = Math.max(...ms);
  const n = ms.length;
  return `${n} alert${n === 1 ? '' : 's'} ${how} by ${n === 1 ? '' : 'up to '}${hours(max)}`;
}

function hours(ms: number): string {
  const h = ms / 3_600_000;
  return Number.isInteger(h) ? `${h} h` : `${Math.round(h * 10) / 10} h`;
}
