import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../core/config.ts';
import { importRegistry, type ImportReport } from '../../core/registry-import.ts';
import { openStore } from '../../core/store/store.ts';
import { openPgPool } from '../../core/postgres.ts';
import { importRegistryShared } from '../../registry/shared-import.ts';
import { writeMosquittoFiles } from '../../broker/mosquitto-files.ts';
import type { Command } from './command.ts';
import { etaText } from '../../core/eta.ts';

export const importCommand: Command = {
  name: 'import',
  usage: 'import <file.json> [--mosquitto-dir dir | --cluster]',
  summary: 'Load or update the registry (streets … meters) into the store in CAREFLOW_DATA_DIR',
  help: `The file's shape is in the README (Registry file). Import is an idempotent upsert, validated as a whole
before anything is written; it may run while the service runs (same CAREFLOW_DATA_DIR).
Example: careflow import examples/community.json
--mosquitto-dir dir   also write Mosquitto 2's password and ACL files (dir/passwords, dir/acl) for the
                      attached-broker mode (mqtt.url): every meter and worker of the registry, and careflow's own
                      login (CAREFLOW_MQTT_USERNAME / CAREFLOW_MQTT_PASSWORD)
--cluster             import into the cluster's shared PostgreSQL store (cluster.postgresUrl, CAREFLOW_POSTGRES_URL)
                      instead, once for every worker: each worker pulls the new registry within
                      cluster.registryPollMs (the same validation and upsert as the local import)`,
  async run(args) {
    const { positionals, values } = parseArgs({
      args,
      allowPositionals: true,
      options: { 'mosquitto-dir': { type: 'string' }, cluster: { type: 'boolean' } },
    });
    const file = positionals[0];
    if (!file) {
      process.stderr.write(
        'careflow import: name the registry file, e.g. careflow import examples/community.json\n',
      );
      return 2;
    }
    let input: unknown;
    try {
      input = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      process.stderr.write(`careflow import: cannot read ${file} as JSON: ${(err as Error).message}\n`);
      return 1;
    }
    const config = loadConfig(process.env);
    const tty = process.stderr.isTTY;
    const started = Date.now();
    const onProgress = (done: number, total: number) => {
      if (tty)
        process.stderr.write(
          `\rimporting… ${done}/${total}, ${etaText(done, total, Date.now() - started)}\x1b[K`,
        );
    };
    if (values.cluster) {
      if (values['mosquitto-dir']) {
        process.stderr.write(
          'careflow import: --mosquitto-dir is for an attached Mosquitto; a cluster checks logins through RabbitMQ\n',
        );
        return 2;
      }
      if (!config.cluster.postgresUrl) {
        process.stderr.write(
          'careflow import --cluster: set cluster.postgresUrl (CAREFLOW_POSTGRES_URL) to the shared PostgreSQL store\n',
        );
        return 2;
      }
      const pool = openPgPool(config.cluster.postgresUrl, { max: 2 });
      try {
        const report = await importRegistryShared(pool, input, { onProgress });
        if (tty) process.stderr.write('\n');
        process.stdout.write(
          `${summary(report)}; shared registry version ${report.version} (workers pull it within ` +
            `${config.cluster.registryPollMs / 1000} s)\n`,
        );
        return 0;
      } finally {
        await pool.end();
      }
    }
    const store = openStore({
      path: join(config.dataDir, 'careflow.db'),
      synchronous: config.store.synchronous,
    });
    try {
      const report = await importRegistry(store, input, { onProgress });
      if (tty) process.stderr.write('\n');
      process.stdout.write(`${summary(report)}\n`);
      const dir = values['mosquitto-dir'];
      if (dir) {
        const written = writeMosquittoFiles(dir, {
          devices: store.registry.deviceIds(),
          secrets: secretsOf(input),
          ...(config.mqtt.username && config.mqtt.password
            ? { careflow: { username: config.mqtt.username, password: config.mqtt.password } }
            : {}),
        });
        process.stdout.write(
          `wrote ${join(dir, 'passwords')} (${written.users} users) and ${join(dir, 'acl')} (${written.aclUsers} users); ` +
            'send Mosquitto SIGHUP to reload them\n',
        );
      }
      return 0;
    } finally {
      store.close();
    }
  },
};

function summary(report: ImportReport): string {
  return (
    `imported ${report.streets} streets, ${report.communities} communities, ${report.grids} grids, ` +
    `${report.workers} workers, ${report.households} households, ${report.meters} meters ` +
    // The organisation's other levels, only when the file has them (output as before otherwise).
    (report.districts + report.buildings + report.units + report.family > 0
      ? `(and ${report.districts} districts, ${report.buildings} buildings, ${report.units} units, ` +
        `${report.family} family contacts) `
      : '') +
    `in ${(report.durationMs / 1000).toFixed(1)} s`
  );
}

/** Device secrets of a registry file (meters and workers with a `secret`), by id. */
function secretsOf(input: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const file = input as { meters?: unknown; workers?: unknown };
  for (const list of [file.meters, file.workers]) {
    if (!Array.isArray(list)) continue;
    for (const d of list as { id?: unknown; secret?: unknown }[])
      if (typeof d.id === 'string' && typeof d.secret === 'string') out.set(d.id, d.secret);
  }
  return out;
}
