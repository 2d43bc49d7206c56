import type { FieldIssue } from '../core/errors.ts';
import { minutesOfDay, type Rule } from '../core/rules.ts';

/** Checks what the rule schema alone cannot: windows and peak times must fit the bucket size. */
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
    }
  });
  return issues;
}

/** The longest history any rule looks at, in minutes. */
export function maxWindowMinutes(rules: readonly Rule[]): number {
  let max = 60;
  for (const r of rules) {
    if (r.type === 'sustained-low' || r.type === 'sustained-high')
      max = Math.max(max, r.params.windowMinutes);
    if (r.type === 'zero-at-peak') {
      const len = (minutesOfDay(r.params.end) - minutesOfDay(r.params.start) + 1440) % 1440 || 1440;
      max = Math.max(max, len);
    }
  }
  return max;
}
