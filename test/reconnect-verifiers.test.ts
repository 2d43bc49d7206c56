import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashSecret } from '../core/secrets.ts';
import { openStore } from '../core/store/store.ts';
import { connectClient, seedRegistry, tempDataDir, testRegistry } from './harness.ts';
import { rawConnect } from './raw-connect.ts';
import { spawnService, type ServiceProcess } from './service-process.ts';

/**
 * Issue 15, reconnect storms: a device that proved its secret once reconnects after a restart of the service
 * without a scrypt check (keyed verifier in the store, key in the data directory), a changed secret
 * invalidates the verifier, and wrong secrets are still checked with scrypt and throttled.
 */
const ADMIN = 'process-admin-token-0123456789';
const running: ServiceProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(dataDir: string): Promise<ServiceProcess> {
  const svc = await spawnService(dataDir);
  running.push(svc);
  return svc;
}

async function stop(svc: ServiceProcess): Promise<void> {
  running.splice(running.indexOf(svc), 1);
  expect(await svc.stop()).toBe(0);
}

async function checks(svc: ServiceProcess): Promise<{ scrypt: number; fast: number }> {
  const res = await fetch(`http://127.0.0.1:${svc.httpPort}/metrics`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  const text = await res.text();
  const value = (sample: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(sample + ' '))
        ?.split(' ')
        .at(-1),
    );
  return {
    scrypt: value('careflow_secret_checks_total{kind="device"}'),
    fast: value('careflow_secret_fast_checks_total'),
  };
}

/** Connects with a real MQTT client and disconnects again. */
async function connectOnce(svc: ServiceProcess, id: string, secret: string): Promise<void> {
  const client = await connectClient(`mqtt://127.0.0.1:${svc.mqttPort}`, id, secret);
  await client.endAsync();
}

const DEVICES: [string, string][] = [
  ['m-g1-1', 'secret-m-g1-1'],
  ['m-g2-2', 'secret-m-g2-2'],
  ['w-g1', 'secret-w-g1'],
];

describe('reconnect after a restart', () => {
  it('devices that connected before reconnect without scrypt; wrong secrets still pay and are throttled', async () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    await seedRegistry(dataDir, testRegistry(3));

    const first = await start(dataDir);
    for (const [id, secret] of DEVICES) await connectOnce(first, id, secret);
    expect(await checks(first)).toEqual({ scrypt: 3, fast: 0 });
    await stop(first);

    const keyFile = join(dataDir, 'verifier-key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const store = openStore({ path: join(dataDir, 'careflow.db') });
    expect(store.secretVerifiers.count()).toBe(3);
    store.close();

    const second = await start(dataDir);
    for (const [id, secret] of DEVICES) await connectOnce(second, id, secret);
    expect(await checks(second)).toEqual({ scrypt: 0, fast: 3 });

    // A meter that never connected before is checked with scrypt, as before.
    await connectOnce(second, 'm-g1-2', 'secret-m-g1-2');
    expect((await checks(second)).scrypt).toBe(1);

    // Wrong secrets for a device with a verifier: each one checked with scrypt until the id's backoff starts
    // (5 free failures by default), the rest refused without a check.
    const wrong = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        rawConnect({
          port: second.mqttPort,
          clientId: `m-g1-1-x${i}`,
          username: 'm-g1-1',
          password: `wrong-${i}`,
          localAddress: '127.0.0.7',
        }),
      ),
    );
    expect(wrong.every((r) => r.returnCode === 4 || r.returnCode === 3)).toBe(true);
    expect(wrong.filter((r) => r.returnCode === 4)).toHaveLength(5);
    expect((await checks(second)).scrypt).toBe(1 + 5);
    // The owner of the id under attack still gets in with its verifier, without a check.
    await connectOnce(second, 'm-g1-1', 'secret-m-g1-1');
    expect(await checks(second)).toEqual({ scrypt: 6, fast: 4 });
  });

  it('a changed secret invalidates the verifier; a lost key file only costs one scrypt per device', async () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    await seedRegistry(dataDir, testRegistry(3));
    const first = await start(dataDir);
    await connectOnce(first, 'm-g1-1', 'secret-m-g1-1');
    await connectOnce(first, 'm-g1-3', 'secret-m-g1-3');
    await stop(first);

    // The meter of h-g1-1 is replaced: same id, a new secret hash in the registry.
    const store = openStore({ path: join(dataDir, 'careflow.db') });
    store.registry.upsertMeter({
      id: 'm-g1-1',
      householdId: 'h-g1-1',
      secretHash: await hashSecret('a-new-secret-0001'),
    });
    store.close();

    const second = await start(dataDir);
    const old = await rawConnect({
      port: second.mqttPort,
      clientId: 'm-g1-1',
      username: 'm-g1-1',
      password: 'secret-m-g1-1',
    });
    expect(old.returnCode).toBe(4);
    expect(await checks(second)).toEqual({ scrypt: 1, fast: 0 });
    await connectOnce(second, 'm-g1-1', 'a-new-secret-0001');
    expect(await checks(second)).toEqual({ scrypt: 2, fast: 0 });
    await connectOnce(second, 'm-g1-1', 'a-new-secret-0001');
    await connectOnce(second, 'm-g1-3', 'secret-m-g1-3');
    expect(await checks(second)).toEqual({ scrypt: 2, fast: 2 });
    await stop(second);

    // Without the key file (a database copied elsewhere, or the key deleted to revoke every verifier) no
    // verifier matches: each device is checked with scrypt once, then has a verifier under the new key.
    rmSync(join(dataDir, 'verifier-key'));
    const third = await start(dataDir);
    expect(existsSync(join(dataDir, 'verifier-key'))).toBe(true);
    await connectOnce(third, 'm-g1-3', 'secret-m-g1-3');
    await connectOnce(third, 'm-g1-3', 'secret-m-g1-3');
    expect(await checks(third)).toEqual({ scrypt: 1, fast: 1 });
  });
});
