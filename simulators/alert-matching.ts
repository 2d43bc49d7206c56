import type { Expectation } from './ground-truth.ts';

/**
 * Attributes a raised alert to a household's ground truth (docs/simulation.md, "Matching"):
 * - a **hit** of the first expectation that expects an alert of this rule and whose window holds the
 *   alert's opening time (event time);
 * - otherwise **false**, charged to the first no-alert expectation (guests, marked away, a meter fault…)
 *   that forbids this rule at that time, or else to the household's normal behaviour.
 */
export type Attribution =
  { kind: 'hit'; expectation: number } | { kind: 'false'; expectation: number | null };

export interface AlertLike {
  ruleId: string;
  openedAt: number;
}

export function attribute(alert: AlertLike, expectations: readonly Expectation[]): Attribution {
  const inWindow = (e: Expectation) =>
    e.rules.includes(alert.ruleId) &&
    alert.openedAt >= e.windowStart &&
    (e.windowEnd === null || alert.openedAt < e.windowEnd);
  const hit = expectations.findIndex((e) => e.expect === 'alert' && inWindow(e));
  if (hit >= 0) return { kind: 'hit', expectation: hit };
  const charged = expectations.findIndex((e) => e.expect === 'no-alert' && inWindow(e));
  return { kind: 'false', expectation: charged >= 0 ? charged : null };
}

/** The outcome a grid worker records after visiting, given what the ground truth says happened. */
export function visitOutcome(attribution: Attribution, expectations: readonly Expectation[]) {
  if (attribution.kind === 'false') {
    const e = attribution.expectation === null ? null : expectations[attribution.expectation];
    return e?.scenario === 'marked-away' || e?.scenario === 'hospital-stay' ? 'resident-away' : 'false-alarm';
  }
  switch (expectations[attribution.expectation]?.scenario) {
    case 'hospital-stay':
      return 'hospitalized';
    case 'leak':
    case 'burst':
      return 'leak-confirmed';
    case 'fall':
    case 'illness':
    case 'low-use':
    case 'heavy-use':
      return 'resident-helped';
    default:
      return 'resident-ok';
  }
}
