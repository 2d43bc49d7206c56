import mqtt, { type MqttClient } from 'mqtt';
import type { Outcome, WorkerAlertMessage, WorkerGroupedMessage } from '../core/alerts.ts';
import { TOPICS } from '../core/readings.ts';
import type { RegistryInput } from '../core/registry.ts';
import { attribute, visitOutcome } from '../simulators/alert-matching.ts';
import type { Expectation } from '../simulators/ground-truth.ts';
import type { SimulationApi } from './simulate-api.ts';

/**
 * The simulated grid workers: one real MQTT client per worker of the registry, receiving alerts on their
 * own topic like the worker app. Each welfare alert is visited `respondAfterMinutes` (simulated) after it
 * was detected and closed through the API with the outcome the ground truth implies (a fall: resident-helped;
 * nothing wrong: false-alarm), as a grid worker would. Closing matters: a welfare alert left open never
 * fires again, so without visits the false-alarm count would be too low.
 */
export interface SimulatedWorkers {
  /** Alerts received (opened), by id. */
  readonly received: ReadonlyMap<string, { householdId: string; ruleId: string; at: number }>;
  /** Closes the visits due by `now`. */
  visit(now: number): Promise<number>;
  stop(): Promise<void>;
}

export interface WorkerOptions {
  mqttUrl: string;
  registry: RegistryInput;
  api: SimulationApi;
  /** 0: nobody visits. */
  respondAfterMinutes: number;
  /** Rule ids whose alerts are visits (the welfare audience). */
  welfareRules: ReadonlySet<string>;
  expectations: ReadonlyMap<string, readonly Expectation[]>;
  /** The simulated clock, read when a message arrives. */
  now(): number;
}

export async function startWorkers(opts: WorkerOptions): Promise<SimulatedWorkers> {
  const received = new Map<string, { householdId: string; ruleId: string; at: number }>();
  const due: { at: number; alertId: string; outcome: Outcome }[] = [];
  const clients: MqttClient[] = [];
  try {
    for (const w of opts.registry.workers ?? []) {
      const client = await mqtt.connectAsync(opts.mqttUrl, {
        clientId: `sim-${w.id}`,
        username: w.id,
        password: w.secret,
        clean: true,
        reconnectPeriod: 1000,
      });
      clients.push(client);
      const onAlert = (m: WorkerAlertMessage) => {
        if (m.event !== 'opened' || received.has(m.alertId)) return;
        const at = opts.now();
        received.set(m.alertId, { householdId: m.householdId, ruleId: m.ruleId, at });
        if (opts.respondAfterMinutes <= 0 || !opts.welfareRules.has(m.ruleId)) return;
        const expectations = opts.expectations.get(m.householdId) ?? [];
        const openedAt = Date.parse(m.openedAt);
        const outcome = visitOutcome(attribute({ ruleId: m.ruleId, openedAt }, expectations), expectations);
        // Visit time from the detection's own time, so that runs with the same seed close alerts alike.
        due.push({ at: openedAt + opts.respondAfterMinutes * 60_000, alertId: m.alertId, outcome });
      };
      client.on('message', (_topic, payload) => {
        let m: WorkerAlertMessage | WorkerGroupedMessage;
        try {
          m = JSON.parse(payload.toString('utf8')) as WorkerAlertMessage | WorkerGroupedMessage;
        } catch {
          return;
        }
        // A grouped message holds several new alerts: each is handled as if it had come alone.
        if (m.event === 'grouped') m.alerts.forEach(onAlert);
        else onAlert(m);
      });
      await client.subscribeAsync(TOPICS.workerAlerts(w.id), { qos: 1 });
    }
  } catch (err) {
    await Promise.allSettled(clients.map((c) => c.endAsync(true)));
    throw err;
  }
  return {
    received,
    async visit(now) {
      due.sort((a, b) => a.at - b.at || a.alertId.localeCompare(b.alertId));
      let closed = 0;
      while (due.length > 0 && due[0]!.at <= now) {
        const v = due.shift()!;
        if (await opts.api.resolve(v.alertId, v.outcome, 'simulated grid worker visit')) closed++;
      }
      return closed;
    },
    async stop() {
      await Promise.allSettled(clients.map((c) => c.endAsync(true)));
    },
  };
}
