import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../cli/commands/index.ts';
import { tempDataDir } from './harness.ts';

const BIN = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));
const dirs: string[] = [];
const servers: Server[] = [];
afterAll(async () => {
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the real `careflow` command as its own process. */
function careflow(args: string[], env: Record<string, string> = {}, timeout = 60_000): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, CAREFLOW_LOG_LEVEL: 'warn', ...env }, timeout },
      (err, stdout, stderr) =>
        resolve({ code: err ? (child.exitCode ?? -1) : 0, stdout, stderr, ms: Date.now() - started }),
    );
  });
}

async function takenPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

const noTrace = (text: string) => expect(text).not.toMatch(/^\s+at /m);

describe('careflow --help', () => {
  it('every command answers --help with its usage, exit 0', async () => {
    // Three at a time: each process loads the whole CLI, and the machine may be busy with other tests.
    const outcomes: Outcome[] = [];
    for (let i = 0; i < COMMANDS.length; i += 3)
      outcomes.push(
        ...(await Promise.all(COMMANDS.slice(i, i + 3).map((c) => careflow([c.name, '--help'])))),
      );
    COMMANDS.forEach((c, i) => {
      const o = outcomes[i]!;
      expect(o.code, c.name).toBe(0);
      expect(o.stdout, c.name).toContain(`Usage: careflow ${c.usage}`);
      expect(o.stdout, c.name).toContain(c.summary);
    });
    const viaHelp = await careflow(['help', 'backtest']);
    expect(viaHelp.stdout).toContain('heavy-use.minLitersPerBucket=150');
    const top = await careflow(['--help']);
    for (const c of COMMANDS) expect(top.stdout).toContain(`careflow ${c.usage}`);
  }, 300_000);

  it('an unknown option is one line with a hint, exit 2, no trace', async () => {
    const o = await careflow(['start', '--bogus']);
    expect(o.code).toBe(2);
    expect(o.stderr.trim().split('\n')).toHaveLength(1);
    expect(o.stderr).toContain('see careflow start --help');
    noTrace(o.stderr);
  });
});

describe('careflow start on a taken port', () => {
  for (const which of ['MQTT', 'HTTP'] as const) {
    it(`${which}: one line naming the port and the setting, exit 1 within 5 s, no trace`, async () => {
      const port = await takenPort();
      const dir = tempDataDir();
      dirs.push(dir);
      const env = {
        CAREFLOW_DATA_DIR: dir,
        CAREFLOW_MQTT_HOST: '127.0.0.1',
        CAREFLOW_HTTP_HOST: '127.0.0.1',
        CAREFLOW_MQTT_PORT: which === 'MQTT' ? String(port) : '0',
        CAREFLOW_HTTP_PORT: which === 'HTTP' ? String(port) : '0',
      };
      const o = await careflow(['start'], env, 20_000);
      expect(o.code).toBe(1);
      expect(o.ms).toBeLessThan(5_000);
      expect(o.stderr.trim().split('\n')).toEqual([
        `careflow start: ERR_START_PORT_UNAVAILABLE: ${which} port ${port} (127.0.0.1) is already in use by another program: stop it, or choose another port with CAREFLOW_${which}_PORT`,
      ]);
      noTrace(o.stderr);
    });
  }
});

describe('careflow backtest --set', () => {
  const window = [
    '--scope',
    'global',
    '--from',
    '2026-03-01T00:00:00+08:00',
    '--to',
    '2026-03-02T00:00:00+08:00',
  ];

  it('takes a parameter as <rule>.<param>=<value>, as its help shows', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const short = await careflow(['backtest', ...window, '--set', 'heavy-use.minLitersPerBucket=150'], {
      CAREFLOW_DATA_DIR: dir,
    });
    expect(short.stderr).not.toContain('ERR_');
    expect(short.code).toBe(0);
    expect(short.stdout).toContain(
      'rules: version 1 with {"heavy-use":{"params":{"minLitersPerBucket":150}}}',
    );
    const long = await careflow(['backtest', ...window, '--set', 'heavy-use.params.minLitersPerBucket=150'], {
      CAREFLOW_DATA_DIR: dir,
    });
    expect(long.stdout).toContain('{"heavy-use":{"params":{"minLitersPerBucket":150}}}');
  });

  it('names the right form when the assignment is wrong, and the bad field when the value is', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const noField = await careflow(['backtest', ...window, '--set', 'heavy-use=150'], {
      CAREFLOW_DATA_DIR: dir,
    });
    expect(noField.code).toBe(2);
    expect(noField.stderr).toContain('"heavy-use=150" is not <rule>.<field>=<value>');
    expect(noField.stderr).toContain('--set heavy-use.minLitersPerBucket=150');
    const badValue = await careflow(['backtest', ...window, '--set', 'heavy-use.minLitersPerBucket=-1'], {
      CAREFLOW_DATA_DIR: dir,
    });
    expect(badValue.code).toBe(1);
    expect(badValue.stderr).toContain('minLitersPerBucket');
    noTrace(noField.stderr + badValue.stderr);
  });
});
