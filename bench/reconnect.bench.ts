/**
 * Reconnect-storm benchmark (issue 15): `npm run bench:reconnect -- [--meters 100000] [--window 512]`.
 *
 * 1. Registers `--meters` meters, each with its own random 32-byte secret and its own scrypt hash (device
 *    cost). Hashing 100,000 secrets takes minutes, so the secrets and hashes are computed once (in parallel on
 *    the thread pool) and kept in a fixture file in the OS temp directory (`careflow-bench-reconnect-<n>.tsv`),
 *    reused by later runs; delete it to make new secrets.
 * 2. Starts the service as `careflow start` runs it (a child process, fresh data dir) and connects every
 *    meter once: each a real scrypt check through the bounded hash queue (CONNACK 3 "busy" is retried, as a
 *    meter would). Then stops the service (SIGTERM) and starts it again on the same data dir. With
 *    `--seed-verifiers` this first connect is skipped: what it leaves in the data dir (the verifier key, one
 *    keyed verifier and one client id binding per meter) is written with the broker's own classes instead.
 * 3. The storm: all meters CONNECT again, `--window` at once, from 16 loopback addresses, driven by `--clients`
 *    load-generator processes (reconnect-client.ts). Prints CONNECTs/s, the time until all are in,
 *    CONNECT→CONNACK latency p50/p99, the service's scrypt and verifier counts, the CPU per CONNECT of the
 *    service and of the clients (each with its kernel share), how busy the machine was with other work, and
 *    what two idle cores would allow at the measured CPU costs (derived, not measured).
 *
 * Each client connects, gets its CONNACK, sends DISCONNECT and closes (a service cannot hold 100,000 sockets
 * within a usual file limit), so the CPU figures include the disconnects; `--hold` keeps the connections open
 * until the figures are taken (as many meters as the file limit allows). The clients run on the same machine
 * as the service.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveVerifierKey } from '../app/admin-token.ts';
import { ClientIdOwnership } from '../broker/client-id-owner.ts';
import { SecretVerifiers } from '../broker/secret-verifiers.ts';
import { hashSecret } from '../core/secrets.ts';
import { openStore } from '../core/store/store.ts';
import { spawnService, type ServiceProcess } from '../test/service-process.ts';
import { benchMeterId, registerBenchMeters } from './bench-registry.ts';
import type { ClientResult } from './reconnect-client.ts';

const { values } = parseArgs({
  options: {
    meters: { type: 'string', default: '100000' },
    window: { type: 'string', default: '512' },
    /** Load-generator processes (each connects its share of the meters with its share of the window). */
    clients: { type: 'string', default: '2' },
    /**
     * Accepted connections stay open until the storm's CPU figures are taken, as meters stay connected: the
     * figures are then those of the CONNECTs alone, without the disconnects. Every meter needs a file
     * descriptor in the service for that (limit: `ulimit -n`).
     */
    hold: { type: 'boolean', default: false },
    /** Directory for a CPU profile (node --cpu-prof) of the restarted service during the storm. */
    'cpu-prof': { type: 'string' },
    /**
     * Skip the first, scrypt-bound connect of every meter: write what it leaves behind (verifiers, client id
     * bindings) with the broker's own classes, then measure only the reconnect after the restart.
     */
    'seed-verifiers': { type: 'boolean', default: false },
  },
});
const METERS = Number(values.meters);
const WINDOW = Number(values.window);
const CLIENTS = Math.max(1, Number(values.clients));
const RUN_TS = fileURLToPath(new URL('../bin/run-ts.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./reconnect-client.ts', import.meta.url));
const ADMIN = 'process-admin-token-0123456789';
const out = (line: string) => process.stdout.write(line + '\n');
const ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 1}`);

/** Secrets and their hashes, from the fixture file or computed (and then saved) for `n` meters. */
async function fixture(n: number): Promise<{ file: string; secrets: string[]; hashes: string[] }> {
  const file = join(tmpdir(), `careflow-bench-reconnect-${n}.tsv`);
  if (existsSync(file)) {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    if (lines.length === n) {
      out(`fixture: ${n} secrets and hashes from ${file}`);
      const rows = lines.map((l) => l.split('\t') as [string, string]);
      return { file, secrets: rows.map((r) => r[0]), hashes: rows.map((r) => r[1]) };
    }
  }
  const started = performance.now();
  const secrets = Array.from({ length: n }, () => randomBytes(32).toString('base64url'));
  const hashes: string[] = new Array<string>(n);
  let next = 0;
  // A few hashes in flight at a time keep every thread of the pool (and so every core) busy.
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        hashes[i] = await hashSecret(secrets[i]!);
      }
    }),
  );
  writeFileSync(file, secrets.map((s, i) => `${s}\t${hashes[i]}`).join('\n') + '\n', { mode: 0o600 });
  out(
    `fixture: hashed ${n} secrets in ${((performance.now() - started) / 1000).toFixed(1)} s, saved to ${file}`,
  );
  return { file, secrets, hashes };
}

/** CPU seconds a process has used so far in user space and in the kernel, from /proc (Linux). */
function cpuSeconds(pid: number | undefined, thread?: number): { user: number; system: number } {
  try {
    const stat = readFileSync(thread ? `/proc/${pid}/task/${thread}/stat` : `/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return { user: NaN, system: NaN };
  }
}

/** CPU seconds the whole machine has been busy (all cores, every state but idle and iowait), from /proc/stat. */
function machineBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return (total - f[3]! - f[4]!) / 100;
  } catch {
    return NaN;
  }
}

interface StormResult {
  seconds: number;
  serviceCpuSeconds?: number;
  /** The part of it spent in the kernel (system time). */
  serviceSystemSeconds?: number;
  /** The part of it on the service's main thread (the rest: garbage collection and libuv helper threads). */
  serviceMainThreadSeconds?: number;
  clientCpuSeconds?: number;
  clientSystemSeconds?: number;
  latencies: number[];
  retries: number;
  failed: number;
  /** CPU seconds all processes of the machine used during the storm (/proc/stat). */
  machineBusySeconds: number;
  /** The one-minute load average at the end of the storm. */
  loadAverage: number;
}

/** One load-generator process (reconnect-client.ts), its packets built, waiting for the start. */
interface ClientProcess {
  start(): Promise<ClientResult>;
  /** Closes the connections it holds open (`--hold`) and waits for it to exit. */
  release(): Promise<void>;
}

async function startClient(
  port: number,
  fixtureFile: string,
  from: number,
  stride: number,
): Promise<ClientProcess> {
  const proc = spawn(
    process.execPath,
    [
      RUN_TS,
      CLIENT,
      `--port=${port}`,
      `--fixture=${fixtureFile}`,
      `--from=${from}`,
      `--stride=${stride}`,
      `--window=${Math.ceil(WINDOW / stride)}`,
      `--addresses=${ADDRESSES.join(',')}`,
      ...(values.hold ? ['--hold'] : []),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: proc.stdout! });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      proc.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
    });
  await next();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    async start() {
      const result = next();
      proc.stdin!.write('go\n');
      return JSON.parse(await result) as ClientResult;
    },
    async release() {
      proc.stdin!.end('close\n');
      await exited;
    },
  };
}

/**
 * Connects every meter, `WINDOW` at once, from `--clients` load-generator processes (each its share of the
 * meters and of the window); refusals for "busy" (3) and lost connections are retried.
 */
async function storm(svc: ServiceProcess, fixtureFile: string): Promise<StormResult> {
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, (_, k) => startClient(svc.mqttPort, fixtureFile, k, CLIENTS)),
  );
  const cpu0 = cpuSeconds(svc.proc.pid);
  // The main thread (its id is the process id): JavaScript, the event loop and the socket system calls.
  const main0 = cpuSeconds(svc.proc.pid, svc.proc.pid);
  const busy0 = machineBusySeconds();
  const results = await Promise.all(clients.map((c) => c.start()));
  const cpu1 = cpuSeconds(svc.proc.pid);
  const main1 = cpuSeconds(svc.proc.pid, svc.proc.pid);
  const busy = machineBusySeconds() - busy0;
  await Promise.all(clients.map((c) => c.release()));
  return {
    seconds:
      (Math.max(...results.map((r) => r.endedAt)) - Math.min(...results.map((r) => r.startedAt))) / 1000,
    serviceCpuSeconds: cpu1.user + cpu1.system - cpu0.user - cpu0.system,
    serviceSystemSeconds: cpu1.system - cpu0.system,
    serviceMainThreadSeconds: main1.user + main1.system - main0.user - main0.system,
    clientCpuSeconds: results.reduce((s, r) => s + r.cpuMicros, 0) / 1e6,
    clientSystemSeconds: results.reduce((s, r) => s + r.systemMicros, 0) / 1e6,
    latencies: results.flatMap((r) => r.latencies),
    retries: results.reduce((s, r) => s + r.retries, 0),
    failed: results.reduce((s, r) => s + r.failed, 0),
    machineBusySeconds: busy,
    loadAverage: loadavg()[0]!,
  };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

async function deviceChecks(svc: ServiceProcess): Promise<{ scrypt: number; fast: number }> {
  const text = await (
    await fetch(`http://127.0.0.1:${svc.httpPort}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })
  ).text();
  const value = (s: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(s + ' '))
        ?.split(' ')
        .at(-1),
    );
  return {
    scrypt: value('careflow_secret_checks_total{kind="device"}'),
    fast: value('careflow_secret_fast_checks_total'),
  };
}

/**
 * What every meter's first connect leaves in the data directory, written directly: the verifier key file, a
 * keyed verifier per meter and its client id binding (the same classes and the same HMAC as the broker's).
 * Milliseconds taken.
 */
function seedFirstConnect(dir: string, secrets: string[], hashes: string[]): number {
  const started = performance.now();
  const store = openStore({ path: join(dir, 'careflow.db'), synchronous: 'NORMAL' });
  try {
    const verifiers = new SecretVerifiers(store, resolveVerifierKey(dir));
    const clientIds = new ClientIdOwnership(store);
    const at = Date.now();
    for (let i = 0; i < secrets.length; i++) {
      const principal = { kind: 'meter' as const, id: benchMeterId(i) };
      verifiers.remember(principal, hashes[i]!, Buffer.from(secrets[i]!), at);
      if (!clientIds.claim(principal.id, principal, at)) throw new Error(`client id ${principal.id} refused`);
      if (i % 10_000 === 9_999) {
        verifiers.flush();
        clientIds.flush();
      }
    }
    verifiers.flush();
    clientIds.flush();
  } finally {
    store.close();
  }
  return performance.now() - started;
}

function report(label: string, r: StormResult, checks: { scrypt: number; fast: number }): void {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  out(
    `${label}: ${r.latencies.length} meters in ${r.seconds.toFixed(1)} s = ${Math.round(r.latencies.length / r.seconds)} CONNECTs/s; ` +
      `CONNACK p50 ${pct(sorted, 50).toFixed(1)} ms, p99 ${pct(sorted, 99).toFixed(1)} ms; ` +
      `retried ${r.retries}, failed ${r.failed}; scrypt checks ${checks.scrypt}, verifier hits ${checks.fast}`,
  );
  const n = r.latencies.length;
  const service = ((r.serviceCpuSeconds ?? NaN) / n) * 1e6;
  const client = ((r.clientCpuSeconds ?? NaN) / n) * 1e6;
  const kernel = (seconds: number | undefined) =>
    `${(((seconds ?? NaN) / n) * 1e6).toFixed(0)} µs in the kernel`;
  out(
    `  CPU per CONNECT: service ${service.toFixed(0)} µs (${kernel(r.serviceSystemSeconds)}), ` +
      `client ${client.toFixed(0)} µs (${kernel(r.clientSystemSeconds)}) ` +
      `(service ${(r.serviceCpuSeconds ?? NaN).toFixed(1)} s, ${CLIENTS} client processes ${(r.clientCpuSeconds ?? NaN).toFixed(1)} s)`,
  );
  const cores = r.machineBusySeconds / r.seconds;
  const others = Math.max(0, r.machineBusySeconds - (r.serviceCpuSeconds ?? 0) - (r.clientCpuSeconds ?? 0));
  out(
    `  machine during the storm: ${cores.toFixed(2)} of ${availableParallelism()} cores busy, ` +
      `${(others / r.seconds).toFixed(2)} of them with other work; load average ${r.loadAverage.toFixed(1)}`,
  );
  // The service's main thread is one core; service and client together share all of them.
  const main = ((r.serviceMainThreadSeconds ?? NaN) / n) * 1e6;
  out(
    `  service main thread: ${main.toFixed(0)} µs per CONNECT (one core: at most ~${Math.round(1e6 / main)}/s)`,
  );
  const quiet = Math.min(1e6 / main, (availableParallelism() * 1e6) / (service + client));
  out(
    `  at these CPU costs, ${availableParallelism()} otherwise idle cores would allow ~${Math.round(quiet)} CONNECTs/s ` +
      `(${(METERS / quiet).toFixed(0)} s for ${METERS} meters; a derived figure, not a measurement)`,
  );
}

async function main(): Promise<void> {
  out(
    `bench:reconnect — ${METERS} meters, ${WINDOW} CONNECTs in flight from ${CLIENTS} client processes on the ` +
      `same machine${values.hold ? ', accepted connections held open' : ''}`,
  );
  const { file, secrets, hashes } = await fixture(METERS);
  const dir = mkdtempSync(join(tmpdir(), 'careflow-bench-reconnect-'));
  let svc: ServiceProcess | undefined;
  try {
    const ms = await registerBenchMeters(join(dir, 'careflow.db'), METERS, '', hashes);
    out(`registry: ${METERS} meters, each with its own secret hash, written in ${(ms / 1000).toFixed(1)} s`);

    if (values['seed-verifiers']) {
      const seeded = seedFirstConnect(dir, secrets, hashes);
      out(
        `first connect: skipped; its verifiers and client id bindings written in ${(seeded / 1000).toFixed(1)} s`,
      );
    } else {
      svc = await spawnService(dir);
      const first = await storm(svc, file);
      report('first connect (scrypt each)', first, await deviceChecks(svc));
      await svc.stop();
      svc = undefined;
    }

    const restartStarted = performance.now();
    const profile = values['cpu-prof'];
    svc = await spawnService(dir, profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profile}` } : {});
    out(`restart: service up again in ${((performance.now() - restartStarted) / 1000).toFixed(1)} s`);
    const again = await storm(svc, file);
    report('reconnect after restart', again, await deviceChecks(svc));
  } finally {
    if (svc) await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:reconnect failed: ${err.message}\n`);
  process.exitCode = 1;
});
