import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../core/config.ts';
import { startCareflow } from '../../app/start-careflow.ts';
import type { Command } from './command.ts';
import type { Config } from '../../core/config.ts';

export const startCommand: Command = {
  name: 'start',
  usage: 'start [--cluster]',
  summary: 'Run the service (MQTT broker, detectors, notifier, HTTP API)',
  help: `Settings come from CAREFLOW_* environment variables and the JSON file named by CAREFLOW_CONFIG (see the
README's configuration table), e.g. CAREFLOW_HTTP_PORT=8080 CAREFLOW_DATA_DIR=/var/lib/careflow careflow start.
Stops cleanly on SIGINT or SIGTERM. Exits with 1 and one line naming the problem when the configuration is
invalid or a port it must listen on is taken.

--cluster (preview) runs a cluster worker instead: it consumes RabbitMQ's partitioned readings queue
(CAREFLOW_AMQP_URL, CAREFLOW_CLUSTER_PARTITIONS, CAREFLOW_CLUSTER_PREFER) and commits to PostgreSQL
(CAREFLOW_POSTGRES_URL); see the README's "Cluster (preview)". When it loses RabbitMQ it starts again in the
same process once RabbitMQ answers (pausing 1 s, then up to 30 s, between tries).`,
  async run(args) {
    const { values } = parseArgs({ args, options: { cluster: { type: 'boolean' } } }); // others: refused
    const config = loadConfig(process.env);
    if (values.cluster) return runClusterWorker(config);
    const cf = await startCareflow(config).catch((err: unknown) => {
      // Start-up failed: what was started is stopped; should anything still hold the process, it ends anyway.
      setTimeout(() => process.exit(1), 2_000).unref();
      throw err;
    });
    const listeners = [
      config.mqtt.url
        ? `MQTT attached to the broker at ${config.mqtt.url.replace(/\/\/[^@/]*@/, '//***@')}`
        : null,
      cf.mqttPort ? `MQTT on port ${cf.mqttPort}` : null,
      cf.httpPort ? `HTTP on port ${cf.httpPort}` : null,
      cf.mqttTlsPort ? `MQTT/TLS on port ${cf.mqttTlsPort}` : null,
      cf.httpsPort ? `HTTPS on port ${cf.httpsPort}` : null,
    ].filter((l) => l !== null);
    // SIGHUP re-reads the TLS certificate and key (they are also reloaded when the files change). Listening
    // before saying "running": whoever waits for that line may send the signal at once.
    const reload = () => {
      if (!config.tls.certFile) return;
      const ok = cf.reloadTls();
      process.stderr.write(
        ok
          ? 'careflow: TLS certificate reloaded\n'
          : 'careflow: TLS certificate not reloaded (see the log)\n',
      );
    };
    process.on('SIGHUP', reload);
    process.stderr.write(
      `careflow is running: ${listeners.join(', ')}, data in ${config.dataDir}\n` +
        (config.adminToken ? '' : `admin token: see ${join(config.dataDir, 'admin-token')}\n`),
    );
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        process.stderr.write(`careflow: ${signal} received, stopping\n`);
        resolve();
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
    });
    process.off('SIGHUP', reload);
    await cf.stop();
    return 0;
  },
};

/** The first pause before a worker that lost RabbitMQ starts again; doubled after each failed try. */
const RESTART_MIN_MS = 1_000;
const RESTART_MAX_MS = 30_000;

/**
 * `careflow start --cluster`: one cluster worker, until SIGINT/SIGTERM (0). When it loses RabbitMQ (a broker
 * restart, a network cut) it stops everything it runs — its deliveries not yet acknowledged go back to their
 * queues, and other workers may take its partitions meanwhile — and starts again in the same process, with a
 * growing pause while RabbitMQ or PostgreSQL does not answer, restoring the partitions it takes from PostgreSQL as
 * any takeover does. A worker that cannot start the first time exits with 1 (its configuration or its servers are
 * wrong: the operator is told at once).
 */
async function runClusterWorker(config: Config): Promise<number> {
  const { startClusterWorkerService } = await import('../../app/start-cluster-worker.ts');
  const { createLogger } = await import('../../core/logger.ts');
  const logger = createLogger(config.logLevel, process.stderr);
  let stopping: ((signal: string) => void) | undefined;
  const signalled = new Promise<string>((resolve) => (stopping = resolve));
  const shutdown = (signal: string) => {
    process.stderr.write(`careflow: ${signal} received, stopping\n`);
    stopping?.(signal);
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  let running = await startClusterWorkerService(config, logger);
  let restarts = 0;
  for (;;) {
    process.stderr.write(
      `careflow cluster worker is running: ${config.cluster.partitions} partitions` +
        `${config.cluster.prefer ? ` (preferring ${config.cluster.prefer})` : ''}, HTTP on port ${running.httpPort}` +
        `${restarts > 0 ? ` (started again, ${restarts})` : ''}\n`,
    );
    const outcome = await Promise.race([signalled.then(() => null), running.lost.then((err: Error) => err)]);
    if (outcome !== null) process.stderr.write(`careflow: ${outcome.message}; starting again\n`);
    await running.stop().catch(() => {});
    if (outcome === null) return 0;
    let pause = RESTART_MIN_MS;
    for (;;) {
      const stop = await Promise.race([
        signalled.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), pause)),
      ]);
      if (stop) return 0;
      try {
        running = await startClusterWorkerService(config, logger);
        restarts++;
        break;
      } catch (err) {
        pause = Math.min(RESTART_MAX_MS, pause * 2);
        process.stderr.write(
          `careflow: could not start again (${err instanceof Error ? err.message : String(err)}); ` +
            `next try in ${Math.round(pause / 1000)} s\n`,
        );
      }
    }
  }
}
