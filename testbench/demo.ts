import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkerAlertMessage, WorkerGroupedMessage } from '../core/alerts.ts';
import { ManualClock } from '../core/clock.ts';
import { loadConfig } from '../core/config.ts';
import { LocalTime } from '../core/local-time.ts';
import { silentLogger } from '../core/logger.ts';
import { TOPICS } from '../core/readings.ts';
import { packageRoot } from '../core/package-root.ts';
import { RegistryFile } from '../core/registry.ts';
import { importRegistry } from '../core/registry-import.ts';
import { HouseholdModel } from '../simulators/household-model.ts';
import type { Profile } from '../simulators/household-profiles.ts';
import { startFleet } from '../simulators/meter-fleet.ts';
import { Scenario, type ScenarioInput } from '../simulators/scenarios.ts';
import { SimulatedMeter } from '../simulators/simulated-meter.ts';
import { runLockstep } from './lockstep.ts';
import { startCareflow } from '../app/start-careflow.ts';
import mqtt from 'mqtt';

const HOUR = 3_600_000;
const EXAMPLE = join(packageRoot(), 'examples', 'community.json');

/** Scenarios the demo plays, relative to the first simulated midnight (local time). */
function demoScenarios(day0: number, localDate: (ms: number) => string): Record<string, ScenarioInput[]> {
  return {
    'h-0002': [{ type: 'leak', start: day0 + 3 * HOUR, litersPerHour: 6 }],
    'h-0005': [
      { type: 'heavy-use', start: day0 + 24 * HOUR + 20 * HOUR, durationMinutes: 150, litersPerHour: 400 },
    ],
    'h-0007': [{ type: 'no-morning-water', day: localDate(day0 + 36 * HOUR) }],
    'h-0011': [{ type: 'low-use', start: day0 + 12 * HOUR, durationHours: 40 }],
    'h-0013': [{ type: 'silent', start: day0 + 30 * HOUR }],
  };
}

export interface DemoOptions {
  days: number;
  out: NodeJS.WritableStream;
}

/**
 * `careflow demo`: a temporary service on the example community; 30 simulated households (five with a
 * scenario) publish over real MQTT in accelerated time; real worker clients print each alert they receive.
 */
export async function runDemo(opts: DemoOptions): Promise<void> {
  const out = (line: string) => opts.out.write(line + '\n');
  const dataDir = mkdtempSync(join(tmpdir(), 'careflow-demo-'));
  const registry = RegistryFile.parse(JSON.parse(readFileSync(EXAMPLE, 'utf8')));
  const localTime = new LocalTime('Asia/Shanghai', 60);
  const day0 = Date.UTC(2026, 2, 1, 16); // 2026-03-02 00:00 Asia/Shanghai, a Monday
  const clock = new ManualClock(day0);
  const config = loadConfig(
    {},
    {
      dataDir,
      logLevel: 'silent',
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      store: { synchronous: 'NORMAL' },
      detectors: { tickIntervalMs: 5 * 60_000 },
    },
  );
  const started = Date.now();
  const cf = await startCareflow(config, { clock, logger: silentLogger });
  const workers: mqtt.MqttClient[] = [];
  let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;
  try {
    await importRegistry(cf.store, registry);
    const url = `mqtt://127.0.0.1:${cf.mqttPort}`;
    out(
      `careflow demo — ${registry.households.length} simulated households of ${registry.grids.length} grids, ${opts.days} days in accelerated time`,
    );
    out(`service: MQTT ${url}, HTTP http://127.0.0.1:${cf.httpPort}, data ${dataDir}`);
    out('');

    let received = 0;
    for (const w of registry.workers) {
      const client = await mqtt.connectAsync(url, {
        username: w.id,
        password: w.secret,
        clientId: `demo-${w.id}`,
        reconnectPeriod: 0,
      });
      client.on('message', (_topic, payload) => {
        const parsed = JSON.parse(payload.toString()) as WorkerAlertMessage | WorkerGroupedMessage;
        received++;
        if (parsed.event === 'grouped') {
          out(`[${localTime.format(clock.now())}] → ${w.name} (${w.id}) 合并 GROUPED · ${parsed.count}`);
          out(`    ${parsed.message['zh-CN']}`);
          out(`    ${parsed.message.en}`);
          return;
        }
        const m = parsed;
        const when = localTime.format(clock.now());
        const label =
          m.event === 'updated' && (m.escalation?.reminder ?? 0) > 0
            ? '提醒 REMINDER'
            : {
                opened: '新警报 NEW',
                updated: '更新 UPDATE',
                escalated: '升级 ESCALATED',
                resolved: '已关闭 CLOSED',
              }[m.event];
        out(`[${when}] → ${w.name} (${w.id}) ${label} · ${m.ruleId} · ${m.householdId} · ${m.severity}`);
        out(`    ${m.message['zh-CN']}`);
        out(`    ${m.message.en}`);
      });
      await client.subscribeAsync(TOPICS.workerAlerts(w.id), { qos: 1 });
      workers.push(client);
    }

    const scenarios = demoScenarios(day0, (ms) => localTime.format(ms).slice(0, 10));
    const profileOf = (h: (typeof registry.households)[number]): Profile =>
      h.livesAlone ? 'elderly-alone' : 'couple';
    fleet = await startFleet({
      url,
      meters: registry.meters.map((m, i) => {
        const h = registry.households.find((x) => x.id === m.household)!;
        const model = new HouseholdModel({
          profile: profileOf(h),
          seed: 1000 + i,
          localTime,
          scenarios: (scenarios[h.id] ?? []).map((s) => Scenario.parse(s)),
        });
        return {
          meterId: m.id,
          secret: m.secret,
          meter: new SimulatedMeter({ source: model, seed: 1000 + i, startAt: day0 }),
        };
      }),
    });
    for (const [hid, list] of Object.entries(scenarios)) {
      out(`scenario: ${hid} ${list.map((s) => s.type).join(', ')}`);
    }
    out('');

    const result = await runLockstep({
      clock,
      fleet,
      from: day0,
      to: day0 + opts.days * 24 * HOUR,
      stepMs: 15 * 60_000,
      afterStep: () => new Promise((r) => setTimeout(r, 2)),
    });
    const deadline = Date.now() + 3_000;
    while (cf.store.outbox.pendingCount() > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    const alerts = cf.store.alerts.list({ limit: 1000 });
    out('');
    out(
      `done: ${result.readings} readings over ${opts.days} simulated days in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
        `${alerts.length} alerts, ${received} messages delivered to grid workers`,
    );
    for (const a of [...alerts].reverse()) {
      out(
        `  ${a.ruleId.padEnd(17)} ${a.householdId}  grid ${a.gridCode}  opened ${localTime.format(a.openedAt)}  ${a.state}`,
      );
    }
  } finally {
    await fleet?.stop({ force: true });
    await Promise.all(workers.map((w) => w.endAsync()));
    await cf.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
