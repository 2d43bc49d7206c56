import type { FieldIssue } from '../core/errors.ts';
import { minutesOfDay, type Rule } from '../core/rules.ts';
import { HIGH_HOUR_DAYS } from './high-hour.ts';
import { BASELINE_DAYS } from './baseline.ts';

/** Checks what the rule schema alone cannot: windows and peak times must fit the bucket size, and more. */
export function validateRulesForBuckets(rules: readonly Rule[], bucketMinutes: number): FieldIssue[] {
  const issues: FieldIssue[] = [];
  rules.forEach((rule, i) => {
    const at = (field: string) => `${rule.id ?? i}.params.${field}`;
    if (rule.type === 'sustained-low' || rule.type === 'sustained-high') {
      if (rule.params.windowMinutes % bucketMinutes !== 0) {
        issues.push({
          path: at('windowMinutes'),
          message: `must be a multiple of the bucket size (${bucketMinutes} minutes); got ${rule.params.windowMinutes}`,
        });
      }
    }
    if (rule.type === 'zero-at-peak') {
      for (const field of ['start', 'end'] as const) {
        if (minutesOfDay(rule.params[field]) % bucketMinutes !== 0) {
          issues.push({ path: at(field), message: `must fall on a ${bucketMinutes}-minute bucket boundary` });
        }
      }
      if (rule.params.start === rule.params.end)
        issues.push({ path: at('end'), message: 'must differ from start' });
      if (rule.params.minDays > rule.params.learnDays)
        issues.push({
          path: at('minDays'),
          message: `must be at most learnDays (${rule.params.learnDays}); got ${rule.params.minDays}`,
        });
    }
  });
  return issues;
}

/** What the detectors must keep per household for a rule set: bucket history and days of hourly history. */
export interface RuleNeeds {
  windowMinutes: number;
  historyDays: number;
}

/** The longest history any rule looks at, in minutes (at least an hour). */
export function maxWindowMinutes(rules: readonly Rule[]): number {
  let max = 60;
  for (const r of rules) {
    if (r.type === 'sustained-low' || r.type === 'sustained-high')
      max = Math.max(max, r.params.windowMinutes);
    if (r.type === 'zero-at-peak') {
      const len = (minutesOfDay(r.params.end) - minutesOfDay(r.params.start) + 1440) % 1440 || 1440;
      max = Math.max(max, len, r.params.learn ? r.params.peakHours * 60 : 0);
    }
  }
  return max;
}

/**
 * Days of hourly history to keep: a learned peak looks at `learnDays` days before today, a baseline at
 * 21; the current day is held too (disabled rules count: their history is ready when they are enabled).
 * 0 when no rule needs any: then no history is kept at all.
 */
export function historyDays(rules: readonly Rule[]): number {
  let days = 0;
  for (const r of rules) {
    if (r.type === 'zero-at-peak' && (r.params.learn || r.params.minUsualShare > 0))
      days = Math.max(days, r.params.learnDays + 1);
    if (r.type === 'sustained-low' && (r.params.relativeToBaseline !== null || r.params.minUsualShare > 0))
      days = Math.max(days, BASELINE_DAYS + 1);
    if (r.type === 'sustained-high' && r.params.relativeToHighHour !== null)
      days = Math.max(days, HIGH_HOUR_DAYS + 1);
  }
  return days;
}

export function ruleNeeds(rules: readonly Rule[]): RuleNeeds {
  return { windowMinutes: maxWindowMinutes(rules), historyDays: historyDays(rules) };
}

/** The needs of several rule sets together (every scope's effective rules). */
export function combineNeeds(needs: readonly RuleNeeds[]): RuleNeeds {
  return {
    windowMinutes: Math.max(60, ...needs.map((n) => n.windowMinutes)),
    historyDays: Math.max(0, ...needs.map((n) => n.historyDays)),
  };
}
