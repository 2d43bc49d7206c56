import { DEFAULT_RULES } from '../detectors/rules/default-rules.ts';
import type { Rule } from '../detectors/rules/index.ts';
import { householdMonths, noiseReport, type NoiseAlert } from '../notifier/alert-noise.ts';
import { type BuiltHousehold, buildHousehold } from '../simulators/build-household.ts';
import { MINUTE_MS } from '../simulators/local-day.ts';
import { mapLimited } from '../simulators/map-limited.ts';
import { startFleet, type Fleet } from '../simulators/meter-fleet.ts';
import { generatePopulation, populationRegistry } from '../simulators/population.ts';
import type { ScenarioMix } from '../simulators/scenario-mix.ts';
import { gridWorkersOf } from './replay-registry.ts';
import type { SimulationApi } from './simulate-api.ts';
import { type AlertsFile, type GroundTruthFile, type RaisedAlert, writeRun } from './simulate-results.ts';
import { type SimulationTarget, connectRemoteTarget, startEmbeddedTarget } from './simulate-target.ts';
import { startWorkers, type SimulatedWorkers } from './simulate-workers.ts';

/**
 * `careflow simulate`: a population drawn from a scenario mix runs as real MQTT meters against careflow
 * (embedded, or a running service on a manual clock) in simulated time, the service's clock and the meters
 * moving in lockstep; simulated grid workers receive and visit the alerts. Writes the ground truth and the
 * raised alerts to `outDir` for `careflow score`.
 */
export type TargetChoice =
  | { kind: 'embedded'; dataDir?: string }
  | { kind: 'remote'; mqttUrl: string; httpUrl: string; token: string };

export interface SimulateOptions {
  mix: ScenarioMix;
  households?: number;
  days?: number;
  seed?: number;
  target: TargetChoice;
  outDir: string;
  /** Simulated minutes per lockstep step; default 15. */
  stepMinutes?: number;
  /** Minutes after which the simulated worker closes a welfare alert; 0: never. Default 120. */
  respondAfterMinutes?: number;
  /** Meters connected at once before the fleet is pooled; default 5,000. */
  maxConnections?: number;
  /** The rule set the ground truth is computed for; default the default rules. */
  rules?: Rule[];
  progress?: (p: SimulationProgress) => void;
  /** Stops the run (Ctrl-C): everything started is stopped and nothing is written. */
  signal?: AbortSignal;
}

export interface SimulationProgress {
  done: number;
  total: number;
  now: number;
  readings: number;
  alerts: number;
  elapsedMs: number;
}

export async function runSimulation(
  opts: SimulateOptions,
): Promise<{ truth: GroundTruthFile; alerts: AlertsFile }> {
  const started = Date.now();
  const rules = opts.rules ?? DEFAULT_RULES;
  const pop = generatePopulation(opts.mix, { households: opts.households, days: opts.days, seed: opts.seed });
  const registry = populationRegistry(pop);
  const built = pop.households.map((h) => buildHousehold(h, pop, { rules }));
  const target: SimulationTarget =
    opts.target.kind === 'embedded'
      ? await startEmbeddedTarget({ registry, start: pop.start, dataDir: opts.target.dataDir })
      : await connectRemoteTarget({
          ...opts.target,
          start: pop.start,
          someHouseholdId: pop.households[0]!.id,
        });
  let now = pop.start;
  let workers: SimulatedWorkers | undefined;
  let fleet: Fleet | undefined;
  try {
    const respondAfterMinutes = opts.respondAfterMinutes ?? 120;
    workers = await startWorkers({
      mqttUrl: target.mqttUrl,
      registry,
      api: target.api,
      respondAfterMinutes,
      welfareRules: new Set(rules.filter((r) => r.audience === 'welfare').map((r) => r.id)),
      expectations: new Map(built.map((b) => [b.household.id, b.expectations])),
      now: () => now,
    });
    fleet = await startFleet({
      url: target.mqttUrl,
      meters: built.map((b) => ({
        meterId: b.household.meterId,
        secret: b.household.secret,
        meter: b.transmitter,
        transient: b.household.meterMode === 'daily-batch',
      })),
      maxConnections: opts.maxConnections,
    });
    const marks = awayMarks(built);
    const away = { api: 0, registry: 0, notApplied: 0 };
    const step = (opts.stepMinutes ?? 15) * MINUTE_MS;
    let readings = 0;
    let messages = 0;
    const total = Math.ceil((pop.end - pop.start) / step);
    for (let i = 1; i <= total; i++) {
      if (opts.signal?.aborted) throw new Error('the simulation was interrupted');
      now = Math.min(pop.start + i * step, pop.end);
      await target.advanceTo(now);
      while (marks.length > 0 && marks[0]!.at <= now) {
        const m = marks.shift()!;
        const how = await target.markAway(m.householdId, m.until, m.reason);
        away[how === 'not-applied' ? 'notApplied' : how]++;
      }
      const sent = await fleet.publishUntil(now);
      readings += sent.published;
      messages += sent.messages;
      await workers.visit(now);
      opts.progress?.({
        done: i,
        total,
        now,
        readings,
        alerts: workers.received.size,
        elapsedMs: Date.now() - started,
      });
    }
    await target.drain();
    await workers.visit(Infinity);
    const { alerts, noiseAlerts } = await collectAlerts(target.api, built);
    const gridWorkers = gridWorkersOf(registry);
    const noise = noiseReport(
      noiseAlerts,
      (id) => gridWorkers.has(id),
      pop.households.length,
      householdMonths(pop.households.length, pop.start, pop.end),
    );
    const usage = await collectUsage(target.api, built, pop.end);
    const meterErrors: Record<string, number> = {};
    for (const e of fleet.errors)
      meterErrors[e.code ?? 'unparsed'] = (meterErrors[e.code ?? 'unparsed'] ?? 0) + 1;
    const truth: GroundTruthFile = {
      version: 1,
      run: {
        mix: pop.mix,
        seed: pop.seed,
        households: pop.households.length,
        days: pop.days,
        start: pop.start,
        end: pop.end,
        timezone: pop.timezone,
        bucketMinutes: 60,
        target: target.kind,
        rules: rules as unknown as Record<string, unknown>[],
        readings,
        messages,
        durationMs: Date.now() - started,
        away,
        meterErrors,
        respondAfterMinutes,
      },
      households: built.map((b) => ({
        id: b.household.id,
        grid: b.household.grid,
        profile: b.household.profile,
        meterMode: b.household.meterMode,
        seed: b.household.seed,
        scenarios: b.household.scenarios,
        expectations: b.expectations,
        usage: usage.get(b.household.id) ?? [],
      })),
    };
    const file: AlertsFile = { version: 1, alerts, noise: noise as unknown as Record<string, unknown> };
    writeRun(opts.outDir, truth, file);
    return { truth, alerts: file };
  } finally {
    await fleet?.stop({ force: true });
    await workers?.stop();
    await target.stop();
  }
}

/** When each marked-away scenario's household is marked (an hour before it leaves) and until when. */
function awayMarks(built: BuiltHousehold[]) {
  return built
    .flatMap((b) =>
      b.household.scenarios.flatMap((s) =>
        s.type === 'marked-away'
          ? [
              {
                at: s.start - 60 * MINUTE_MS,
                householdId: b.household.id,
                until: s.start + s.durationHours * 3_600_000,
                reason: s.reason,
              },
            ]
          : [],
      ),
    )
    .sort((a, b) => a.at - b.at);
}

/** Usage around each expected alert: 24 h before it became observable (or began) to 4 h after. */
async function collectUsage(api: SimulationApi, built: BuiltHousehold[], end: number) {
  const out = new Map<string, ({ from: number; liters: (number | null)[] } | null)[]>();
  for (const b of built) {
    const list: ({ from: number; liters: (number | null)[] } | null)[] = [];
    for (const e of b.expectations) {
      if (e.expect !== 'alert') {
        list.push(null);
        continue;
      }
      const at = e.observableAt ?? Math.min(e.from + 24 * 3_600_000, end);
      const from = Math.max(at - 24 * 3_600_000, e.from - 3 * 3_600_000);
      const buckets = await api.usage(b.household.id, from, Math.min(at + 4 * 3_600_000, end));
      list.push({ from: buckets[0]?.start ?? from, liters: buckets.map((x) => x.liters) });
    }
    out.set(b.household.id, list);
  }
  return out;
}

/** Every alert of every household, with the service-clock time it was opened (from its timeline). */
async function collectAlerts(
  api: SimulationApi,
  built: BuiltHousehold[],
): Promise<{ alerts: RaisedAlert[]; noiseAlerts: NoiseAlert[] }> {
  const noiseAlerts: NoiseAlert[] = [];
  const perHousehold = await mapLimited(built, 8, async (b) => {
    const out: RaisedAlert[] = [];
    for (const a of await api.alertsOf(b.household.id)) {
      const timeline = await api.timeline(a.id);
      noiseAlerts.push({ householdId: a.householdId, ruleId: a.ruleId, audience: a.audience, timeline });
      const opened = timeline.find((t) => t.kind === 'opened');
      out.push({
        id: a.id,
        householdId: a.householdId,
        ruleId: a.ruleId,
        audience: a.audience,
        severity: a.severity,
        state: a.state,
        openedAt: a.openedAt,
        notifiedAt: opened?.at ?? null,
        resolvedAt: a.resolvedAt,
        resolvedBy: a.resolvedBy,
        outcome: a.outcome,
        evidence: {
          windowStart: a.evidence.windowStart,
          windowEnd: a.evidence.windowEnd,
          ...(a.evidence.buckets ? { buckets: a.evidence.buckets.slice(-24) } : {}),
          ...(a.evidence.totalLiters !== undefined ? { totalLiters: a.evidence.totalLiters } : {}),
        },
      });
    }
    return out;
  });
  return { alerts: perHousehold.flat(), noiseAlerts };
}
