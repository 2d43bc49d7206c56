import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert, WorkerAlertMessage } from '../core/alerts.ts';
import { escalationRegistry, loginAs, raiseHeavyUse } from './delivery-harness.ts';
import {
  ADMIN_TOKEN,
  connectWorker,
  eventually,
  HOUR,
  settle,
  startTestService,
  T0,
  type TestService,
} from './harness.ts';

/**
 * Webhooks to a real HTTP receiver on 127.0.0.1 that this test runs: retries with backoff until the receiver
 * recovers, idempotency keys that let it process each message once, a signature it checks with its own HMAC
 * computation, and a final failure that escalates the alert.
 */
const SECRET = 'a-webhook-secret-of-some-length';
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver: `answer` decides each response (status, and a delay in ms before it is sent). */
async function receiver(answer: (n: number) => { status: number; delayMs?: number }) {
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const { status, delayMs = 0 } = answer(requests.length);
      setTimeout(() => {
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/careflow`;
  servers.push(server);
  return { url, requests };
}

/** The receiver's own check: HMAC-SHA256 over "<timestamp>.<body>" with the shared secret. */
function signatureValid(r: Received, secret: string): boolean {
  const timestamp = r.headers['x-careflow-timestamp'];
  const given = r.headers['x-careflow-signature'];
  if (typeof timestamp !== 'string' || typeof given !== 'string' || !given.startsWith('v1=')) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.${r.body}`).digest();
  const actual = Buffer.from(given.slice(3), 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

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

async function start(notifier: Record<string, number>) {
  // Every alert its own message (grouping has tests of its own).
  const svc = await startTestService({
    registry: escalationRegistry(),
    config: { notifier: { groupWindowMs: 0, ...notifier } },
  });
  services.push(svc);
  svc.clock.advanceTo(T0 + 10 * HOUR);
  return svc;
}

async function putWebhook(svc: TestService, id: string, body: object) {
  return svc.cf.http.inject({ method: 'PUT', url: `/api/webhooks/${id}`, headers: ADMIN, payload: body });
}

/** Moves the clock a second at a time (retries are due on it) until `done`. */
async function driveUntil(svc: TestService, done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600 && !done(); i++) {
    svc.clock.advance(1_000);
    await settle(15);
  }
  if (!done()) throw new Error(`gave up waiting for ${what}`);
}

function webhookRows(svc: TestService, alertId: string) {
  return svc.cf.store.outbox.byAlert(alertId).filter((m) => m.channel === 'webhook');
}

describe('a webhook receiver that fails for a while, then recovers', () => {
  it('gets every alert exactly once by idempotency key, each call validly signed', async () => {
    const svc = await start({ retryBaseMs: 1_000, webhookTimeoutMs: 250, maxAttempts: 20 });
    // 503 three times, then an answer that comes too late (the receiver did process it), then 200s.
    const hook = await receiver((n) =>
      n <= 3 ? { status: 503 } : n === 4 ? { status: 200, delayMs: 600 } : { status: 200 },
    );
    expect(
      (
        await putWebhook(svc, 'sms-w-g1', {
          url: hook.url,
          secret: SECRET,
          owner: { kind: 'worker', id: 'w-g1' },
        })
      ).statusCode,
    ).toBe(201);

    const alerts: Alert[] = [];
    for (const h of ['h-g1-1', 'h-g1-2', 'h-g1-3']) alerts.push(await raiseHeavyUse(svc, h));
    const rows = () => alerts.flatMap((a) => webhookRows(svc, a.id));
    await driveUntil(
      svc,
      () => rows().length === 3 && rows().every((m) => m.state === 'delivered'),
      'deliveries',
    );

    // What the receiver does with the idempotency key: process each key once.
    const processed = new Map<string, WorkerAlertMessage & { recipients: { id: string; phone: string }[] }>();
    for (const r of hook.requests) {
      const key = r.headers['x-careflow-idempotency-key'] as string;
      if (!processed.has(key)) processed.set(key, JSON.parse(r.body));
    }
    expect([...processed.keys()].sort()).toEqual(
      rows()
        .map((m) => m.idempotencyKey)
        .sort(),
    );
    expect([...processed.values()].map((m) => m.alertId).sort()).toEqual(alerts.map((a) => a.id).sort());
    for (const m of processed.values()) {
      expect(m).toMatchObject({
        event: 'opened',
        grid: 'g1',
        recipients: [{ id: 'w-g1', role: 'grid-worker' }],
      });
      expect(m.recipients[0]!.phone).toMatch(/^\+86/);
    }

    expect(hook.requests.length).toBeGreaterThan(4);
    const keys = hook.requests.map((r) => r.headers['x-careflow-idempotency-key']);
    expect(new Set(keys).size).toBeLessThan(keys.length); // the same message came more than once
    for (const r of hook.requests) {
      expect(signatureValid(r, SECRET)).toBe(true);
      expect(signatureValid(r, 'another-secret-entirely')).toBe(false);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(Number(r.headers['x-careflow-timestamp'])).toBeGreaterThanOrEqual(T0 + 10 * HOUR);
    }
    const timeline = svc.cf.store.alerts.timeline(alerts[0]!.id);
    expect(timeline.filter((e) => e.kind === 'delivery-retry').length).toBeGreaterThan(0);
    expect(timeline.filter((e) => e.kind === 'delivered' && e.detail.channel === 'webhook')).toHaveLength(1);
  });

  it('sends a scope endpoint each event once, naming the people it went to', async () => {
    const svc = await start({ retryBaseMs: 1_000 });
    const hook = await receiver(() => ({ status: 204 }));
    await putWebhook(svc, 'community-c1', {
      url: hook.url,
      secret: SECRET,
      owner: { kind: 'community', code: 'c1' },
    });
    const alert = await raiseHeavyUse(svc, 'h-g2-1');
    await eventually(() => hook.requests.length === 1, 5_000, 'the opened event');
    svc.clock.advance(30 * 60_000); // g2 has no grid leader: the escalation goes to community staff
    await eventually(() => hook.requests.length >= 3, 5_000, 'the reminder and the escalation');
    const bodies = hook.requests.map(
      (r) => JSON.parse(r.body) as WorkerAlertMessage & { recipients: { id: string }[] },
    );
    expect(bodies.map((b) => [b.event, b.recipients.map((p) => p.id)])).toEqual([
      ['opened', ['w-g2']],
      ['updated', ['w-g2']],
      ['escalated', ['cs-c1']],
    ]);
    expect(bodies.every((b) => b.alertId === alert.id)).toBe(true);
    expect(hook.requests.every((r) => signatureValid(r, SECRET))).toBe(true);
  });
});

describe('a permanently failing webhook', () => {
  it('ends in a failure entry on the timeline and escalates the alert at once', async () => {
    const svc = await start({ retryBaseMs: 1_000, maxAttempts: 4 });
    const leader = await connectWorker(svc.mqttUrl, 'l-g1', 'secret-l-g1');
    apps.push(leader);
    const hook = await receiver(() => ({ status: 500 }));
    await putWebhook(svc, 'im-w-g1', {
      url: hook.url,
      secret: SECRET,
      owner: { kind: 'worker', id: 'w-g1' },
    });

    const alert = await raiseHeavyUse(svc, 'h-g1-1');
    const raised = svc.cf.store.alerts.timeline(alert.id)[0]!.at;
    await driveUntil(svc, () => webhookRows(svc, alert.id)[0]?.state === 'failed', 'the final failure');
    expect(hook.requests).toHaveLength(4);
    await eventually(() => leader.messages.length === 1, 5_000, 'the escalation to the grid leader');

    const timeline = svc.cf.store.alerts.timeline(alert.id);
    const failed = timeline.find((e) => e.kind === 'delivery-failed')!;
    expect(failed.detail).toMatchObject({
      channel: 'webhook',
      webhook: 'im-w-g1',
      worker: 'w-g1',
      attempts: 4,
      error: 'webhook im-w-g1 answered HTTP 500',
    });
    const escalated = timeline.find((e) => e.kind === 'escalated')!;
    expect(escalated.detail).toMatchObject({ level: 1, notify: 'grid-leader', reason: 'delivery-failed' });
    expect(escalated.at).toBe(failed.at);
    expect(escalated.at - raised).toBeLessThan(60_000);
    expect(leader.messages[0]).toMatchObject({ event: 'escalated', alertId: alert.id });
    expect((leader.messages[0] as unknown as WorkerAlertMessage).message.en).toContain(
      'could not be delivered',
    );
  });
});

describe('managing webhook endpoints', () => {
  it('is for admins; secrets are never shown; unknown endpoints are 404', async () => {
    const svc = await start({});
    const hook = { url: 'http://127.0.0.1:9/x', secret: SECRET, owner: { kind: 'grid', code: 'g1' } };
    expect((await putWebhook(svc, 'g1-hook', hook)).statusCode).toBe(201);
    expect(
      (await putWebhook(svc, 'g1-hook', { ...hook, secret: undefined, enabled: false })).statusCode,
    ).toBe(200);
    expect(svc.cf.store.webhooks.get('g1-hook')).toMatchObject({ secret: SECRET, enabled: false });
    const list = await svc.cf.http.inject({ method: 'GET', url: '/api/webhooks', headers: ADMIN });
    expect(list.json().webhooks).toEqual([
      expect.objectContaining({ id: 'g1-hook', owner: { kind: 'grid', code: 'g1' } }),
    ]);
    expect(list.body).not.toContain(SECRET);
    const staff = await loginAs(svc, 'cs-c1');
    const refused = await svc.cf.http.inject({
      method: 'PUT',
      url: '/api/webhooks/x',
      headers: staff,
      payload: hook,
    });
    expect(refused.statusCode).toBe(403);
    const noSecret = await putWebhook(svc, 'new-hook', { ...hook, secret: undefined });
    expect(noSecret.json().issues).toEqual([{ path: 'secret', message: 'required for a new endpoint' }]);
    const badOwner = await putWebhook(svc, 'new-hook', { ...hook, owner: { kind: 'worker', id: 'nobody' } });
    expect(badOwner.json().code).toBe('ERR_SCOPE_NOT_FOUND');
    const gone = await svc.cf.http.inject({ method: 'DELETE', url: '/api/webhooks/missing', headers: ADMIN });
    expect(gone.json().code).toBe('ERR_WEBHOOK_NOT_FOUND');
    const audit = svc.cf.store.audit.list({ action: 'webhook.put' });
    expect(audit).toHaveLength(2);
    expect(JSON.stringify(audit)).not.toContain(SECRET);
  });
});
