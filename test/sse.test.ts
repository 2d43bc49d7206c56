import { request, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../core/alerts.ts';
import { escalationRegistry, loginAs, raiseHeavyUse } from './delivery-harness.ts';
import { ADMIN_TOKEN, eventually, HOUR, settle, startTestService, T0, type TestService } from './harness.ts';

/** `GET /api/events` over real HTTP: scoped to the caller's grids, heartbeats, resume with Last-Event-ID. */
interface Stream {
  status: number;
  events: (AlertEvent & { sseId: string })[];
  comments: string[];
  close(): void;
}

const streams: Stream[] = [];
const services: TestService[] = [];
afterEach(async () => {
  streams.splice(0).forEach((s) => s.close());
  for (const s of services.splice(0)) await s.dispose();
});

/** Opens an event stream with the given headers and parses what arrives. */
function openStream(
  svc: TestService,
  headers: Record<string, string>,
  path = '/api/events',
): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: svc.cf.httpPort, path, method: 'GET', headers },
      (res: IncomingMessage) => {
        const stream: Stream = {
          status: res.statusCode ?? 0,
          events: [],
          comments: [],
          close: () => req.destroy(),
        };
        streams.push(stream);
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields: Record<string, string> = {};
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) stream.comments.push(line.slice(1).trim());
              else {
                const i = line.indexOf(':');
                fields[line.slice(0, i)] = line.slice(i + 1).trim();
              }
            }
            if (fields.data)
              stream.events.push({ ...(JSON.parse(fields.data) as AlertEvent), sseId: fields.id! });
          }
        });
        res.on('error', () => {});
        resolve(stream);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function start(): Promise<TestService> {
  const svc = await startTestService({
    registry: escalationRegistry(),
    config: { notifier: { sseHeartbeatMs: 40 } },
  });
  services.push(svc);
  svc.clock.advanceTo(T0 + 10 * HOUR);
  return svc;
}

describe('GET /api/events', () => {
  it('streams to a grid worker the events of their grids only; an admin sees every grid', async () => {
    const svc = await start();
    const g1 = await openStream(svc, await loginAs(svc, 'w-g1'));
    const g2 = await openStream(svc, await loginAs(svc, 'w-g2'));
    const admin = await openStream(svc, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect([g1.status, g2.status, admin.status]).toEqual([200, 200, 200]);

    const a1 = await raiseHeavyUse(svc, 'h-g1-1');
    const a2 = await raiseHeavyUse(svc, 'h-g2-1');
    await eventually(
      () => admin.events.some((e) => e.alert.id === a2.id && e.kind === 'delivered'),
      5_000,
      'events',
    );
    await settle(50);

    expect(g1.events.length).toBeGreaterThan(0);
    expect(new Set(g1.events.map((e) => e.alert.grid))).toEqual(new Set(['g1']));
    expect(new Set(g2.events.map((e) => e.alert.grid))).toEqual(new Set(['g2']));
    expect(new Set(admin.events.map((e) => e.alert.id))).toEqual(new Set([a1.id, a2.id]));
    expect(g1.events.map((e) => e.kind)).toEqual(expect.arrayContaining(['opened', 'queued', 'delivered']));
    expect(g1.events[0]).toMatchObject({
      kind: 'opened',
      alert: { id: a1.id, householdId: 'h-g1-1', grid: 'g1', ruleId: 'heavy-use', severity: 'critical' },
    });
    expect(g1.events.map((e) => e.sseId)).toEqual(g1.events.map((e) => String(e.id)));
    const ids = admin.events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    // Polling instead of streaming: one JSON answer, the same scope.
    const poll = await svc.cf.http.inject({
      method: 'GET',
      url: '/api/events?lastEventId=0&follow=false',
      headers: await loginAs(svc, 'w-g2'),
    });
    const polled = poll.json() as { events: AlertEvent[]; lastEventId: number };
    expect(polled.events.map((e) => e.id)).toEqual(g2.events.map((e) => e.id));
    expect(polled.lastEventId).toBe(Math.max(...ids));
  });

  it('sends heartbeats, and a client resuming with Last-Event-ID gets exactly what it missed', async () => {
    const svc = await start();
    const auth = await loginAs(svc, 'w-g1');
    const first = await openStream(svc, auth);
    const alert = await raiseHeavyUse(svc, 'h-g1-2');
    await eventually(() => first.events.some((e) => e.kind === 'delivered'), 5_000, 'the first events');
    await eventually(() => first.comments.some((c) => c.startsWith('heartbeat')), 5_000, 'a heartbeat');
    await settle(50);
    first.close();
    const lastSeen = first.events.at(-1)!.id;

    const ack = await svc.cf.http.inject({
      method: 'POST',
      url: `/api/alerts/${alert.id}/comment`,
      headers: auth,
      payload: { text: 'called the daughter' },
    });
    expect(ack.statusCode).toBe(200);
    await raiseHeavyUse(svc, 'h-g2-2'); // another grid: not for this worker

    const resumed = await openStream(svc, { ...auth, 'last-event-id': String(lastSeen) });
    await eventually(() => resumed.events.some((e) => e.kind === 'comment'), 5_000, 'the missed comment');
    await settle(50);
    expect(resumed.events.map((e) => [e.kind, e.actor, e.detail])).toEqual([
      ['comment', 'w-g1', { text: 'called the daughter' }],
    ]);
    expect(resumed.events[0]!.id).toBeGreaterThan(lastSeen);

    const bad = await openStream(svc, { ...auth, 'last-event-id': 'yesterday' });
    expect(bad.status).toBe(400);
    const anonymous = await openStream(svc, {});
    expect(anonymous.status).toBe(401);
  });
});
