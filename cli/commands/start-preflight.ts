import { loadConfig } from '../../core/config.ts';
import { assertPortFree } from '../../app/listen-ports.ts';

/**
 * What `careflow start` checks before the rest of careflow is even loaded: the configuration, and that its
 * ports are free, so a mistake is reported at once (the service checks again when it starts).
 */
export async function startPreflight(): Promise<void> {
  const config = loadConfig(process.env);
  if (!config.mqtt.url)
    await assertPortFree('MQTT', 'CAREFLOW_MQTT_PORT', config.mqtt.host, config.mqtt.port);
  await assertPortFree('HTTP', 'CAREFLOW_HTTP_PORT', config.http.host, config.http.port);
}
