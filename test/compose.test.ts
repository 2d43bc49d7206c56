import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * docker-compose.yml is validated by Compose itself (`docker compose config` or Debian's `docker-compose config`,
 * which need no container engine); CI installs docker-compose. No container runtime runs here, so the stack is
 * not brought up in the tests. Files the stack mounts must exist.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMPOSE = [['docker', 'compose'], ['docker-compose']].find(
  ([bin, ...args]) => spawnSync(bin!, [...args, 'version'], { stdio: 'ignore' }).status === 0,
);
const REQUIRED = process.env.CI === 'true';
if (!COMPOSE && !REQUIRED)
  console.warn('careflow: no docker compose here; docker-compose.yml is checked for its mounts only');

describe('docker-compose.yml', () => {
  it.skipIf(!COMPOSE && !REQUIRED)('is valid Compose, with every service and the mosquitto profile', () => {
    expect(COMPOSE, 'docker compose or docker-compose (CI installs docker-compose)').toBeDefined();
    const [bin, ...args] = COMPOSE!;
    const run = (extra: string[]) =>
      execFileSync(bin!, [...args, '--env-file', '.env.example', ...extra], { cwd: ROOT, encoding: 'utf8' });
    run(['config', '-q']);
    const services = run(['--profile', 'mosquitto', 'config', '--services']).trim().split('\n');
    for (const name of ['careflow', 'grafana', 'influxdb', 'metrics-key', 'prometheus', 'mosquitto'])
      expect(services).toContain(name);
    expect(run(['--profile', 'mosquitto', 'config'])).toMatch(
      /mosquitto:[\s\S]*profiles:\s*\n\s*- mosquitto/,
    );
  });

  it.skipIf(!COMPOSE && !REQUIRED)(
    "fills Mosquitto's auth volume with careflow import before Mosquitto starts, where its configuration reads it",
    () => {
      const [bin, ...args] = COMPOSE!;
      const config = execFileSync(
        bin!,
        [...args, '--env-file', '.env.example', '--profile', 'mosquitto', 'config'],
        {
          cwd: ROOT,
          encoding: 'utf8',
        },
      );
      const service = (name: string) =>
        new RegExp(`\\n  ${name}:\\n([\\s\\S]*?)(?=\\n  [a-z-]+:\\n|\\nvolumes:|$)`).exec(config)?.[1] ?? '';
      const files = service('mosquitto-files');
      const mosquitto = service('mosquitto');
      expect(files).toMatch(/careflow\.js import \/registry\.json --mosquitto-dir \/mosquitto-auth/);
      expect(files).toMatch(/mosquitto-auth:\/mosquitto-auth/);
      expect(files).toMatch(/careflow-data:\/data/);
      expect(mosquitto).toMatch(/mosquitto-files:\s*\n\s*condition: service_completed_successfully/);
      expect(mosquitto).toMatch(/mosquitto-auth:\/mosquitto\/auth:ro/);
      const conf = readFileSync(new URL('../deploy/mosquitto/mosquitto.conf', import.meta.url), 'utf8');
      expect(conf).toMatch(/^password_file \/mosquitto\/auth\/passwords$/m);
      expect(conf).toMatch(/^acl_file \/mosquitto\/auth\/acl$/m);
    },
  );

  it('mounts only files that exist, and commits no secret', () => {
    const text = readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8');
    const mounts = [...text.matchAll(/- (\.\/[^:\s]+):/g)].map((m) => m[1]!);
    expect(mounts.length).toBeGreaterThanOrEqual(4);
    for (const m of mounts) expect(existsSync(new URL(`../${m}`, import.meta.url)), m).toBe(true);
    // Secrets come from .env (ignored by git), each required with a message.
    for (const name of ['CAREFLOW_ADMIN_TOKEN', 'INFLUX_TOKEN', 'INFLUX_PASSWORD', 'GRAFANA_ADMIN_PASSWORD'])
      expect(text).toContain(`\${${name}:?set ${name} in .env}`);
    expect(readFileSync(new URL('../.gitignore', import.meta.url), 'utf8').split('\n')).toContain('.env');
    // Every dashboard's data source is provisioned with the uid it names.
    const sources = readFileSync(
      new URL('../deploy/grafana/provisioning/datasources/careflow.yml', import.meta.url),
      'utf8',
    );
    for (const file of ['operations.json', 'water.json']) {
      const dash = readFileSync(new URL(`../dashboards/grafana/${file}`, import.meta.url), 'utf8');
      for (const uid of new Set([...dash.matchAll(/"uid": "(careflow-[a-z]+)"/g)].map((m) => m[1]!)))
        if (uid !== 'careflow-operations' && uid !== 'careflow-water')
          expect(sources, uid).toContain(`uid: ${uid}`);
    }
  });
});
