import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real VictoriaMetrics server (Debian package `victoria-metrics`) for the archive tests: it speaks the
 * InfluxDB v2 write API (`/api/v2/write`) and gives every stored sample back through `/api/v1/export`.
 * Listens on 127.0.0.1 only, stores in a temporary directory, and can be stopped and started again on the
 * same port and data directory (an outage).
 */
export const VICTORIA_METRICS_BIN = process.env.VICTORIA_METRICS_BIN ?? '/usr/bin/victoria-metrics';

export interface VictoriaMetricsOptions {
  /**
   * `-dedup.minScrapeInterval=1ms`: samples of a series with the same timestamp are stored once (the
   * setting careflow's archive needs for exactly-once). Off, every sample written is kept, duplicates too.
   */
  dedup?: boolean;
  /** More command-line flags (a scrape configuration: `-promscrape.config=…`). */
  args?: string[];
}

export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

export interface VictoriaMetrics {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly running: boolean;
  /** Starts the server again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops the server (SIGTERM; SIGKILL after 10 s); keeps the data directory. */
  stop(): Promise<void>;
  /** Stops the server and removes the data directory. */
  dispose(): Promise<void>;
  /** Every stored sample of the series matching `match` (a series selector), from the export API. */
  exportSeries(match: string): Promise<ExportedSeries[]>;
}

/**
 * Whether the archive tests can run here. CI (CI=true) installs the Debian package and must run them, so
 * there a missing binary fails loudly; on a developer machine without it they are skipped with a warning.
 */
export const VICTORIA_METRICS_AVAILABLE = existsSync(VICTORIA_METRICS_BIN);
export const SKIP_VICTORIA_METRICS = !VICTORIA_METRICS_AVAILABLE && process.env.CI !== 'true';
if (SKIP_VICTORIA_METRICS) {
  console.warn(
    `careflow: skipping the InfluxDB archive tests: no VictoriaMetrics at ${VICTORIA_METRICS_BIN} ` +
      '(apt-get install -y victoria-metrics, as .ci/run does, to run them)',
  );
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

export async function startVictoriaMetrics(opts: VictoriaMetricsOptions = {}): Promise<VictoriaMetrics> {
  if (!existsSync(VICTORIA_METRICS_BIN)) {
    throw new Error(
      `VictoriaMetrics is not installed at ${VICTORIA_METRICS_BIN}: run "apt-get install -y victoria-metrics" ` +
        '(.ci/run does) or set VICTORIA_METRICS_BIN',
    );
  }
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'careflow-vm-'));
  const url = `http://127.0.0.1:${port}`;
  const args = [
    `-storageDataPath=${dataDir}`,
    `-httpListenAddr=127.0.0.1:${port}`,
    '-retentionPeriod=100y',
    '-search.disableCache',
    '-search.latencyOffset=0s',
    '-loggerLevel=ERROR',
    ...(opts.dedup ? ['-dedup.minScrapeInterval=1ms'] : []),
    ...(opts.args ?? []),
  ];
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    if (child) return;
    const proc = spawn(VICTORIA_METRICS_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4_000);
    });
    proc.once('exit', () => {
      if (child === proc) child = undefined;
    });
    const until = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child !== proc) throw new Error(`victoria-metrics exited at start: ${stderr}`);
      if (await healthy(url)) return;
      if (Date.now() > until) {
        await stop();
        throw new Error(`victoria-metrics did not answer within ${START_TIMEOUT_MS} ms: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (!proc) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    child = undefined;
  }

  await start();
  return {
    url,
    port,
    dataDir,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
    async dispose() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
    async exportSeries(match) {
      // Recently written samples become searchable within seconds; a forced flush makes it immediate.
      const flushed = await fetch(`${url}/internal/force_flush`);
      if (!flushed.ok) throw new Error(`force_flush answered ${flushed.status}`);
      const body = new URLSearchParams({ 'match[]': match, start: '0' });
      const res = await fetch(`${url}/api/v1/export`, { method: 'POST', body });
      if (!res.ok) throw new Error(`export answered ${res.status}: ${await res.text()}`);
      return (await res.text())
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as ExportedSeries);
    },
  };
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
