import { CareflowError, fieldIssues } from '../core/errors.ts';
import { LocalTime } from '../core/local-time.ts';
import type { RegistryInput } from '../core/registry.ts';
import type { Profile } from './household-profiles.ts';
import { DAY_MS, localMinuteToUtc, parseLocalDate } from './local-day.ts';
import type { MeterMode } from './meter-transmitter.ts';
import { Random, deriveSeed } from './random.ts';
import { Scenario, type ScenarioType } from './scenario-schema.ts';
import type {
  Between,
  ExplicitHousehold,
  ScenarioMix,
  ScenarioRecipe,
  ScenarioTemplate,
} from './scenario-mix.ts';

/**
 * A population drawn from a scenario mix: who the households are (profile, meter, seed), which scenario
 * each has (absolute times), and the registry (grids, one worker per grid, one meter per household) to
 * load into careflow. Deterministic: the same mix, size, days and seed give the same population.
 */
export interface SimHousehold {
  id: string;
  grid: string;
  meterId: string;
  secret: string;
  profile: Profile;
  meterMode: MeterMode;
  seed: number;
  scenarios: Scenario[];
}

export interface Population {
  mix: string;
  seed: number;
  days: number;
  /** First local midnight of the run, and the end (UTC ms). */
  start: number;
  end: number;
  timezone: string;
  resolutionLiters: number;
  households: SimHousehold[];
  /** Recipes that found fewer eligible households than their share asked for. */
  shortfalls: { type: ScenarioType; wanted: number; got: number }[];
}

export interface PopulationOptions {
  households?: number;
  days?: number;
  seed?: number;
}

/** Parameter ranges a recipe uses unless it gives its own. */
const DEFAULT_PARAMS: Partial<Record<ScenarioType, Record<string, Between>>> = {
  leak: { litersPerHour: [1, 30] },
  burst: { durationMinutes: [60, 360], litersPerHour: [600, 2400] },
  'heavy-use': { durationMinutes: [150, 360], litersPerHour: [120, 400] },
  'low-use': { durationHours: [30, 72] },
  illness: { durationHours: [30, 120], residualLitersPerDay: [0, 6] },
  'hospital-stay': { durationHours: [48, 240] },
  'marked-away': { durationHours: [48, 240] },
  'late-waking': { wakeHour: [9.5, 11.5] },
  guests: { days: [2, 7], count: [1, 4] },
  silent: { durationMinutes: [480, 2880] },
  glitch: { liters: 248_520 },
  duplicates: { durationHours: [6, 48] },
  'out-of-order': { durationHours: [6, 48] },
  garbage: { durationHours: [6, 48], everyMessages: [2, 6] },
};
const INTEGER_PARAMS = new Set(['days', 'count', 'everyMessages']);
/** Days a scenario of the type needs before the run ends to become observable (see ground-truth.ts). */
const TAIL_DAYS: Partial<Record<ScenarioType, number>> = {
  leak: 2,
  fall: 2,
  'low-use': 2,
  illness: 2,
  'hospital-stay': 2,
  'marked-away': 3,
  guests: 2,
};

export function generatePopulation(mix: ScenarioMix, opts: PopulationOptions = {}): Population {
  const total = opts.households ?? mix.households;
  const days = opts.days ?? mix.days;
  const seed = opts.seed ?? mix.seed;
  const localTime = new LocalTime(mix.timezone, 60);
  const day0 = parseLocalDate(mix.start);
  const start = localMinuteToUtc(localTime, day0, 0);
  const rng = new Random(deriveSeed(seed, 0x706f70));
  const ctx = { localTime, day0, days };

  const households: SimHousehold[] = [];
  const add = (profile: Profile, meterMode: MeterMode, scenarios: Scenario[], id?: string, own?: number) => {
    const n = households.length + 1;
    const hid = id ?? `h-${String(n).padStart(5, '0')}`;
    households.push({
      id: hid,
      grid: `sim-g${String(Math.floor((n - 1) / mix.householdsPerGrid) + 1).padStart(3, '0')}`,
      meterId: `m-${hid}`,
      secret: `sim-${hid}-${seed}`,
      profile,
      meterMode,
      seed: own ?? deriveSeed(seed, n),
      scenarios,
    });
  };
  mix.explicit
    .slice(0, total)
    .forEach((h, i) => add(h.profile, h.meter, explicitScenarios(h, i, ctx), h.id, h.seed));
  const generated = Math.max(0, total - households.length);
  const profiles = shuffle(allocate(mix.profiles as Record<Profile, number>, generated), rng);
  const meters = shuffle(allocate(mix.meters as Record<MeterMode, number>, generated), rng);
  for (let i = 0; i < generated; i++) add(profiles[i]!, meters[i]!, []);

  const shortfalls: Population['shortfalls'] = [];
  const pool = households.slice(households.length - generated);
  for (const recipe of mix.scenarios) {
    const wanted = Math.round(recipe.share * generated);
    const eligible = shuffle(
      pool.filter(
        (h) =>
          h.scenarios.length === 0 &&
          (!recipe.profiles || recipe.profiles.includes(h.profile)) &&
          (!recipe.meters || recipe.meters.includes(h.meterMode)),
      ),
      rng,
    );
    if (eligible.length < wanted) shortfalls.push({ type: recipe.type, wanted, got: eligible.length });
    for (const h of eligible.slice(0, wanted)) h.scenarios = [drawScenario(recipe, rng, ctx)];
  }
  return {
    mix: mix.name,
    seed,
    days,
    start,
    end: start + days * DAY_MS,
    timezone: mix.timezone,
    resolutionLiters: mix.resolutionLiters,
    households,
    shortfalls,
  };
}

/** The registry careflow needs for a population: one street and community, grids, a worker per grid. */
export function populationRegistry(pop: Population): RegistryInput {
  const grids = [...new Set(pop.households.map((h) => h.grid))];
  const awayUntil = new Date(pop.end + 365 * DAY_MS).toISOString();
  return {
    streets: [{ code: 'sim-s1', name: '模拟街道 Simulated Street' }],
    communities: [{ code: 'sim-c1', street: 'sim-s1', name: '模拟社区 Simulated Community' }],
    grids: grids.map((g) => ({ code: g, community: 'sim-c1', name: `网格 ${g}` })),
    workers: grids.map((g) => ({
      id: `w-${g}`,
      name: `Worker ${g}`,
      grids: [g],
      secret: workerSecret(g, pop.seed),
    })),
    households: pop.households.map((h) => ({
      id: h.id,
      grid: h.grid,
      address: `模拟小区 ${h.grid} ${h.id}`,
      livesAlone: h.profile === 'elderly-alone' || h.profile === 'night-shift',
      elderly: h.profile.startsWith('elderly'),
      // A flat known to be empty is registered as away (the away mode keeps welfare rules quiet for it).
      ...(h.profile === 'vacant' ? { awayUntil, notes: 'vacant flat' } : {}),
    })),
    meters: pop.households.map((h) => {
      const every = declaredReportEveryMinutes(h);
      return {
        id: h.meterId,
        household: h.id,
        secret: h.secret,
        ...(every ? { reportEveryMinutes: every } : {}),
      };
    }),
  };
}

/**
 * The interval the registry declares for a household's meter: a daily upload (the utility knows its
 * NB-IoT meters' schedule); meters that send as they read are left for careflow to learn.
 */
export function declaredReportEveryMinutes(h: Pick<SimHousehold, 'meterMode'>): number | null {
  return h.meterMode === 'daily-batch' ? 24 * 60 : null;
}

export function workerSecret(grid: string, seed: number): string {
  return `sim-worker-${grid}-${seed}`;
}

interface MixContext {
  localTime: LocalTime;
  day0: number;
  days: number;
}

function drawScenario(recipe: ScenarioRecipe, rng: Random, ctx: MixContext): Scenario {
  const tail = TAIL_DAYS[recipe.type] ?? 1;
  const [d0, d1] = range(recipe.startDay ?? [Math.min(1, ctx.days - 1), Math.max(0, ctx.days - tail)]);
  const day = ctx.day0 + rng.int(Math.round(d0), Math.max(Math.round(d0), Math.round(d1)));
  const [h0, h1] = range(recipe.startHour);
  const start = localMinuteToUtc(ctx.localTime, day, Math.round(rng.uniform(h0, h1) * 60));
  const params: Record<string, number> = {};
  for (const [key, value] of Object.entries({ ...DEFAULT_PARAMS[recipe.type], ...recipe.params })) {
    const v = rng.uniform(...range(value));
    params[key] = INTEGER_PARAMS.has(key) ? Math.round(v) : Math.round(v * 100) / 100;
  }
  const date = localDate(day);
  const raw: Record<string, unknown> = { type: recipe.type, ...params };
  switch (recipe.type) {
    case 'no-morning-water':
    case 'guests':
      raw.day = date;
      break;
    case 'late-waking': {
      const minutes = Math.round((params.wakeHour ?? 10) * 60);
      delete raw.wakeHour;
      raw.day = date;
      raw.wakeAt = `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
      break;
    }
    case 'meter-reset':
    case 'glitch':
      raw.at = start;
      break;
    case 'marked-away':
      raw.start = start;
      if (recipe.reason) raw.reason = recipe.reason;
      break;
    default:
      raw.start = start;
  }
  return parseScenario(raw, `scenarios[${recipe.type}]`);
}

function explicitScenarios(h: ExplicitHousehold, index: number, ctx: MixContext): Scenario[] {
  return h.scenarios.map((t, j) => {
    const raw: Record<string, unknown> = { ...t };
    for (const key of ['start', 'at'] as const) {
      const v = t[key];
      if (v && typeof v === 'object') {
        const [hh, mm] = v.at.split(':').map(Number);
        raw[key] = localMinuteToUtc(ctx.localTime, ctx.day0 + v.day, (hh ?? 0) * 60 + (mm ?? 0));
      }
    }
    if (typeof t.day === 'number') raw.day = localDate(ctx.day0 + t.day);
    return parseScenario(raw, `explicit.${index}.scenarios.${j}`);
  });
}

function parseScenario(raw: unknown, path: string): Scenario {
  const parsed = Scenario.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issues = fieldIssues(parsed.error.issues).map((i) => ({ ...i, path: `${path}.${i.path}` }));
  throw new CareflowError(
    'ERR_SCENARIO_INVALID',
    `invalid scenario: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
  );
}

function range(v: Between): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function localDate(dayNumber: number): string {
  return new Date(dayNumber * DAY_MS).toISOString().slice(0, 10);
}

/** Exact counts per key in proportion to the weights (largest remainder), as a list. */
function allocate<K extends string>(weights: Record<K, number>, n: number): K[] {
  const entries = (Object.entries(weights) as [K, number][]).filter(([, w]) => w > 0);
  const sum = entries.reduce((s, [, w]) => s + w, 0);
  const exact = entries.map(([k, w]) => ({ k, x: (w / sum) * n }));
  const counts = exact.map((e) => ({ k: e.k, c: Math.floor(e.x), r: e.x - Math.floor(e.x) }));
  let left = n - counts.reduce((s, c) => s + c.c, 0);
  for (const c of [...counts].sort((a, b) => b.r - a.r)) {
    if (left-- <= 0) break;
    c.c++;
  }
  return counts.flatMap((c) => Array.from({ length: c.c }, () => c.k));
}

function shuffle<T>(items: T[], rng: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export type { ScenarioTemplate };
