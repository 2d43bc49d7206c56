import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CareflowError, ERRORS, describeIssues, fieldIssues, isCareflowError } from './errors.ts';

interface DocumentedCode {
  code: string;
  status: number;
  meaning: string;
  action: string;
}

function documentedCodes(): DocumentedCode[] {
  const markdown = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  return markdown
    .split('\n')
    .filter((line) => /^\|\s*`[A-Z_]+`\s*\|/.test(line))
    .map((line) => {
      const cells = line
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim());
      return {
        code: cells[0]!.replaceAll('`', ''),
        status: Number(cells[1]),
        meaning: cells[2] ?? '',
        action: cells[3] ?? '',
      };
    });
}

describe('docs/errors.md', () => {
  const documented = documentedCodes();

  it('documents every code in the registry, once each, in registry order', () => {
    expect(documented.map((d) => d.code)).toEqual(Object.keys(ERRORS));
  });

  it('gives each code the HTTP status the registry gives it', () => {
    for (const d of documented) {
      expect([d.code, d.status]).toEqual([d.code, ERRORS[d.code as keyof typeof ERRORS].status]);
    }
  });

  it('says what each code means and what to do about it', () => {
    for (const d of documented) {
      expect(d.meaning.length, `${d.code} meaning`).toBeGreaterThan(10);
      expect(d.action.length, `${d.code} what to do`).toBeGreaterThan(10);
    }
  });
});

describe('CareflowError', () => {
  it('takes its status and default message from the registry', () => {
    const err = new CareflowError('ERR_ALERT_STATE_CONFLICT');

    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('CareflowError');
    expect(err.code).toBe('ERR_ALERT_STATE_CONFLICT');
    expect(err.status).toBe(409);
    expect(err.message).toBe('The alert is not in a state that allows this action');
    expect(err.issues).toEqual([]);
    expect(isCareflowError(err)).toBe(true);
    expect(isCareflowError(new Error('plain'))).toBe(false);
  });

  it('serialises to code and message, adding issues only when there are some', () => {
    const plain = new CareflowError('ERR_API_NOT_FOUND', 'No route GET /nope');
    expect(JSON.parse(JSON.stringify(plain))).toEqual({
      code: 'ERR_API_NOT_FOUND',
      message: 'No route GET /nope',
    });

    const issues = [{ path: 'meters.3.household', message: 'unknown household "h-99"' }];
    const withIssues = new CareflowError('ERR_REGISTRY_REFERENCE', 'broken references', issues);
    expect(withIssues.status).toBe(400);
    expect(withIssues.toJSON()).toEqual({
      code: 'ERR_REGISTRY_REFERENCE',
      message: 'broken references',
      issues,
    });
  });

  it('turns zod issues into dotted field paths', () => {
    const schema = z.object({ households: z.array(z.object({ grid: z.string() })) });
    const result = schema.safeParse({ households: [{ grid: 'g1' }, { grid: 7 }] });
    expect(result.success).toBe(false);

    const issues = fieldIssues(result.error!.issues);

    expect(issues).toEqual([
      {
        path: 'households.1.grid',
        message: 'Invalid input: expected string, received number',
        kind: 'type',
        limit: 'string',
      },
    ]);
    expect(fieldIssues([{ path: [], message: 'expected object' }])).toEqual([
      { path: '(root)', message: 'expected object' },
    ]);
    expect(describeIssues([...issues, { path: 'x', message: 'bad' }])).toBe(
      'households.1.grid: Invalid input: expected string, received number; x: bad',
    );
  });

  it('names the kind of each problem and its bound, so that a client can word it in its own language', () => {
    const schema = z.strictObject({
      windowMinutes: z.number().int().min(15).max(10_080),
      bar: z.number().gt(0),
      share: z.number().lt(1),
      audience: z.enum(['welfare', 'leak']),
      name: z.string().min(1).max(4),
      at: z.string().regex(/^\d\d:\d\d$/),
      step: z.number().multipleOf(5),
      need: z.number(),
    });
    const kinds = (input: unknown) =>
      fieldIssues(schema.safeParse(input).error!.issues).map(({ path, kind, limit }) => ({
        path,
        kind,
        limit,
      }));
    expect(
      kinds({ windowMinutes: 1.5, bar: 0, share: 1, audience: 'x', name: '', at: '9', step: 7, extra: 1 }),
    ).toEqual([
      { path: 'windowMinutes', kind: 'type', limit: 'int' },
      { path: 'bar', kind: 'above', limit: 0 },
      { path: 'share', kind: 'below', limit: 1 },
      { path: 'audience', kind: 'one-of', limit: 'welfare, leak' },
      { path: 'name', kind: 'required', limit: undefined },
      { path: 'at', kind: 'format', limit: undefined },
      { path: 'step', kind: 'multiple-of', limit: 5 },
      { path: 'need', kind: 'required', limit: undefined },
      { path: '(root)', kind: 'unknown-field', limit: undefined },
    ]);
    expect(
      kinds({
        windowMinutes: 5,
        bar: 1,
        share: 0,
        audience: 'leak',
        name: 'abcdef',
        at: '09:00',
        step: 5,
        need: 1,
      }),
    ).toEqual([
      { path: 'windowMinutes', kind: 'min', limit: 15 },
      { path: 'name', kind: 'max-length', limit: 4 },
    ]);
  });
});
