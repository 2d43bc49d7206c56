import { RuleSet, type Rule } from './index.ts';

/**
 * The default rule set. Its values are the deployed-service values docs/detectors (shared) names, except where
 * the detection benchmark showed them crying wolf (README, "Changes to the documented defaults"): `heavy-use`
 * at 120 L per hour instead of 60, the peak window learned from the usual first use instead of the highest
 * mean, and `meter-silent` following meters that upload once a day.
 */
export const DEFAULT_RULES: Rule[] = RuleSet.parse([
  {
    id: 'low-use',
    type: 'sustained-low',
    severity: 'critical',
    audience: 'welfare',
    suppressedWhenAway: true,
    params: { windowMinutes: 24 * 60, maxTotalLiters: 10, minUsualShare: 0.9, weekendApart: true },
  },
  {
    id: 'continuous-flow',
    type: 'sustained-high',
    severity: 'warning',
    audience: 'leak',
    autoResolve: true,
    params: {
      windowMinutes: 24 * 60,
      minLitersPerBucket: 1,
      holdToleranceShare: 0.2,
      clearHoldMinutes: 7 * 24 * 60,
      reopenWithinMinutes: 72 * 60,
    },
  },
  {
    id: 'heavy-use',
    type: 'sustained-high',
    severity: 'critical',
    audience: 'welfare',
    autoResolve: true,
    params: { windowMinutes: 2 * 60, minLitersPerBucket: 120, relativeToHighHour: 1 },
  },
  {
    id: 'no-water-at-peak',
    type: 'zero-at-peak',
    severity: 'warning',
    audience: 'welfare',
    suppressedWhenAway: true,
    params: {
      start: '06:00',
      end: '09:00',
      maxLiters: 1,
      learn: true,
      minUsualShare: 0.9,
      weekendApart: true,
      confirmMinutes: 2 * 60,
    },
  },
  {
    id: 'meter-silent',
    type: 'silent',
    severity: 'info',
    audience: 'maintenance',
    autoResolve: true,
    params: {
      afterMinutes: 6 * 60,
      usualIntervalFactor: 1.25,
      clearHoldMinutes: 3 * 24 * 60,
      reopenWithinMinutes: 14 * 24 * 60,
    },
  },
  {
    id: 'welfare-silent',
    type: 'silent',
    severity: 'warning',
    audience: 'welfare',
    autoResolve: true,
    suppressedWhenAway: true,
    params: {
      afterMinutes: 24 * 60,
      usualIntervalFactor: 2,
      households: 'welfare',
      reliabilityFactor: 1.5,
      maxAfterMinutes: 48 * 60,
    },
  },
]);

/**
 * The default rules without their noise controls (clear-hold, re-open window, hold tolerance, usual-share
 * gates, learned meter reliability, the household-relative heavy-use bar) and without `welfare-silent`: what
 * each rule type does on its own, as documented. The tests of the rule mechanics use it; the noise controls have tests of their own.
 */
export const PLAIN_RULES: Rule[] = RuleSet.parse(
  DEFAULT_RULES.filter((r) => r.id !== 'welfare-silent').map((r) => {
    const p: Record<string, unknown> = { ...r.params };
    for (const k of [
      'clearHoldMinutes',
      'reopenWithinMinutes',
      'holdToleranceShare',
      'minUsualShare',
      'confirmMinutes',
    ])
      if (k in p) p[k] = 0;
    if ('weekendApart' in p) p.weekendApart = false;
    if ('reliabilityFactor' in p) p.reliabilityFactor = null;
    if ('maxAfterMinutes' in p) p.maxAfterMinutes = null;
    if ('relativeToHighHour' in p) p.relativeToHighHour = null;
    return { ...r, params: p };
  }),
);
