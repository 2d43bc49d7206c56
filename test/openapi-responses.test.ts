import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Detection } from '../core/streams.ts';
import { ADMIN_TOKEN, HOUR, startTestService, T0, testRegistry, type TestService } from './harness.ts';

/**
 * The OpenAPI document names a response schema for every route, and real answers over real HTTP match the
 * document's JSON Schemas — checked with a JSON Schema validator (Ajv, draft 2020-12) independent of zod, so
 * the document itself is what is tested, not the code that generates it.
 */
interface MediaType {
  schema?: Record<string, unknown>;
}
interface Operation {
  responses: Record<string, { description: string; content?: Record<string, MediaType> }>;
  security?: unknown[];
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

let svc: TestService;
let base: string;
let doc: Document;

const detection = (householdId: string, at: number): Detection => ({
  key: `${householdId}|welfare|${at}`,
  householdId,
  ruleId: 'low-use',
  ruleType: 'sustained-low',
  kind: 'opened',
  at,
  evidence: {
    windowStart: at - 24 * HOUR,
    windowEnd: at,
    totalLiters: 0,
    thresholds: { min: 5 },
    ruleVersion: 1,
  },
  severity: 'critical',
  audience: 'welfare',
  autoResolve: false,
});

beforeAll(async () => {
  svc = await startTestService({ registry: testRegistry(2) });
  base = `http://127.0.0.1:${svc.cf.httpPort}`;
  svc.clock.advanceTo(T0 + 30 * HOUR);
  svc.cf.notifier.actions.applyDetection(detection('h-g1-1', T0 + 30 * HOUR));
  doc = (await (await fetch(`${base}/docs/openapi.json`)).json()) as Document;
});
afterAll(async () => svc?.dispose());

describe('the OpenAPI document', () => {
  it('documents a 2xx body with a schema for every route, and the error shape', () => {
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ where: `${method.toUpperCase()} ${path}`, op })),
    );
    expect(operations.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const { where, op } of operations) {
      const ok = Object.entries(op.responses).filter(([status]) => /^2\d\d$/.test(status));
      const bodies = ok.flatMap(([, r]) => Object.values(r.content ?? {}));
      if (bodies.length === 0 || bodies.some((m) => m.schema === undefined)) missing.push(where);
      const json = ok.map(([, r]) => r.content?.['application/json']?.schema).filter((s) => s !== undefined);
      // A JSON body is described field by field, never as "anything".
      for (const s of json)
        if (s.type !== 'object' || !s.properties) missing.push(`${where} (not an object)`);
      expect(op.responses['400']?.content?.['application/json']?.schema, where).toEqual({
        $ref: '#/components/schemas/Error',
      });
      if (op.security?.length) expect(op.responses['401'], where).toBeDefined();
    }
    expect(missing).toEqual([]);
  });
});

describe('real answers match the document', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validators = new Map<string, ReturnType<typeof ajv.compile>>();

  /** Calls the route over HTTP and validates the answer against the document's schema for its status. */
  async function check(method: string, url: string, path: string, body?: unknown) {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const answer: unknown = await res.json();
    const key = `${method} ${path} ${res.status}`;
    const schema =
      doc.paths[path]?.[method.toLowerCase()]?.responses[String(res.status)]?.content?.['application/json']
        ?.schema;
    expect(schema, key).toBeDefined();
    let validate = validators.get(key);
    if (!validate) {
      validate = ajv.compile({ ...schema, components: doc.components });
      validators.set(key, validate);
    }
    expect(validate(answer) ? [] : validate.errors, key).toEqual([]);
    return { status: res.status, answer: answer as Record<string, unknown> };
  }

  it('alerts, households, the caller, health, keys, rules, dead letters and the overview', async () => {
    const list = await check('GET', '/api/alerts', '/api/alerts');
    expect((list.answer.alerts as unknown[]).length).toBe(1);
    const id = (list.answer.alerts as { id: string }[])[0]!.id;
    await check('GET', `/api/alerts/${id}`, '/api/alerts/{id}');
    const ack = await check('POST', `/api/alerts/${id}/ack`, '/api/alerts/{id}/ack', { note: 'on my way' });
    expect((ack.answer.alert as { state: string }).state).toBe('acknowledged');
    await check('GET', '/api/households/h-g1-1', '/api/households/{id}');
    await check('GET', '/api/households?limit=5', '/api/households');
    await check('GET', '/api/registry/meters', '/api/registry/{kind}');
    await check('GET', '/api/registry/workers', '/api/registry/{kind}');
    await check('GET', '/api/me', '/api/me');
    await check('GET', '/healthz', '/healthz');
    const created = await check('POST', '/api/api-keys', '/api/api-keys', { name: 'prom', role: 'monitor' });
    expect(created.answer.key).toEqual(expect.any(String));
    await check('GET', '/api/api-keys', '/api/api-keys');
    await check('GET', '/api/rules/effective?household=h-g1-1', '/api/rules/effective');
    await check('GET', '/api/deadletters/counts', '/api/deadletters/counts');
    await check('GET', '/api/overview', '/api/overview');
    await check('GET', '/api/events?follow=false&lastEventId=0', '/api/events');
  });

  it('the error shape of a refused request', async () => {
    const res = await check('GET', '/api/alerts?state=bogus', '/api/alerts');
    expect(res.status).toBe(400);
    expect(res.answer.code).toBe('ERR_API_VALIDATION');
  });
});
