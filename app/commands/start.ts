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
    process.stderr.write(
      `careflow is running: MQTT on port ${cf.mqttPort}, HTTP on port ${cf.httpPort}, data in ${config.dataDir}\n` +
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
    await cf.stop();
    return 0;
  },
};
