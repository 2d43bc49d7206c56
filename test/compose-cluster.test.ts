import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RABBITMQ_PLUGINS } from './rabbitmq.ts';

/**
 * docker-compose.yml's `cluster` profile (RabbitMQ, PostgreSQL, the auth-backend careflow and three workers).
 * No container engine runs here, so the stack is never brought up by the tests: its structure is checked after
 * parsing the YAML with Python's `yaml` module — as resolved by Compose itself when it is installed (`config`,
 * which resolves anchors, merge keys and variables and needs no engine), else the file as written.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMPOSE = [['docker', 'compose'], ['docker-compose']].find(
  ([bin, ...args]) => spawnSync(bin!, [...args, 'version'], { stdio: 'ignore' }).status === 0,
);
const PYTHON_YAML = spawnSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' }).status === 0;
const REQUIRED = process.env.CI === 'true';
const CAN_PARSE = PYTHON_YAML;
if (!CAN_PARSE && !REQUIRED)
  console.warn("careflow: no YAML parser (Python's yaml module) here; the cluster profile is not checked");

interface Service {
  image?: string;
  profiles?: string[];
  command?: string[] | string;
  environment?: Record<string, string | number>;
  volumes?: (string | { source?: string; target?: string })[];
  ports?: (string | { published?: string | number; target?: number })[];
  networks?: Record<string, { ipv4_address?: string } | null> | string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: unknown;
}

/**
 * The whole file as JSON: Compose's resolved model (with `.env.example`; `config` prints YAML in both Compose 1 and
 * 2, and only Compose 2 offers JSON), or the file itself — turned into JSON by Python's `yaml` module.
 */
function model(): { services: Record<string, Service>; networks?: Record<string, unknown> } {
  let yaml: string;
  if (COMPOSE) {
    const [bin, ...args] = COMPOSE;
    yaml = execFileSync(bin!, [...args, '--env-file', '.env.example', '--profile', 'cluster', 'config'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
  } else yaml = readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8');
  const json = execFileSync(
    'python3',
    ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'],
    { cwd: ROOT, encoding: 'utf8', input: yaml },
  );
  return JSON.parse(json) as ReturnType<typeof model>;
}

const mountSources = (s: Service) =>
  (s.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[0]! : (v.source ?? '')));

describe.skipIf(!CAN_PARSE && !REQUIRED)("docker-compose.yml's cluster profile", () => {
  it('has RabbitMQ with the plugins, PostgreSQL, the auth backend and three workers, only in that profile', () => {
    const { services } = model();
    const cluster = [
      'rabbitmq',
      'postgres',
      'careflow-auth',
      ...[1, 2, 3].map((i) => `careflow-worker-${i}`),
    ];
    for (const name of cluster) {
      expect(services[name], name).toBeDefined();
      expect(services[name]!.profiles, name).toEqual(['cluster']);
    }
    // The default stack is unchanged: no default service belongs to the profile.
    expect(services.careflow?.profiles).toBeUndefined();
    expect(services.rabbitmq!.image).toMatch(/^rabbitmq:3\.(1[2-9]|[2-9]\d)/); // native MQTT
    const plugins = readFileSync(new URL('../deploy/rabbitmq/enabled_plugins', import.meta.url), 'utf8');
    expect(plugins.trim()).toBe(`[${RABBITMQ_PLUGINS.join(',')}].`);
    expect(
      services.rabbitmq!.volumes?.some((v) =>
        String(typeof v === 'string' ? v : v.target).includes('/etc/rabbitmq/enabled_plugins'),
      ),
    ).toBe(true);
    // (Every mounted ./file exists: compose.test.ts checks the whole file.)
  });

  it('splits the partitions between the workers, which wait for RabbitMQ and PostgreSQL', () => {
    const { services } = model();
    const workers = [1, 2, 3].map((i) => services[`careflow-worker-${i}`]!);
    const partitions = new Set(workers.map((w) => String(w.environment?.CAREFLOW_CLUSTER_PARTITIONS)));
    expect(partitions.size).toBe(1);
    const p = Number([...partitions][0]);
    const preferred = workers.flatMap((w) => {
      const [a, b] = String(w.environment?.CAREFLOW_CLUSTER_PREFER).split('-').map(Number) as [
        number,
        number?,
      ];
      return Array.from({ length: (b ?? a) - a + 1 }, (_, k) => a + k);
    });
    expect(preferred.sort((x, y) => x - y)).toEqual(Array.from({ length: p }, (_, i) => i));
    // The registry is imported once, into PostgreSQL; the workers and the auth backend follow it.
    const registry = services['cluster-registry']!;
    expect(registry.command).toEqual(['node', 'bin/careflow.js', 'import', '--cluster', '/registry.json']);
    expect(String(registry.environment?.CAREFLOW_POSTGRES_URL)).toMatch(
      /^postgres:\/\/careflow:.+@postgres:5432\/careflow$/,
    );
    const auth = services['careflow-auth']!;
    expect(auth.environment?.CAREFLOW_POSTGRES_URL).toBe(registry.environment?.CAREFLOW_POSTGRES_URL);
    expect((auth.depends_on as Record<string, { condition: string }>)['cluster-registry']?.condition).toBe(
      'service_completed_successfully',
    );
    for (const w of workers) {
      expect(w.command).toEqual(['node', 'bin/careflow.js', 'start', '--cluster']);
      expect(w.environment?.CAREFLOW_POSTGRES_URL).toBe(registry.environment?.CAREFLOW_POSTGRES_URL);
      expect(String(w.environment?.CAREFLOW_AMQP_URL)).toMatch(/^amqp:\/\/careflow:.+@rabbitmq:5672$/);
      expect(String(w.environment?.CAREFLOW_POSTGRES_URL)).toMatch(
        /^postgres:\/\/careflow:.+@postgres:5432\/careflow$/,
      );
      const deps = w.depends_on as Record<string, { condition: string }>;
      expect(deps.rabbitmq?.condition).toBe('service_healthy');
      expect(deps.postgres?.condition).toBe('service_healthy');
      expect(deps['cluster-registry']?.condition).toBe('service_completed_successfully');
    }
    // Each worker keeps its own data directory.
    const data = workers.map((w) => mountSources(w).find((m) => /^[a-z0-9][a-z0-9_-]*$/.test(m)));
    expect(data).not.toContain(undefined);
    expect(new Set(data).size).toBe(3);
  });

  it('lets only RabbitMQ call the auth backend, with the secret from .env', () => {
    const { services } = model();
    const rabbit = services.rabbitmq!;
    const address = (rabbit.networks as Record<string, { ipv4_address?: string }>).cluster?.ipv4_address;
    const auth = JSON.parse(
      readFileSync(new URL('../deploy/cluster/careflow-auth.json', import.meta.url), 'utf8'),
    ) as { mqtt: { rabbitmqHookSources: string[] } };
    expect(auth.mqtt.rabbitmqHookSources).toEqual([address]);
    expect(String(rabbit.command)).toMatch(
      /auth_http\.\$+\{r\}_path = http:\/\/rabbitmq:\$+\{CAREFLOW_RABBITMQ_HOOK_SECRET\}@careflow-auth:3000\/hooks\/rabbitmq\/\$+\{r\}/,
    );
    const conf = readFileSync(new URL('../deploy/rabbitmq/careflow.conf', import.meta.url), 'utf8');
    expect(conf).toMatch(/^mqtt\.allow_anonymous = false$/m);
    expect(conf).toMatch(/^auth_backends\.1 = internal$/m);
    expect(conf).toMatch(/^auth_cache\.cached_backend = http$/m);
    expect(conf).not.toMatch(/loopback_users|guest/);
    const text = readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8');
    for (const name of [
      'CAREFLOW_RABBITMQ_HOOK_SECRET',
      'CLUSTER_RABBITMQ_PASSWORD',
      'CLUSTER_POSTGRES_PASSWORD',
    ]) {
      expect(text).toContain(`\${${name}:?set ${name} in .env}`);
      expect(readFileSync(new URL('../.env.example', import.meta.url), 'utf8')).toMatch(
        new RegExp(`^${name}=`, 'm'),
      );
    }
  });
});
