/**
 * Security benchmark (issue 12): `npm run bench:security -- [--flood-seconds 10] [--flood-rate 200]`.
 *
 * Starts the service in a child process (bench/security-service.ts) on a fresh data dir for each phase and
 * attacks it from this process over 127.0.0.1 (the legitimate clients) and 127.0.0.2 (the attacker):
 *
 * - `login-burst`: 300 concurrent wrong logins for one account from one address while meters CONNECT for
 *   the first time (each a real scrypt check); then the same with the login limit raised to 1,000, so all
 *   300 passwords are checked: the bounded password queue alone must keep CONNECTs fast.
 * - `connect-flood`: `--flood-rate` wrong CONNECTs a second for `--flood-seconds`, rotating over known and
 *   unknown meter ids, while new meters CONNECT (first time: a real check) and two connected meters publish
 *   QoS 1 readings; CONNECT and PUBACK latency, and the service's CPU. Run with the default throttling and
 *   with throttling off (a flood from many addresses: only the bounded hash queue protects).
 * - `enumeration`: time to refuse a wrong secret for a known id and for an unknown id (sequential, throttling
 *   off), median of each.
 *
 * Benchmark shortcut, stated plainly: every meter shares one secret hash (scrypt per meter at import would
 * only slow the set-up; checks at CONNECT are per attempt either way).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import type { ConfigInput } from '../core/config.ts';
import { hashSecret, SCRYPT_COST } from '../core/secrets.ts';
import { openStore } from '../core/store/store.ts';
import { rawConnect } from '../test/raw-connect.ts';

const { values } = parseArgs({
  options: {
    'flood-seconds': { type: 'string', default: '10' },
    'flood-rate': { type: 'string', default: '200' },
    phases: { type: 'string', default: 'login-burst,connect-flood,enumeration' },
  },
});
const floodSeconds = Number(values['flood-seconds']);
const floodRate = Number(values['flood-rate']);
const phases = new Set(values.phases.split(','));
const METERS = 2_000;
const SECRET = 'benchmark-meter-secret';
const PASSWORD = 'benchmark-person-password';
/** Meters 0…999 connect legitimately, the attacker tries 1000…1499, 1998 and 1999 publish readings. */
const LEGIT_METERS = 1_000;
const meterId = (n: number) => `m-${String(n).padStart(5, '0')}`;
const out = (line: string) => process.stdout.write(line + '\n');

interface Service {
  child: ChildProcess;
  mqttPort: number;
  httpPort: number;
  adminToken: string;
  dir: string;
}

async function seed(dir: string): Promise<void> {
  const store = openStore({ path: join(dir, 'careflow.db'), synchronous: 'NORMAL' });
  const meterHash = await hashSecret(SECRET);
  const personHash = await hashSecret(PASSWORD, SCRYPT_COST.person);
  try {
    store.transaction(() => {
      store.registry.upsertStreet('s1', 'Street');
      store.registry.upsertCommunity('c1', 's1', 'Community');
      store.registry.upsertGrid('g1', 'c1', 'Grid');
      for (let n = 0; n < METERS; n++) {
        const id = `h-${n}`;
        store.registry.upsertHousehold({
          id,
          gridCode: 'g1',
          address: `Bench ${n}`,
          livesAlone: false,
          elderly: false,
          awayUntil: null,
          notes: null,
        });
        store.registry.upsertMeter({ id: meterId(n), householdId: id, secretHash: meterHash });
      }
      store.registry.upsertWorker({
        id: 'w-1',
        name: 'Worker',
        role: 'grid-worker',
        grids: ['g1'],
        secretHash: meterHash,
      });
      store.access.setPassword('w-1', personHash);
    });
  } finally {
    store.close();
  }
}

async function start(config: ConfigInput): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'careflow-bench-security-'));
  await seed(dir);
  const full: ConfigInput = {
    dataDir: dir,
    logLevel: 'silent',
    ...config,
    mqtt: { host: '127.0.0.1', port: 0, ...config.mqtt },
    http: { host: '127.0.0.1', port: 0, ...config.http },
  };
  const child = fork(fileURLToPath(new URL('../bin/run-ts.js', import.meta.url)), [
    fileURLToPath(new URL('./security-service.ts', import.meta.url)),
    JSON.stringify(full),
  ]);
  return new Promise<Service>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`service exited with ${code}`)));
    child.once('message', (m: { mqttPort: number; httpPort: number; adminToken: string }) =>
      resolve({ child, dir, ...m }),
    );
  }).then(async (s) => {
    // Warm-up, not measured: first CONNECTs and a first login load code paths on both sides.
    for (let i = 0; i < 3; i++) await freshConnect(s);
    await fetch(`http://127.0.0.1:${s.httpPort}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'w-1', password: PASSWORD }),
    });
    return s;
  });
}

async function stop(s: Service): Promise<void> {
  s.child.removeAllListeners('exit');
  await new Promise<void>((resolve) => {
    s.child.once('exit', () => resolve());
    s.child.send('stop');
  });
  rmSync(s.dir, { recursive: true, force: true });
}

/** The service's CPU time, and its longest event-loop delay since the previous call. */
function serviceLoad(s: Service): Promise<{ cpuMs: number; maxLoopDelayMs: number }> {
  return new Promise((resolve) => {
    s.child.once('message', (m: { cpuMs: number; maxLoopDelayMs: number }) => resolve(m));
    s.child.send('cpu');
  });
}

async function secretChecks(s: Service, kind: 'device' | 'person'): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${s.httpPort}/metrics`, {
    headers: { authorization: `Bearer ${s.adminToken}` },
  });
  const line = (await res.text())
    .split('\n')
    .find((l) => l.startsWith(`careflow_secret_checks_total{kind="${kind}"} `));
  return Number(line?.split(' ')[1]);
}

let nextMeter = 0;
/** A meter's first CONNECT (its secret is checked with scrypt): ms to CONNACK, or null when refused. */
async function freshConnect(s: Service): Promise<number | null> {
  const id = meterId(nextMeter++ % LEGIT_METERS);
  const started = performance.now();
  try {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${s.mqttPort}`, {
      clientId: id,
      username: id,
      password: SECRET,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
    const ms = performance.now() - started;
    await client.endAsync(true);
    return ms;
  } catch {
    return null;
  }
}

/** Starts bench/security-attacker.ts with `plan`; resolves once it is ready, with a `go` that starts it. */
async function attacker<T>(plan: Record<string, unknown>): Promise<{ go(): Promise<T> }> {
  const child = fork(fileURLToPath(new URL('../bin/run-ts.js', import.meta.url)), [
    fileURLToPath(new URL('./security-attacker.ts', import.meta.url)),
    JSON.stringify(plan),
  ]);
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`attacker exited with ${code}`)));
  });
  return {
    go: () =>
      new Promise<T>((resolve, reject) => {
        child.removeAllListeners('exit');
        child.once('message', (m) => resolve(m as T));
        child.once('exit', (code) => reject(new Error(`attacker exited with ${code}`)));
        child.send('go');
      }),
  };
}

/** Measures fresh CONNECTs back to back until `until` resolves (at least `min`); refusals counted apart. */
async function connectsUntil(s: Service, until: Promise<unknown>, min: number, pauseMs = 0) {
  let done = false;
  void until.then(() => (done = true));
  const times: number[] = [];
  let refused = 0;
  while (!done || times.length + refused < min) {
    const ms = await freshConnect(s);
    if (ms === null) refused++;
    else times.push(ms);
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  }
  return { times, refused };
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}
const fmt = (ms: number) => `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
const stats = (xs: number[]) =>
  `n=${xs.length} p50 ${fmt(quantile(xs, 0.5))} p99 ${fmt(quantile(xs, 0.99))} max ${fmt(Math.max(...xs))}`;

async function loginBurst(label: string, config: ConfigInput): Promise<void> {
  const s = await start(config);
  try {
    const before = await secretChecks(s, 'person');
    await serviceLoad(s);
    const burst = (
      await attacker<{ statuses: number[] }>({
        kind: 'login-burst',
        httpPort: s.httpPort,
        attempts: 300,
        id: 'w-1',
      })
    ).go();
    const { times, refused } = await connectsUntil(s, burst, 10);
    const { statuses } = await burst;
    const { maxLoopDelayMs } = await serviceLoad(s);
    const checked = (await secretChecks(s, 'person')) - before;
    const count = (code: number) => statuses.filter((x) => x === code).length;
    out(
      `${label}: 300 concurrent wrong logins → ${count(401)}×401, ${count(429)}×429; passwords checked: ${checked}`,
    );
    out(
      `${label}: meter CONNECT (first, scrypt-checked) during the burst: ${stats(times)}, refused ${refused}; service event-loop delay max ${fmt(maxLoopDelayMs)}`,
    );
  } finally {
    await stop(s);
  }
}

async function connectFlood(label: string, config: ConfigInput): Promise<void> {
  const s = await start(config);
  try {
    const url = `mqtt://127.0.0.1:${s.mqttPort}`;
    // Two meters that stay connected and publish QoS 1 readings (connected before the flood).
    const publishers = await Promise.all(
      [METERS - 1, METERS - 2].map((n) =>
        mqtt.connectAsync(url, {
          clientId: meterId(n),
          username: meterId(n),
          password: SECRET,
          reconnectPeriod: 0,
        }),
      ),
    );
    const floodAttacker = await attacker<{ codes: Record<string, number>; sent: number; seconds: number }>({
      kind: 'connect-flood',
      mqttPort: s.mqttPort,
      rate: floodRate,
      seconds: floodSeconds,
      knownIds: Array.from({ length: 500 }, (_, i) => meterId(i + 1_000)),
    });
    const cpuBefore = (await serviceLoad(s)).cpuMs;
    const checksBefore = await secretChecks(s, 'device');
    const started = performance.now();
    const flood = floodAttacker.go();
    const pubacks: number[] = [];
    let ts = Date.now() - 3_600_000;
    let flooding = true;
    void flood.then(() => (flooding = false));
    const publishing = publishers.map(async (client, i) => {
      while (flooding) {
        const t0 = performance.now();
        ts += 1_000;
        await client.publishAsync(
          `meters/${meterId(METERS - 1 - i)}/readings`,
          JSON.stringify({ ts, totalLiters: 1_000 + (ts % 1e7) / 1e4 }),
          { qos: 1 },
        );
        pubacks.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    const { times, refused } = await connectsUntil(s, flood, 10, 50);
    await Promise.all(publishing);
    const { codes, sent, seconds } = await flood;
    const elapsed = (performance.now() - started) / 1000;
    const load = await serviceLoad(s);
    const cpu = (load.cpuMs - cpuBefore) / 1000 / elapsed;
    const checks = (await secretChecks(s, 'device')) - checksBefore;
    await Promise.all(publishers.map((c) => c.endAsync(true)));
    const names: Record<string, string> = { '3': 'unavailable(3)', '4': 'bad-credentials(4)' };
    const codeList = Object.entries(codes)
      .map(([c, n]) => `${n}×${names[c] ?? c}`)
      .join(', ');
    out(
      `${label}: ${sent} wrong CONNECTs in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s) → ${codeList}; secrets checked: ${checks}; service CPU ${(cpu * 100).toFixed(0)} % of a core, event-loop delay max ${fmt(load.maxLoopDelayMs)}`,
    );
    out(`${label}: legitimate meter CONNECT (first, scrypt-checked): ${stats(times)}, refused ${refused}`);
    out(`${label}: legitimate PUBACK: ${stats(pubacks)}`);
  } finally {
    await stop(s);
  }
}

async function enumeration(): Promise<void> {
  const s = await start({
    mqtt: { authFailuresPerAddress: 100_000, authFailuresPerId: 100_000 },
  });
  try {
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 1_000; i++) {
      const isKnown = i % 2 === 0;
      const r = await rawConnect({
        port: s.mqttPort,
        clientId: `probe-${i}`,
        username: isKnown ? meterId(i % METERS) : `nobody-${i}`,
        password: 'guess',
        localAddress: '127.0.0.2',
      });
      if (i >= 20) (isKnown ? known : unknown).push(r.ms);
    }
    const mk = quantile(known, 0.5);
    const mu = quantile(unknown, 0.5);
    out(
      `enumeration: time to refuse a wrong secret, median: known id ${fmt(mk)}, unknown id ${fmt(mu)} (difference ${((Math.abs(mk - mu) / Math.max(mk, mu)) * 100).toFixed(1)} %)`,
    );
  } finally {
    await stop(s);
  }
}

out(`careflow security benchmark (node ${process.version}); figures are noisy on a shared machine`);
if (phases.has('login-burst')) {
  await loginBurst('login-burst', {});
  await loginBurst('login-burst (limit raised to 1000)', { http: { loginMaxFailures: 1000 } });
}
if (phases.has('connect-flood')) {
  await connectFlood('connect-flood', {});
  await connectFlood('connect-flood (throttling off)', {
    mqtt: { authFailuresPerAddress: 100_000, authFailuresPerId: 100_000 },
  });
}
if (phases.has('enumeration')) await enumeration();
