/** Alerts as the API lists them (GET /api/alerts). */
export interface AlertItem {
  id: string;
  householdId: string;
  gridCode: string;
  ruleId: string;
  severity: string;
  audience: 'welfare' | 'leak' | 'maintenance';
  state: 'open' | 'acknowledged' | 'resolved';
  openedAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  resolvedAt: number | null;
  outcome: string | null;
  address: string;
  escalationLevel: number | null;
  message: { 'zh-CN': string; en: string } | null;
}

const AUDIENCE_RANK: Record<string, number> = { welfare: 0, leak: 1, maintenance: 2 };

/** Most urgent first: welfare before leak before maintenance, then the oldest first. */
export function byUrgency(a: AlertItem, b: AlertItem): number {
  return (AUDIENCE_RANK[a.audience] ?? 3) - (AUDIENCE_RANK[b.audience] ?? 3) || a.openedAt - b.openedAt;
}

export const OUTCOMES = [
  'resident-ok',
  'resident-helped',
  'hospitalized',
  'leak-confirmed',
  'leak-repaired',
  'meter-fault',
  'resident-away',
  'false-alarm',
  'other',
] as const;
