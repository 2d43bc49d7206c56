import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDataDir, testRegistry } from './harness.ts';
import { SKIP_MOSQUITTO, startMosquitto, type Mosquitto } from './mosquitto.ts';

/**
 * The compose profile `mosquitto` without containers (no container engine runs here): the step of its
 * `mosquitto-files` service (`careflow import … --mosquitto-dir`) into a directory, then a real Mosquitto 2 with
 * the shipped deploy/mosquitto/mosquitto.conf, its container paths pointed at that directory.
 */
const BIN = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));
const root = tempDataDir();
let mosquitto: Mosquitto;

beforeAll(async () => {
  if (SKIP_MOSQUITTO) return;
  const auth = join(root, 'auth');
  writeFileSync(join(root, 'registry.json'), JSON.stringify(testRegistry(2)));
  await promisify(execFile)(
    process.execPath,
    [BIN, 'import', join(root, 'registry.json'), '--mosquitto-dir', auth],
    {
      env: {
        ...process.env,
        CAREFLOW_DATA_DIR: join(root, 'data'),
        CAREFLOW_MQTT_USERNAME: 'careflow',
        CAREFLOW_MQTT_PASSWORD: 'careflow-broker-secret',
      },
    },
  );
  const shipped = readFileSync(new URL('../deploy/mosquitto/mosquitto.conf', import.meta.url), 'utf8');
  mosquitto = await startMosquitto(auth, (port, work) =>
    [
      shipped
        .replace(/^listener 1883$/m, `listener ${port} 127.0.0.1`)
        .replaceAll('/mosquitto/auth/', `${auth}/`)
        .replace(/^persistence_location .*$/m, `persistence_location ${work}/`),
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      '',
    ].join('\n'),
  );
}, 60_000);

afterAll(async () => {
  await mosquitto?.dispose();
  rmSync(root, { recursive: true, force: true });
});

const login = (username: string, password: string) =>
  mqtt.connectAsync(mosquitto.url, { username, password, reconnectPeriod: 0, connectTimeout: 5_000 }).then(
    async (c) => (await c.endAsync(), 'connected'),
    () => 'refused',
  );

describe.skipIf(SKIP_MOSQUITTO)("the compose profile's Mosquitto", () => {
  it('lets in the registry meters and workers and careflow with their secrets, nobody else', async () => {
    expect(await login('m-g1-1', 'secret-m-g1-1')).toBe('connected');
    expect(await login('w-g2', 'secret-w-g2')).toBe('connected');
    expect(await login('careflow', 'careflow-broker-secret')).toBe('connected');
    expect(await login('m-g1-1', 'secret-m-g1-2')).toBe('refused');
    expect(await login('stranger', 'secret-m-g1-1')).toBe('refused');
  });
});
