import { join } from 'node:path';
import { loadConfig } from '../../core/config.ts';
import { startCareflow } from '../start-careflow.ts';
import type { Command } from './command.ts';

export const startCommand: Command = {
  name: 'start',
  usage: 'start',
  summary: 'Run the service (MQTT broker, detectors, notifier, HTTP API)',
  async run() {
    const config = loadConfig(process.env);
    const cf = await startCareflow(config);
    const listeners = [
      cf.mqttPort ? `MQTT on port ${cf.mqttPort}` : null,
      cf.httpPort ? `HTTP on port ${cf.httpPort}` : null,
      cf.mqttTlsPort ? `MQTT/TLS on port ${cf.mqttTlsPort}` : null,
      cf.httpsPort ? `HTTPS on port ${cf.httpsPort}` : null,
    ].filter((l) => l !== null);
    process.stderr.write(
      `careflow is running: ${listeners.join(', ')}, data in ${config.dataDir}\n` +
        (config.adminToken ? '' : `admin token: see ${join(config.dataDir, 'admin-token')}\n`),
    );
    // SIGHUP re-reads the TLS certificate and key (they are also reloaded when the files change).
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
