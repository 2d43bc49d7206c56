import type { Alert } from '../core/alerts.ts';
import type { RuleAudience } from '../core/rules.ts';

/** A new open alert as a detector opens one (tests that write alerts straight to a store). */
export function openAlertRow(
  fields: Pick<Alert, 'id' | 'householdId' | 'gridCode' | 'ruleId'> & { audience?: RuleAudience },
  at = Date.now(),
): Alert {
  return {
    severity: 'critical',
    audience: 'welfare',
    ...fields,
    state: 'open',
    openedAt: at,
    updatedAt: at,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    resolvedBy: null,
    outcome: null,
    note: null,
    evidence: { windowStart: at, windowEnd: at, totalLiters: 0, thresholds: {}, ruleVersion: 1 },
  };
}
