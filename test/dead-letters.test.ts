import { execFile } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeadLetterView } from '../core/store/dead-letter-repo.ts';
import {
  ADMIN_TOKEN,
  connectClient,
  eventually,
  HOUR,
  startTestService,
  T0,
  testRegistry,
  type TestService,
} from './harness.ts';

/**
 * Dead letters through the real service: bad input from two grids' meters, a worker publishing to a meter's
 * topic and an oversize packet from a client that never logged in (no meter), then the list, the counts,
 * scopes and filters over HTTP, and the `careflow deadletters` command on the same data dir.
 */
const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));

let svc: TestService;
const clients: MqttClient[] = [];
const keys: Record<string, string> = {};
let firstBatchAt = 0;
let secondBatchAt = 0;

async function get(url: string, token = ADMIN_TOKEN) {
  return svc.cf.http.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
}

async function list(url: string, token = ADMIN_TOKEN): Promise<DeadLetterView[]> {
  const res = await get(url, token);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { deadLetters: DeadLetterView[] }).deadLetters;
}

async function apiKey(role: string, scope: Record<string, string[]>): Promise<string> {
  const res = await svc.cf.http.inject({
    method: 'POST',
    url: '/api/api-keys',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    payload: { name: `${role} key`, role, ...scope },
  });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { key: string }).key;
}

/** A client that never sends CONNECT announces a 100 kB packet: cut off, dead-lettered without a meter. */
async function oversizeBeforeLogin(): Promise<void> {
  await new Promise<void>((resolve) => {
    const socket = netConnect(svc.cf.mqttPort, '127.0.0.1', () =>
      socket.write(Buffer.from([0x10, 0xa0, 0x8d, 0x06])),
    );
    socket.on('close', () => resolve());
    socket.on('error', () => {});
  });
}

beforeAll(async () => {
  svc = await startTestService({
    registry: testRegistry(2),
    config: { mqtt: { host: '127.0.0.1', port: 0, maxPacketBytes: 65_536 } },
  });
  svc.clock.advanceTo(T0 + 48 * HOUR);
  const g1 = await connectClient(svc.mqttUrl, 'm-g1-1', 'secret-m-g1-1');
  const g2 = await connectClient(svc.mqttUrl, 'm-g2-1', 'secret-m-g2-1');
  const worker = await connectClient(svc.mqttUrl, 'w-g1', 'secret-w-g1');
  clients.push(g1, g2, worker);

  firstBatchAt = svc.clock.now();
  await g1.publishAsync('meters/m-g1-1/readings', '{"ts": 17', { qos: 1 });
  await g2.publishAsync('meters/m-g2-1/readings', JSON.stringify({ ts: T0, totalLiters: -3 }), { qos: 1 });
  await oversizeBeforeLogin();

  svc.clock.advance(HOUR);
  secondBatchAt = svc.clock.now();
  await g1.publishAsync('meters/m-g1-1/readings', JSON.stringify({ ts: T0 + 72 * HOUR, totalLiters: 5 }), {
    qos: 1,
  });
  await g1.publishAsync('meters/m-g2-1/readings', JSON.stringify({ ts: T0, totalLiters: 5 }), { qos: 1 });
  await worker.publishAsync('meters/m-g1-1/readings', JSON.stringify({ ts: T0, totalLiters: 5 }), { qos: 1 });
  await eventually(() => svc.cf.store.deadLetters.list().length === 6, 5_000, 'six dead letters');

  keys.leaderG1 = await apiKey('grid-leader', { grids: ['g1'] });
  keys.staff = await apiKey('community-staff', { communities: ['c1'] });
  keys.worker = await apiKey('grid-worker', { grids: ['g1'] });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await svc?.dispose();
});

describe('GET /api/deadletters', () => {
  it('lists every rejected input for an admin, newest first, with meter, time, reason and excerpt', async () => {
    const letters = await list('/api/deadletters');
    expect(letters.map((d) => [d.meterId, d.code])).toEqual([
      ['w-g1', 'ERR_BROKER_TOPIC_FORBIDDEN'],
      ['m-g1-1', 'ERR_BROKER_TOPIC_FORBIDDEN'],
      ['m-g1-1', 'ERR_INGEST_TIMESTAMP_FUTURE'],
      [null, 'ERR_INGEST_PACKET_TOO_LARGE'],
      ['m-g2-1', 'ERR_INGEST_PAYLOAD_INVALID'],
      ['m-g1-1', 'ERR_INGEST_PAYLOAD_MALFORMED'],
    ]);
    const malformed = letters[5]!;
    expect(malformed).toMatchObject({
      receivedAt: firstBatchAt,
      householdId: 'h-g1-1',
      grid: 'g1',
      topic: 'meters/m-g1-1/readings',
      excerpt: '{"ts": 17',
    });
    expect(malformed.message.length).toBeGreaterThan(5);
    expect(letters[2]).toMatchObject({ receivedAt: secondBatchAt, field: 'ts' });
    expect(letters[0]).toMatchObject({ householdId: null, grid: null }); // a worker id is no meter
  });

  it('shows a scoped caller only the letters of meters in their grids, never unknown meters', async () => {
    const letters = await list('/api/deadletters', keys.leaderG1);
    expect(letters.map((d) => d.code)).toEqual([
      'ERR_BROKER_TOPIC_FORBIDDEN',
      'ERR_INGEST_TIMESTAMP_FUTURE',
      'ERR_INGEST_PAYLOAD_MALFORMED',
    ]);
    expect(new Set(letters.map((d) => d.meterId))).toEqual(new Set(['m-g1-1']));
    const staff = await list('/api/deadletters', keys.staff);
    expect(staff.map((d) => d.meterId).sort()).toEqual(['m-g1-1', 'm-g1-1', 'm-g1-1', 'm-g2-1']);
  });

  it('refuses a scoped caller a meter outside their grids or not registered (403)', async () => {
    for (const meter of ['m-g2-1', 'w-g1', 'no-such-meter']) {
      const res = await get(`/api/deadletters?meter=${meter}`, keys.leaderG1);
      expect(res.statusCode, meter).toBe(403);
      expect(res.json()).toMatchObject({ code: 'ERR_API_FORBIDDEN' });
    }
    expect(await list('/api/deadletters?meter=w-g1')).toHaveLength(1);
  });

  it('filters by meter, code and time, and pages with a limit', async () => {
    expect(
      await list('/api/deadletters?meter=m-g1-1&code=ERR_INGEST_TIMESTAMP_FUTURE', keys.leaderG1),
    ).toHaveLength(1);
    const first = await list(`/api/deadletters?to=${secondBatchAt}`);
    expect(first.map((d) => d.receivedAt)).toEqual([firstBatchAt, firstBatchAt, firstBatchAt]);
    const second = await list(`/api/deadletters?from=${new Date(secondBatchAt).toISOString()}`);
    expect(second).toHaveLength(3);

    const page1 = await get('/api/deadletters?limit=4');
    const body1 = page1.json() as { deadLetters: DeadLetterView[]; next: { before: number } | null };
    expect(body1.deadLetters).toHaveLength(4);
    const page2 = await get(`/api/deadletters?limit=4&before=${body1.next!.before}`);
    const body2 = page2.json() as { deadLetters: DeadLetterView[]; next: unknown };
    expect(body2.deadLetters.map((d) => d.code)).toEqual([
      'ERR_INGEST_PAYLOAD_INVALID',
      'ERR_INGEST_PAYLOAD_MALFORMED',
    ]);
    expect(body2.next).toBeNull();
  });

  it('refuses bad filters with the field named', async () => {
    for (const [query, field] of [
      ['code=ERR_NOPE', 'code'],
      ['limit=0', 'limit'],
      ['from=yesterday', 'from'],
      [`from=${secondBatchAt}&to=${firstBatchAt}`, 'to'],
      ['grid=g1', '(root)'],
    ]) {
      const res = await get(`/api/deadletters?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'ERR_API_VALIDATION',
        issues: [expect.objectContaining({ path: field })],
      });
    }
  });

  it('needs deadletters:read: a grid worker gets 403, no token 401', async () => {
    expect((await get('/api/deadletters', keys.worker)).statusCode).toBe(403);
    expect((await svc.cf.http.inject({ method: 'GET', url: '/api/deadletters' })).statusCode).toBe(401);
  });
});

describe('GET /api/deadletters/counts', () => {
  it('counts by reason code within the caller’s scope', async () => {
    expect((await get('/api/deadletters/counts')).json()).toEqual({
      counts: {
        ERR_BROKER_TOPIC_FORBIDDEN: 2,
        ERR_INGEST_PACKET_TOO_LARGE: 1,
        ERR_INGEST_PAYLOAD_INVALID: 1,
        ERR_INGEST_PAYLOAD_MALFORMED: 1,
        ERR_INGEST_TIMESTAMP_FUTURE: 1,
      },
      total: 6,
    });
    expect((await get('/api/deadletters/counts', keys.leaderG1)).json()).toEqual({
      counts: {
        ERR_BROKER_TOPIC_FORBIDDEN: 1,
        ERR_INGEST_PAYLOAD_MALFORMED: 1,
        ERR_INGEST_TIMESTAMP_FUTURE: 1,
      },
      total: 3,
    });
    expect((await get(`/api/deadletters/counts?from=${secondBatchAt}`, keys.staff)).json()).toMatchObject({
      total: 2,
    });
  });

  it('are in /metrics as careflow_dead_letters_total by code, zero for codes not seen yet', async () => {
    const text = (await get('/metrics')).body;
    expect(text).toContain('careflow_dead_letters_total{code="ERR_INGEST_PAYLOAD_MALFORMED"} 1\n');
    expect(text).toContain('careflow_dead_letters_total{code="ERR_BROKER_TOPIC_FORBIDDEN"} 2\n');
    expect(text).toContain('careflow_dead_letters_total{code="ERR_INGEST_UNKNOWN_METER"} 0\n');
  });
});

describe('careflow deadletters', () => {
  function careflow(args: string[]) {
    return run(process.execPath, [BIN, 'deadletters', ...args], {
      env: { ...process.env, CAREFLOW_DATA_DIR: svc.dataDir },
      timeout: 60_000,
    });
  }

  it('prints a meter’s dead letters as JSON, with the counts', async () => {
    const { stdout } = await careflow(['--meter', 'm-g1-1', '--json']);
    const out = JSON.parse(stdout) as { deadLetters: DeadLetterView[]; counts: Record<string, number> };
    expect(out.deadLetters.map((d) => d.code)).toEqual([
      'ERR_BROKER_TOPIC_FORBIDDEN',
      'ERR_INGEST_TIMESTAMP_FUTURE',
      'ERR_INGEST_PAYLOAD_MALFORMED',
    ]);
    expect(out.counts).toEqual({
      ERR_BROKER_TOPIC_FORBIDDEN: 1,
      ERR_INGEST_PAYLOAD_MALFORMED: 1,
      ERR_INGEST_TIMESTAMP_FUTURE: 1,
    });
  });

  it('prints a table filtered by code and time', async () => {
    const since = new Date(secondBatchAt).toISOString();
    const { stdout } = await careflow([
      '--code',
      'ERR_BROKER_TOPIC_FORBIDDEN',
      '--since',
      since,
      '--limit',
      '1',
    ]);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^received\s+meter\s+code\s+field\s+message\s+excerpt$/);
    expect(lines[1]).toMatch(new RegExp(`^${since}\\s+w-g1\\s+ERR_BROKER_TOPIC_FORBIDDEN\\s+`));
    expect(stdout).toContain('1 shown of 2; by code:\n  ERR_BROKER_TOPIC_FORBIDDEN  2\n');
  });

  it('refuses a time without a zone and an unknown code with exit code 2', async () => {
    const cases = [
      ['--since', '2026-01-05T08:00:00'],
      ['--code', 'ERR_NOPE'],
      ['--limit', 'ten'],
    ];
    const results = await Promise.all(cases.map((args) => careflow(args).catch((e: unknown) => e)));
    results.forEach((err, i) => {
      expect(err, cases[i]!.join(' ')).toMatchObject({ code: 2 });
      expect((err as { stderr: string }).stderr).toContain('usage: careflow deadletters');
    });
  });
});
