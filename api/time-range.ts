import { z } from 'zod';
import { CareflowError, type FieldIssue } from '../core/errors.ts';
import { parseInput } from './validate.ts';

const HOUR_MS = 3_600_000;
export const DEFAULT_RANGE_MS = 48 * HOUR_MS;
export const MAX_RANGE_MS = 93 * 24 * HOUR_MS;

/** An instant in a query string: epoch ms (digits) or ISO 8601 with a zone (`2026-01-05T08:00:00+08:00`). */
export const Instant = z.union(
  [
    z
      .string()
      .regex(/^\d{1,15}$/)
      .transform(Number),
    z.iso
      .datetime({ offset: true })
      .transform((s) => Date.parse(s))
      .pipe(z.number().finite()),
  ],
  { error: 'expected epoch ms or an ISO 8601 date-time with a zone, e.g. 2026-01-05T08:00:00+08:00' },
);

export const RangeQuery = z.strictObject({ from: Instant.optional(), to: Instant.optional() });

export interface TimeRange {
  from: number;
  to: number;
}

/**
 * `[from, to)` from `?from=&to=`: `to` defaults to now, `from` to 48 h before `to`;
 * `from` must be before `to` and the span at most 93 days.
 */
export function parseTimeRange(query: unknown, now: number): TimeRange {
  const q = parseInput(RangeQuery, query, 'query string');
  const to = q.to ?? (q.from !== undefined ? Math.min(q.from + DEFAULT_RANGE_MS, now) : now);
  const from = q.from ?? to - DEFAULT_RANGE_MS;
  const issues: FieldIssue[] = [];
  if (from >= to) issues.push({ path: 'to', message: 'must be after from' });
  else if (to - from > MAX_RANGE_MS)
    issues.push({ path: 'to', message: 'the range may span at most 93 days' });
  if (issues.length > 0)
    throw new CareflowError('ERR_API_VALIDATION', 'The query string is not valid (to)', issues);
  return { from, to };
}
