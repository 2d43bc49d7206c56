/**
 * The service under test of bench/security.bench.ts, in its own process (so that the attacking and
 * measuring clients do not share its event loop). Config overrides arrive as JSON in argv[2]; it answers
 * `{ ready, mqttPort, httpPort }`, then `cpu` requests with its CPU time and the longest event-loop delay since the last one, and stops on `stop`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startCareflow } from '../app/start-careflow.ts';
import { loadConfig, type ConfigInput } from '../core/config.ts';
import { silentLogger } from '../core/logger.ts';

const overrides = JSON.parse(process.argv[2] ?? '{}') as ConfigInput;
const cf = await startCareflow(loadConfig({}, overrides), { logger: silentLogger });
process.send?.({ ready: true, mqttPort: cf.mqttPort, httpPort: cf.httpPort, adminToken: cf.adminToken });
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
process.on('message', (m: string) => {
  if (m === 'cpu') {
    const u = process.cpuUsage();
    process.send?.({ cpuMs: (u.user + u.system) / 1000, maxLoopDelayMs: delay.max / 1e6 });
    delay.reset();
  } else if (m === 'stop') {
    void cf.stop().then(() => process.exit(0));
  }
});
