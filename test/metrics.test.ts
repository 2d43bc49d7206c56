import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeLabel, Exposition, formatValue } from '../api/routes/metrics.ts';
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

/** `GET /metrics` on the real service: format, access, and that the figures follow what happened. */
let svc: TestService;
const clients: MqttClient[] = [];

async function scrape(token: string | null = ADMIN_TOKEN) {
  return svc.cf.http.inject({
    method: 'GET',
    url: '/metrics',
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
}

/** Sample values by series (`name{labels}`), from a scrape. */
async function samples(): Promise<Map<string, number>> {
  const text = (await scrape()).body;
  return new Map(
    text
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => {
        const at = l.lastIndexOf(' ');
        return [l.slice(0, at), Number(l.slice(at + 1))] as const;
      }),
  );
}

beforeAll(async () => {
  svc = await startTestService({ registry: testRegistry(2) });
  svc.clock.advanceTo(T0 + 2 * HOUR);
  for (const id of ['m-g1-1', 'm-g2-1']) {
    const client = await connectClient(svc.mqttUrl, id, `secret-${id}`);
    clients.push(client);
    const readings = [0, 1, 2, 2].map((i) => ({ ts: T0 + i * 600_000, totalLiters: 100 + i }));
    await client.publishAsync(`meters/${id}/readings`, JSON.stringify({ readings }), { qos: 1 });
  }
  // Both meters fall silent: meter-silent opens six hours after their last reading.
  svc.clock.advance(7 * HOUR);
  await eventually(
    () => svc.cf.store.alerts.list({ state: 'open' }).length === 2,
    5_000,
    'meter-silent alerts',
  );
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await svc?.dispose();
});

describe('GET /metrics', () => {
  it('answers in the Prometheus text format 0.0.4: HELP and TYPE once per family, then its samples', async () => {
    const res = await scrape();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body.endsWith('\n')).toBe(true);
    const typed = new Map<string, string>();
    let current = '';
    for (const line of res.body.trimEnd().split('\n')) {
      const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/.exec(line);
      const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line);
      if (help) {
        expect(typed.has(help[1]!), `${help[1]} appears once`).toBe(false);
        current = help[1]!;
      } else if (type) {
        expect(type[1]).toBe(current);
        typed.set(type[1]!, type[2]!);
      } else {
        const sample =
          /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"\\\n]*"(,[a-z_]+="[^"\\\n]*")*\})? (\S+)$/.exec(line);
        expect(sample, line).not.toBeNull();
        // A histogram's samples are <name>_bucket{le=…}, <name>_sum and <name>_count.
        const family =
          typed.get(current) === 'histogram' ? sample![1]!.replace(/_(bucket|sum|count)$/, '') : sample![1];
        expect(family).toBe(current);
        expect(Number.isFinite(Number(sample![4])) || sample![4] === '+Inf', line).toBe(true);
      }
    }
    for (const [name, type] of typed) {
      // careflow's own names follow the convention (prom-client's default nodejs_active_*_total are gauges).
      if (type !== 'histogram' && name.startsWith('careflow_'))
        expect(name.endsWith('_total'), `${name} is a ${type}`).toBe(type === 'counter');
    }
    for (const name of [
      'careflow_ingest_ack_seconds',
      'careflow_inbox_commit_seconds',
      'careflow_reading_to_detection_seconds',
      'careflow_reading_to_first_delivery_seconds',
    ])
      expect(typed.get(name), name).toBe('histogram');
    expect(typed.get('careflow_alerts_opened_total')).toBe('counter');
    expect(typed.get('careflow_auth_failures_total')).toBe('counter');
    expect(typed.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
  });

  it('times acknowledgements and commits, and counts alerts opened by rule', async () => {
    const m = await samples();
    expect(m.get('careflow_ingest_ack_seconds_count{channel="mqtt"}')).toBe(2);
    expect(m.get('careflow_ingest_ack_seconds_bucket{le="+Inf",channel="mqtt"}')).toBe(2);
    expect(m.get('careflow_ingest_ack_seconds_sum{channel="mqtt"}')).toBeGreaterThan(0);
    expect(m.get('careflow_inbox_commit_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(m.get('careflow_alerts_opened_total{rule="meter-silent"}')).toBe(2);
    expect(m.get('careflow_alerts_opened_total{rule="heavy-use"}')).toBe(0);
    expect(m.get('careflow_auth_failures_total{channel="mqtt"}')).toBe(0);
  });

  it('counts failed authentications by channel: a wrong meter secret, a wrong login, a bad bearer token', async () => {
    const before = await samples();
    const count = (m: Map<string, number>, channel: string) =>
      m.get(`careflow_auth_failures_total{channel="${channel}"}`) ?? NaN;
    await expect(connectClient(svc.mqttUrl, 'm-g1-1', 'not-the-secret')).rejects.toThrow();
    const login = await svc.cf.http.inject({
      method: 'POST',
      url: '/api/login',
      payload: { id: 'nobody-here', password: 'wrong-password' },
    });
    expect(login.statusCode).toBe(401);
    const bearer = await svc.cf.http.inject({
      method: 'GET',
      url: '/api/alerts',
      headers: { authorization: 'Bearer cfs_forged.token' },
    });
    expect(bearer.statusCode).toBe(401);
    const after = await samples();
    expect(count(after, 'mqtt') - count(before, 'mqtt')).toBe(1);
    expect(count(after, 'login') - count(before, 'login')).toBe(1);
    expect(count(after, 'bearer') - count(before, 'bearer')).toBe(1);
  });

  it('counts committed readings and what the normalizer made of them', async () => {
    const m = await samples();
    expect(m.get('careflow_readings_committed_total')).toBe(8);
    expect(m.get('careflow_normalizer_events_total{kind="accepted"}')).toBe(6);
    expect(m.get('careflow_normalizer_events_total{kind="duplicate"}')).toBe(2);
    expect(m.get('careflow_normalizer_events_total{kind="glitch-drop"}')).toBe(0);
    expect(m.get('careflow_inbox_last_seq')).toBe(8);
    expect(m.get('careflow_inbox_cursor_lag_readings')).toBe(0);
  });

  it('shows open alerts by rule and state, the outbox and the connected MQTT clients', async () => {
    let m = await samples();
    expect(m.get('careflow_open_alerts{rule="meter-silent",state="open"}')).toBe(2);
    expect(m.get('careflow_mqtt_connected_clients')).toBe(2);
    expect(m.get('careflow_outbox_pending_messages')).toBe(svc.cf.store.outbox.pendingCount());

    const [alert] = svc.cf.store.alerts.list({ state: 'open' });
    const ack = await svc.cf.http.inject({
      method: 'POST',
      url: `/api/alerts/${alert!.id}/ack`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: {},
    });
    expect(ack.statusCode, ack.body).toBe(200);
    await clients.pop()!.endAsync(true);
    await eventually(() => svc.cf.broker.connectedClients() === 1, 5_000, 'a client to leave');
    m = await samples();
    expect(m.get('careflow_open_alerts{rule="meter-silent",state="open"}')).toBe(1);
    expect(m.get('careflow_open_alerts{rule="meter-silent",state="acknowledged"}')).toBe(1);
    expect(m.get('careflow_mqtt_connected_clients')).toBe(1);
  });

  it('reports the process and says the archive is off when none is configured', async () => {
    const m = await samples();
    expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(m.get('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(m.get('process_start_time_seconds')).toBeLessThanOrEqual(Date.now() / 1000);
    expect(m.get('careflow_archive_enabled')).toBe(0);
    expect(m.has('careflow_archive_spool_readings')).toBe(false);
  });

  it('needs a token with metrics:read: none is 401, a grid leader 403, an admin API key 200', async () => {
    expect((await scrape(null)).statusCode).toBe(401);
    const leader = await svc.cf.http.inject({
      method: 'POST',
      url: '/api/api-keys',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { name: 'leader', role: 'grid-leader', grids: ['g1'] },
    });
    const admin = await svc.cf.http.inject({
      method: 'POST',
      url: '/api/api-keys',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { name: 'prometheus', role: 'admin' },
    });
    const denied = await scrape((leader.json() as { key: string }).key);
    expect(denied.statusCode).toBe(403);
    expect(denied.json()).toMatchObject({ code: 'ERR_API_FORBIDDEN' });
    expect((await scrape((admin.json() as { key: string }).key)).statusCode).toBe(200);
  });

  it('can be scraped with a monitor API key, which may read nothing else', async () => {
    const created = await svc.cf.http.inject({
      method: 'POST',
      url: '/api/api-keys',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { name: 'prometheus', role: 'monitor' },
    });
    expect(created.statusCode).toBe(200);
    const key = (created.json() as { key: string }).key;
    expect((await scrape(key)).statusCode).toBe(200);
    for (const url of ['/api/alerts', '/api/households/h-g1-1', '/api/deadletters', '/api/audit']) {
      const res = await svc.cf.http.inject({
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.statusCode, url).toBe(403);
    }
  });
});

describe('the exposition writer', () => {
  it('escapes label values and help text, and writes special values the Prometheus way', () => {
    const m = new Exposition();
    m.gauge('x_value', 'a \\ help\nline', [[{ path: 'C:\\meters\n"north"' }, NaN]]);
    m.counter('y_total', 'plain', Infinity);
    expect(m.text()).toBe(
      '# HELP x_value a \\\\ help\\nline\n# TYPE x_value gauge\n' +
        'x_value{path="C:\\\\meters\\n\\"north\\""} NaN\n' +
        '# HELP y_total plain\n# TYPE y_total counter\ny_total +Inf\n',
    );
    expect(escapeLabel('plain')).toBe('plain');
    expect([formatValue(-Infinity), formatValue(0.25), formatValue(3)]).toEqual(['-Inf', '0.25', '3']);
  });
});

describe('alert latency metrics', () => {
  it('time an alert from the reading that completed its evidence to detection and to first delivery', async () => {
    const own = await startTestService({ registry: testRegistry(1) });
    const meter = await connectClient(own.mqttUrl, 'm-g1-1', 'secret-m-g1-1');
    try {
      own.clock.advanceTo(T0 + 5 * HOUR);
      // 300 L an hour for four hours: heavy-use (120 L per bucket over 2 hours) opens when a bucket closes.
      const readings = [0, 1, 2, 3, 4].map((h) => ({ ts: T0 + h * HOUR, totalLiters: 1000 + 300 * h }));
      for (const r of readings)
        await meter.publishAsync('meters/m-g1-1/readings', JSON.stringify(r), { qos: 1 });
      await eventually(
        () => own.cf.store.alerts.list({ state: 'open' }).some((a) => a.ruleId === 'heavy-use'),
        5_000,
        'heavy-use alert',
      );
      const read = async () => {
        const res = await own.cf.http.inject({
          method: 'GET',
          url: '/metrics',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        return res.body;
      };
      // The first delivery is recorded once the dispatcher has published the message (asynchronously).
      let text = await read();
      for (
        let i = 0;
        i < 50 && !/careflow_reading_to_first_delivery_seconds_count\{rule="heavy-use"\} 1\n/.test(text);
        i++
      ) {
        await new Promise((r) => setTimeout(r, 100));
        text = await read();
      }
      expect(text).toMatch(/careflow_reading_to_detection_seconds_count\{rule="heavy-use"\} 1\n/);
      expect(text).toMatch(/careflow_alerts_opened_total\{rule="heavy-use"\} 1\n/);
      const detection = Number(
        /careflow_reading_to_detection_seconds_sum\{rule="heavy-use"\} (\S+)/.exec(text)![1],
      );
      const delivery = Number(
        /careflow_reading_to_first_delivery_seconds_sum\{rule="heavy-use"\} (\S+)/.exec(text)![1],
      );
      expect(detection).toBeGreaterThan(0);
      expect(delivery).toBeGreaterThanOrEqual(detection);
    } finally {
      await meter.endAsync(true);
      await own.dispose();
    }
  });
});
