import { z } from 'zod';
import { CareflowError, fieldIssues } from '../core/errors.ts';

/** Which part of the request a schema checks; named in the error message. */
export type RequestPart = 'path' | 'query string' | 'body';

/**
 * Checks untrusted input with `safeParse`; on failure throws `ERR_API_VALIDATION` with one issue per field
 * (`path` is relative to the part: `outcome`, `limit`, `(root)`).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, part: RequestPart): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = fieldIssues(result.error.issues);
  const fields = [...new Set(issues.map((i) => i.path))].join(', ');
  throw new CareflowError('ERR_API_VALIDATION', `The ${part} is not valid (${fields})`, issues);
}

/** `limit` in a query string: an integer from 1 to `max`, `fallback` when absent. */
export function limitParam(fallback = 200, max = 1000) {
  return z
    .string()
    .regex(/^\d{1,6}$/, `expected an integer from 1 to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .default(fallback);
}
