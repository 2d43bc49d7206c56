import { loadConfig } from '../core/config.ts';
import type { Detection } from '../core/streams.ts';
import { rulesFromConfig } from '../detectors/start-detectors.ts';
import { RecordedReadings } from '../simulators/recorded-readings.ts';
import { replayDetections } from '../testbench/replay-detectors.ts';

/**
 * The households the cluster's failover test sends, and the alerts one embedded process raises for them. Every
 * meter sends a payload of `HOURS_PER_ROUND` hourly readings per round (its register, in litres); most households
 * use water by day only, and a few are scenarios with a known outcome:
 * - leaks: a constant 3 L/h on top of the household's use from the start (`continuous-flow` after 24 h);
 * - a fall: an elderly resident who stops drawing water at `FALL_AT_HOUR` (welfare rules);
 * - a silent meter: publishes nothing after round `SILENT_AFTER_ROUND` (`meter-silent` 6 h after its last payload).
 */
export const HOURS_PER_ROUND = 4;
/** 2026-01-05 00:00 in Asia/Shanghai (the default zone). */
export const T0 = Date.UTC(2026, 0, 4, 16);
const HOUR = 3_600_000;
const FALL_AT_HOUR = 14;
const SILENT_AFTER_ROUND = 2;

export interface ScenarioRoles {
  leaks: string[];
  fall: string;
  silent: string;
}

/** Picks the scenario meters among `meterIds` (spread over both grids, so over many partitions). */
export function scenarioRoles(meterIds: readonly string[]): ScenarioRoles {
  const at = (f: number) => meterIds[Math.floor(f * meterIds.length)]!;
  return { leaks: [at(0.003), at(0.25), at(0.777)], fall: at(0.5), silent: at(0.9) };
}

/** Litres a household draws in the hour starting at `hour` (hours since T0 = local midnight). */
function hourlyLiters(meterId: string, index: number, hour: number, roles: ScenarioRoles): number {
  const local = ((hour % 24) + 24) % 24;
  let liters = local < 6 || local === 23 ? 0 : local < 9 ? 25 + (index % 5) : 6 + (index % 3);
  if (meterId === roles.fall && hour >= FALL_AT_HOUR) liters = 0;
  if (roles.leaks.includes(meterId)) liters += 3;
  return liters;
}

/** The register at the start of hour `hour`. */
function register(meterId: string, index: number, hour: number, roles: ScenarioRoles): number {
  let total = 1_000 + index;
  for (let h = -1; h < hour; h++) total += hourlyLiters(meterId, index, h, roles);
  return total;
}

/** A first reading of every meter before the rounds (an hour before T0). */
export function firstReading(meterId: string, index: number, roles: ScenarioRoles) {
  return { ts: T0 - HOUR, totalLiters: register(meterId, index, -1, roles) };
}

/** The meter's payload of a round, or null when it sends none (the silent meter). */
export function roundReadings(
  meterId: string,
  index: number,
  round: number,
  roles: ScenarioRoles,
): { ts: number; totalLiters: number }[] | null {
  if (meterId === roles.silent && round > SILENT_AFTER_ROUND) return null;
  return Array.from({ length: HOURS_PER_ROUND }, (_, k) => {
    const hour = round * HOURS_PER_ROUND + k;
    return { ts: T0 + hour * HOUR, totalLiters: register(meterId, index, hour, roles) };
  });
}

/** An alert as the comparison sees it: household, rule and the hour its condition began. */
export const alertKey = (householdId: string, ruleId: string, openedAt: number) =>
  `${householdId}|${ruleId}|${new Date(Math.floor(openedAt / HOUR) * HOUR).toISOString()}`;

/**
 * The alerts one embedded process raises for what the meters sent: their readings through the real normaliser
 * and detector engine (testbench/replay-detectors.ts), each round's payloads arriving together at the round's
 * end, then the embedded notifier's lifecycle (one unresolved alert per household and rule: an `opened`
 * detection opens one unless one is open; a `cleared` one with auto-resolve closes it; a re-opened or
 * episode-joined detection opens nothing new).
 */
export function embeddedAlerts(
  sent: ReadonlyMap<string, { ts: number; totalLiters: number }[]>,
  householdOf: (meterId: string) => string,
  welfare: (householdId: string) => boolean,
): { keys: string[]; detections: Detection[] } {
  const config = loadConfig({}, {});
  const recording = new RecordedReadings('csv');
  let line = 2;
  for (const [meterId, list] of sent)
    for (const r of [...list].sort((a, b) => a.ts - b.ts)) recording.add(meterId, { ...r, line: line++ });
  const detections = replayDetections(recording, {
    rules: rulesFromConfig(config),
    timeZone: config.timezone,
    bucketMinutes: config.bucketMinutes,
    stepMinutes: HOURS_PER_ROUND * 60,
    welfare,
    householdOf,
    normalizer: {
      maxGapMs: config.ingest.maxGapMinutes * 60_000,
      maxFlowLitersPerHour: config.ingest.maxFlowLitersPerHour,
      resetNearZeroLiters: config.ingest.resetNearZeroLiters,
      rolloverLiters: config.ingest.rolloverLiters,
    },
  });
  const open = new Set<string>();
  const keys: string[] = [];
  for (const d of detections) {
    const id = `${d.householdId}|${d.ruleId}`;
    if (d.episode) continue;
    if (d.kind === 'opened' && !open.has(id)) {
      open.add(id);
      if (!d.reopen) keys.push(alertKey(d.householdId, d.ruleId, d.at));
    } else if (d.kind === 'cleared' && d.autoResolve) open.delete(id);
  }
  return { keys: keys.sort(), detections };
}
