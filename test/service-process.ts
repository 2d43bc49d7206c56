import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/careflow.js', import.meta.url));

export interface ServiceProcess {
  proc: ChildProcess;
  mqttPort: number;
  httpPort: number;
  /** SIGKILL: no shutdown code runs. */
  kill(): Promise<void>;
  /** SIGTERM: orderly stop; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Runs `careflow start` as its own process (system clock) on ephemeral loopback ports. */
export async function spawnService(
  dataDir: string,
  env: Record<string, string> = {},
  startTimeoutMs = 20_000,
): Promise<ServiceProcess> {
  const proc = spawn(process.execPath, [BIN, 'start'], {
    env: {
      ...process.env,
      CAREFLOW_DATA_DIR: dataDir,
      CAREFLOW_MQTT_HOST: '127.0.0.1',
      CAREFLOW_MQTT_PORT: '0',
      CAREFLOW_HTTP_HOST: '127.0.0.1',
      CAREFLOW_HTTP_PORT: '0',
      CAREFLOW_ADMIN_TOKEN: 'process-admin-token-0123456789',
      CAREFLOW_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let stderr = '';
  const ports = await new Promise<{ mqtt: number; http: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start: ${stderr}`)), startTimeoutMs);
    proc.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // Embedded broker: its port; attached to an external broker (mqtt.url): 0.
      const m = /MQTT (?:on port (\d+)|attached to [^,]+), HTTP on port (\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({ mqtt: Number(m[1] ?? 0), http: Number(m[2]) });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code}: ${stderr}`));
    });
  });
  return {
    proc,
    mqttPort: ports.mqtt,
    httpPort: ports.http,
    async kill() {
      proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}
