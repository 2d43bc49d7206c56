import { LocalTime } from '../core/local-time.ts';
import type { RegistryInput } from '../core/registry.ts';
import { HouseholdModel } from '../simulators/household-model.ts';
import type { Profile } from '../simulators/household-profiles.ts';
import { startFleet, type Fleet } from '../simulators/meter-fleet.ts';
import { Scenario, type ScenarioInput } from '../simulators/scenarios.ts';
import { SimulatedMeter } from '../simulators/simulated-meter.ts';

export interface SimHousehold {
  id: string;
  grid: string;
  profile: Profile;
  seed: number;
  scenarios?: ScenarioInput[];
}

/** A registry for the given households: grids `g1..`, one worker `w-<grid>` each, one meter per household. */
export function registryFor(households: SimHousehold[], extraGrids: string[] = []): RegistryInput {
  const grids = [...new Set([...households.map((h) => h.grid), ...extraGrids])];
  return {
    streets: [{ code: 's1', name: 'Test Street' }],
    communities: [{ code: 'c1', street: 's1', name: 'Test Community' }],
    grids: grids.map((g) => ({ code: g, community: 'c1', name: `Grid ${g}` })),
    workers: grids.map((g) => ({ id: `w-${g}`, name: `Worker ${g}`, grids: [g], secret: `secret-w-${g}` })),
    households: households.map((h) => ({ id: h.id, grid: h.grid, address: `${h.grid} 小区 ${h.id}` })),
    meters: households.map((h) => ({ id: `m-${h.id}`, household: h.id, secret: `secret-m-${h.id}` })),
  };
}

/** Starts one real MQTT meter client per household, each metering its simulated household. */
export async function startSimulatedFleet(
  url: string,
  households: SimHousehold[],
  startAt: number,
  opts: { reportEveryMinutes?: number; localTime?: LocalTime } = {},
): Promise<Fleet> {
  const localTime = opts.localTime ?? new LocalTime('Asia/Shanghai', 60);
  return startFleet({
    url,
    meters: households.map((h) => ({
      meterId: `m-${h.id}`,
      secret: `secret-m-${h.id}`,
      meter: new SimulatedMeter({
        source: new HouseholdModel({
          profile: h.profile,
          seed: h.seed,
          localTime,
          scenarios: (h.scenarios ?? []).map((s) => Scenario.parse(s)),
        }),
        seed: h.seed,
        startAt,
        reportEveryMinutes: opts.reportEveryMinutes ?? 15,
      }),
    })),
  });
}
