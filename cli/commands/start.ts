import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../core/config.ts';
import { startCareflow } from '../../app/start-careflow.ts';
import type { Command } from './command.ts';

export const startCommand: Command = {
  name: 'start',
  usage: 'start',
  summary: 'Run the service (MQTT broker, detectors, notifier, HTTP API)',
  help: `Settings come from CAREFLOW_* environment variables and the JSON file named by CAREFLOW_CONFIG (see the
README's configuration table), e.g. CAREFLOW_HTTP_PORT=8080 CAREFLOW_DATA_DIR=/var/lib/careflow careflow start.
Stops cleanly on SIGINT or SIGTERM. Exits with 1 and one line naming the problem when the configuration is
invalid or a port it must listen on is taken.`,
  async run(args) {
    parseArgs({ args, options: {} }); // no options: anything else is refused with a hint
    const config = loadConfig(process.env);
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
