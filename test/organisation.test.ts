import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertEvent, WorkerAlertMessage } from '../core/alerts.ts';
import { isCareflowError } from '../core/errors.ts';
import { importRegistry } from '../core/registry-import.ts';
import { openStore } from '../core/store/store.ts';
import { kinds, loginAs, raiseHeavyUse } from './delivery-harness.ts';
import {
  ADMIN_TOKEN,
  connectWorker,
  eventually,
  HOUR,
  settle,
  startTestService,
  T0,
  tempDataDir,
  type TestService,
} from './harness.ts';
import { organisationRegistry } from './organisation-registry.ts';

/**
 * The whole organisation around a resident (issue 16): districts, buildings, units, their heads and
 * relatives in the registry; a community chain that tells the unit head first, on the manual clock, over
 * real MQTT apps; neighbours of another building and relatives of another household see nothing of it
 * (HTTP, server-sent events, MQTT); relatives' webhooks, signed, carry only their household's alerts, and a
 * relative's acknowledgement stops the chain like a worker's.
 */
const MIN = 60_000;
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
const services: TestService[] = [];
const servers: Server[] = [];
const apps: Awaited<ReturnType<typeof connectWorker>>[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.client.endAsync()));
  for (const s of services.splice(0)) await s.dispose();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on 127.0.0.1 that answers 200 and keeps every call. */
async function receiver() {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/family`, requests };
}

function signatureValid(r: Received, secret: string): boolean {
  const timestamp = r.headers['x-careflow-timestamp'];
  const given = r.headers['x-careflow-signature'];
  if (typeof timestamp !== 'string' || typeof given !== 'string' || !given.startsWith('v1=')) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.${r.body}`).digest();
  const actual = Buffer.from(given.slice(3), 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

async function start() {
  const h1 = await receiver();
  const h3 = await receiver();
  const bh = await receiver();
  const svc = await startTestService({
    registry: organisationRegistry({ h1: h1.url, h3: h3.url, bh: bh.url }),
  });
  services.push(svc);
  svc.clock.advanceTo(T0 + 10 * HOUR);
  return { svc, hooks: { h1, h3, bh } };
}

async function app(svc: TestService, id: string) {
  const a = await connectWorker(svc.mqttUrl, id, `secret-${id}`);
  apps.push(a);
  return { ...a, messages: a.messages as unknown as WorkerAlertMessage[] };
}

describe('the registry with districts, buildings, units, their heads and family', () => {
  it('imports, and a second import changes nothing', async () => {
    const dir = tempDataDir();
    const store = openStore({ path: join(dir, 'careflow.db') });
    try {
      const registry = organisationRegistry({ h1: 'http://127.0.0.1:9/a', h3: 'http://127.0.0.1:9/b' });
      const report = await importRegistry(store, registry);
      expect(report).toMatchObject({
        districts: 1,
        streets: 2,
        buildings: 3,
        units: 4,
        households: 6,
        family: 2,
      });
      expect(store.registry.household('h1')).toMatchObject({ building: 'b1', unit: 'b1-u1' });
      expect(store.registry.household('h6')).not.toHaveProperty('building');
      expect(store.privacy.consent('h4')?.purposes).toEqual(['leak']);
      expect(store.privacy.familyOf('h1').map((f) => [f.id, f.audiences])).toEqual([
        ['f-h1', ['welfare', 'leak']],
      ]);
      expect(store.access.scopeOf('uh-b1-u1', 'unit-head')).toMatchObject({ units: ['b1-u1'], grids: [] });
      expect(store.webhooks.forWorker('f-h1').map((w) => w.url)).toEqual(['http://127.0.0.1:9/a']);
      await importRegistry(store, registry);
      expect(store.privacy.consentHistory('h1')).toHaveLength(1);
    } finally {
      store.close();
    }
  });

  it('still imports examples/community.json unchanged', async () => {
    const dir = tempDataDir();
    const store = openStore({ path: join(dir, 'careflow.db') });
    try {
      const file: unknown = JSON.parse(readFileSync('examples/community.json', 'utf8'));
      const report = await importRegistry(store, file);
      expect(report.households).toBeGreaterThan(0);
      expect(report).toMatchObject({ districts: 0, buildings: 0, units: 0, family: 0 });
    } finally {
      store.close();
    }
  });

  it('names the path of every broken reference at the new levels', async () => {
    const dir = tempDataDir();
    const store = openStore({ path: join(dir, 'careflow.db') });
    try {
      const bad = organisationRegistry({ h1: 'http://127.0.0.1:9/a', h3: 'http://127.0.0.1:9/b' });
      bad.streets![1]!.district = 'd9';
      bad.units![3]!.building = 'b9';
      bad.households![2] = { ...bad.households![2]!, building: 'b1', unit: 'b2-u1' };
      bad.households![4] = { ...bad.households![4]!, building: 'b3' }; // b3 is in g2, h5 in g1
      bad.family![1]!.household = 'h4'; // h4 consented to leak monitoring only
      bad.workers![6] = { ...bad.workers![6]!, grids: ['g1'] };
      const err = await importRegistry(store, bad).catch((e: unknown) => e);
      expect(isCareflowError(err) && err.code).toBe('ERR_REGISTRY_REFERENCE');
      const paths = (err as { issues: { path: string; message: string }[] }).issues.map((i) => i.path);
      expect(paths).toEqual([
        'streets.1.district',
        'units.3.building',
        'workers.6.role',
        'households.2.unit',
        'households.4.building',
        'family.1.household',
      ]);
      expect(store.registry.counts().households).toBe(0);
    } finally {
      store.close();
    }
  });
});

describe('a welfare alert in a community whose chain tells the unit head first', () => {
  it('goes to the unit head, then the grid worker, then the grid leader; nobody else hears of it', async () => {
    const { svc, hooks } = await start();
    const chain = {
      welfare: {
        levels: [
          { notify: 'unit-head', afterMinutes: 10 },
          { notify: 'grid-workers', afterMinutes: 30 },
          { notify: 'grid-leader', afterMinutes: 30 },
        ],
        reminderMinutes: 0,
      },
    };
    const put = await svc.cf.http.inject({
      method: 'PUT',
      url: '/api/escalation/community/c1',
      headers: await loginAs(svc, 'cs-c1'),
      payload: chain,
    });
    expect(put.statusCode).toBe(200);
    const unitHead = await app(svc, 'uh-b1-u1');
    const otherUnitHead = await app(svc, 'uh-b2-u1');
    const buildingHead = await app(svc, 'bh-b1');
    const worker = await app(svc, 'w-g1');
    const leader = await app(svc, 'l-g1');

    const alert = await raiseHeavyUse(svc, 'h1');
    const t0 = svc.cf.store.alerts.timeline(alert.id).find((e) => e.kind === 'opened')!.at;
    await eventually(() => unitHead.messages.length === 1, 5_000, 'the unit head is told');
    expect(unitHead.messages[0]).toMatchObject({
      event: 'opened',
      alertId: alert.id,
      escalation: { level: 0, notify: 'unit-head' },
    });
    await settle(50);
    expect(worker.messages).toEqual([]);

    svc.clock.advanceTo(t0 + 10 * MIN);
    await eventually(() => worker.messages.length === 1, 5_000, 'the grid worker is told');
    expect(worker.messages[0]).toMatchObject({
      event: 'escalated',
      escalation: { level: 1, notify: 'grid-workers' },
    });
    expect(leader.messages).toEqual([]);
    svc.clock.advanceTo(t0 + 40 * MIN);
    await eventually(() => leader.messages.length === 1, 5_000, 'the grid leader is told');
    expect(leader.messages[0]).toMatchObject({
      event: 'escalated',
      escalation: { level: 2, notify: 'grid-leader' },
    });

    // The unit head of another building: nothing over MQTT, nothing over HTTP or the event feed.
    await settle(50);
    expect(otherUnitHead.messages).toEqual([]);
    expect(buildingHead.messages).toEqual([]); // not in this chain
    const other = await loginAs(svc, 'uh-b2-u1');
    const get = (url: string, headers: Record<string, string>) =>
      svc.cf.http.inject({ method: 'GET', url, headers });
    expect((await get(`/api/alerts/${alert.id}`, other)).statusCode).toBe(404); // as if it did not exist
    expect((await get('/api/alerts', other)).json().alerts).toEqual([]);
    expect((await get('/api/households/h1', other)).statusCode).toBe(403);
    const feed = (await get('/api/events?lastEventId=0&follow=false', other)).json() as {
      events: AlertEvent[];
    };
    expect(feed.events).toEqual([]);
    const ackByOther = await svc.cf.http.inject({
      method: 'POST',
      url: `/api/alerts/${alert.id}/ack`,
      headers: other,
      payload: {},
    });
    expect(ackByOther.statusCode).toBe(404);
    // Nor may the other unit head acknowledge it from the app.
    await otherUnitHead.client.publishAsync(`workers/uh-b2-u1/alerts/${alert.id}/ack`, '', { qos: 1 });
    await settle(50);
    expect(svc.cf.store.alerts.get(alert.id)!.state).toBe('open');

    // The unit head of the household's unit, and its building head, see it (not the water use).
    const mine = await loginAs(svc, 'uh-b1-u1');
    expect((await get(`/api/alerts/${alert.id}`, mine)).statusCode).toBe(200);
    expect((await get('/api/alerts', mine)).json().alerts.map((a: { id: string }) => a.id)).toEqual([
      alert.id,
    ]);
    expect((await get('/api/households/h1/usage', mine)).statusCode).toBe(403);
    const building = await loginAs(svc, 'bh-b1');
    expect((await get(`/api/alerts/${alert.id}`, building)).statusCode).toBe(200);
    const mineFeed = (await get('/api/events?lastEventId=0&follow=false', mine)).json() as {
      events: AlertEvent[];
    };
    expect(new Set(mineFeed.events.map((e) => e.alert.id))).toEqual(new Set([alert.id]));

    // The relative's webhook got the opening, signed; the other household's relative got nothing.
    await eventually(() => hooks.h1.requests.length >= 1, 5_000, 'the family webhook');
    for (const r of hooks.h1.requests) {
      expect(signatureValid(r, 'family-secret-of-h1-0123')).toBe(true);
      expect(JSON.parse(r.body)).toMatchObject({
        householdId: 'h1',
        recipients: [{ id: 'f-h1', role: 'family' }],
      });
    }
    expect(hooks.h3.requests).toEqual([]);

    // The relative acknowledges: the chain stops as it would for a worker.
    const family = await loginAs(svc, 'f-h1');
    const ack = await svc.cf.http.inject({
      method: 'POST',
      url: `/api/alerts/${alert.id}/ack`,
      headers: family,
      payload: { note: 'I called her, she is fine' },
    });
    expect(ack.statusCode).toBe(200);
    expect(ack.json().alert).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'f-h1' });
    expect(svc.cf.store.escalation.get(alert.id)).toMatchObject({ state: 'stopped' });
    svc.clock.advanceTo(t0 + 3 * HOUR);
    await settle(50);
    expect(kinds(svc, alert.id)).not.toContain('escalation-exhausted');
  });

  it('tells a relative only of their own household, and only with consent to family notification', async () => {
    const { svc, hooks } = await start();
    const a3 = await raiseHeavyUse(svc, 'h3');
    await eventually(() => hooks.h3.requests.length >= 1, 5_000, 'the h3 family webhook');
    expect(hooks.h3.requests.every((r) => JSON.parse(r.body).householdId === 'h3')).toBe(true);
    expect(hooks.h3.requests.every((r) => signatureValid(r, 'family-secret-of-h3-0123'))).toBe(true);
    expect(hooks.h1.requests).toEqual([]);
    const f1 = await loginAs(svc, 'f-h1');
    const res = await svc.cf.http.inject({ method: 'GET', url: `/api/alerts/${a3.id}`, headers: f1 });
    expect(res.statusCode).toBe(404);
    expect(
      (await svc.cf.http.inject({ method: 'GET', url: '/api/alerts', headers: f1 })).json().alerts,
    ).toEqual([]);

    // The relative hears how it ends.
    const worker = await loginAs(svc, 'w-g1');
    const resolve = (id: string) =>
      svc.cf.http.inject({
        method: 'POST',
        url: `/api/alerts/${id}/resolve`,
        headers: worker,
        payload: { outcome: 'resident-ok' },
      });
    expect((await resolve(a3.id)).statusCode).toBe(200);
    await eventually(
      () => hooks.h3.requests.some((r) => JSON.parse(r.body).event === 'resolved'),
      5_000,
      'the resolution sent to the relative',
    );

    // h1's relative is told of an opening; then h1 withdraws consent to family notification: the relative is
    // told nothing more of it (an alert opening after the withdrawal is not sent at all: familyRecipients).
    const a1 = await raiseHeavyUse(svc, 'h1');
    await eventually(() => hooks.h1.requests.length === 1, 5_000, 'the h1 family webhook');
    const staff = await loginAs(svc, 'cs-c1');
    const withdraw = await svc.cf.http.inject({
      method: 'PUT',
      url: '/api/households/h1/consent',
      headers: staff,
      payload: { purposes: ['welfare', 'leak'], givenBy: 'the resident' },
    });
    expect(withdraw.statusCode).toBe(200);
    expect((await resolve(a1.id)).statusCode).toBe(200);
    await settle(100);
    expect(hooks.h1.requests.map((r) => JSON.parse(r.body).event)).toEqual(['opened']);
    const toRelative = svc.cf.store.outbox.byAlert(a1.id).filter((m) => m.recipient === 'f-h1');
    expect(toRelative.map((m) => JSON.parse(m.payload).event)).toEqual(['opened', 'opened']); // MQTT and webhook
    const audit = await svc.cf.http.inject({
      method: 'GET',
      url: '/api/audit?action=consent.record',
      headers: ADMIN,
    });
    expect(audit.json().entries.map((e: { target: string }) => e.target)).toEqual(['h1']);
  });
});

describe('rules and escalation chains set for a district or a building', () => {
  it('apply to the households below them, most specific first, within the caller’s area', async () => {
    const { svc, hooks } = await start();
    const staff = await loginAs(svc, 'cs-c1');
    const req = (method: 'PUT' | 'GET', url: string, headers: Record<string, string>, payload?: object) =>
      svc.cf.http.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    const chain = (notify: string) => ({
      welfare: { levels: [{ notify, afterMinutes: 15 }], reminderMinutes: 0 },
    });
    // Community staff set their building's chain, but not the district's (it spans street offices).
    expect((await req('PUT', '/api/escalation/building/b1', staff, chain('building-head'))).statusCode).toBe(
      200,
    );
    expect((await req('PUT', '/api/escalation/district/d1', staff, chain('grid-leader'))).statusCode).toBe(
      403,
    );
    expect((await req('PUT', '/api/escalation/building/b3', staff, chain('unit-head'))).statusCode).toBe(403);
    expect((await req('PUT', '/api/escalation/district/d1', ADMIN, chain('grid-leader'))).statusCode).toBe(
      200,
    );
    const effective = async (h: string) =>
      (await req('GET', `/api/escalation/effective?household=${h}`, ADMIN)).json().chains.welfare as {
        source: string;
        levels: { notify: string; people: { id: string }[] }[];
      };
    expect(await effective('h1')).toMatchObject({
      source: 'building:b1',
      levels: [{ notify: 'building-head', people: [{ id: 'bh-b1' }] }],
    });
    expect(await effective('h3')).toMatchObject({
      source: 'district:d1',
      levels: [{ notify: 'grid-leader' }],
    });
    expect(await effective('h4')).toMatchObject({ source: 'district:d1' });

    // Rules: a district default, a building's own value on top of it.
    const rule = (v: number) => ({
      rules: { 'heavy-use': { params: { minLitersPerBucket: v } } },
      reason: 'test',
    });
    expect((await req('PUT', '/api/rules/district/d1', staff, rule(120))).statusCode).toBe(403);
    expect((await req('PUT', '/api/rules/district/d1', ADMIN, rule(120))).statusCode).toBe(200);
    expect((await req('PUT', '/api/rules/building/b1', staff, rule(90))).statusCode).toBe(200);
    const source = async (h: string) => {
      const r = (await req('GET', `/api/rules/effective?household=${h}`, ADMIN)).json() as {
        rules: { id: string; params: Record<string, number>; sources: Record<string, string> }[];
      };
      const heavy = r.rules.find((x) => x.id === 'heavy-use')!;
      return [heavy.params.minLitersPerBucket, heavy.sources['params.minLitersPerBucket']];
    };
    expect(await source('h1')).toEqual([90, 'building:b1']);
    expect(await source('h3')).toEqual([120, 'district:d1']);
    expect(await source('h4')).toEqual([120, 'district:d1']);

    // The building head, first in b1's chain, is told through the webhook the registry gave them.
    const alert = await raiseHeavyUse(svc, 'h2');
    await eventually(() => hooks.bh.requests.length === 1, 5_000, "the building head's webhook");
    const call = hooks.bh.requests[0]!;
    expect(signatureValid(call, 'building-head-secret-0123')).toBe(true);
    expect(JSON.parse(call.body)).toMatchObject({
      alertId: alert.id,
      householdId: 'h2',
      escalation: { notify: 'building-head' },
      recipients: [{ id: 'bh-b1', role: 'building-head' }],
    });
  });
});

describe('the console’s household list for people below the grid', () => {
  it('shows building and unit heads and relatives exactly the households they look after', async () => {
    const { svc } = await start();
    const list = async (who: string, query = '') => {
      const res = await svc.cf.http.inject({
        method: 'GET',
        url: `/api/households${query}`,
        headers: await loginAs(svc, who),
      });
      expect(res.statusCode, `${who} ${query}`).toBe(200);
      return res.json() as {
        households: { id: string; lastReadingAt: number | null }[];
        next: string | null;
      };
    };
    const ids = async (who: string, query = '') => (await list(who, query)).households.map((h) => h.id);
    expect(await ids('uh-b1-u1')).toEqual(['h1']);
    expect(await ids('uh-b2-u1')).toEqual(['h3']);
    expect(await ids('bh-b1')).toEqual(['h1', 'h2', 'h5']);
    expect(await ids('f-h1')).toEqual(['h1']);
    // Search and paging stay within them.
    expect(await ids('bh-b1', '?q=h2')).toEqual(['h2']);
    expect(await ids('bh-b1', '?q=h3')).toEqual([]);
    const first = await list('bh-b1', '?limit=2');
    expect(first.households.map((h) => h.id)).toEqual(['h1', 'h2']);
    expect(await ids('bh-b1', `?limit=2&cursor=${first.next}`)).toEqual(['h5']);
    // No water use for them, not even when the meter last read; no whole grid, no registry of the area.
    expect((await list('uh-b1-u1')).households[0]!.lastReadingAt).toBeNull();
    const unitHead = await loginAs(svc, 'uh-b1-u1');
    for (const url of ['/api/households?grid=g1', '/api/households/h2']) {
      const res = await svc.cf.http.inject({ method: 'GET', url, headers: unitHead });
      expect(res.statusCode, url).toBe(403);
    }
    const grids = await svc.cf.http.inject({ method: 'GET', url: '/api/registry/grids', headers: unitHead });
    expect(grids.json().items).toEqual([]);
    // A grid worker still sees the whole grid.
    expect(await ids('w-g1')).toEqual(['h1', 'h2', 'h3', 'h5', 'h6']);
  });
});
