import type { z } from 'zod';
import { CareflowError } from '../core/errors.ts';

/**
 * Opaque paging cursors: the sort key of a page's last item as base64url JSON. A list answers `next` (null on
 * the last page); the caller sends it back as `?cursor=`. A cursor that does not decode is a validation error.
 */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor<S extends z.ZodType>(cursor: string, schema: S): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new CareflowError('ERR_API_VALIDATION', 'The query string is not valid (cursor)', [
      { path: 'cursor', message: 'expected the `next` value of a previous page' },
    ]);
  return parsed.data;
}
