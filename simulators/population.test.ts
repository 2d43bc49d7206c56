import { describe, expect, it } from 'vitest';
import { RegistryFile } from '../core/registry.ts';
import { buildHousehold } from './build-household.ts';
import { generatePopulation, populationRegistry } from './population.ts';
import { libraryMixes, loadScenarioMix, parseScenarioMix, type ScenarioMixInput } from './scenario-mix.ts';

const mix = (over: Partial<ScenarioMixInput> = {}) =>
  parseScenarioMix({
    name: 'test-mix',
    households: 200,
    days: 10,
    profiles: { 'elderly-alone': 1, family: 1 },
    meters: { '15min': 3, 'daily-batch': 1 },
    scenarios: [
      { type: 'leak', share: 0.1 },
      { type: 'fall', share: 0.05, profiles: ['elderly-alone'] },
      { type: 'silent', share: 0.05, meters: ['15min'] },
    ],
    ...over,
  });

describe('generatePopulation', () => {
  it('is deterministic for a seed and differs for another', () => {
    expect(generatePopulation(mix(), { seed: 3 })).toEqual(generatePopulation(mix(), { seed: 3 }));
    expect(generatePopulation(mix(), { seed: 4 }).households).not.toEqual(
      generatePopulation(mix(), { seed: 3 }).households,
    );
  });

  it('gives profiles and meter modes in proportion to their weights, exactly', () => {
    const pop = generatePopulation(mix(), { seed: 1 });
    const count = (f: (h: (typeof pop.households)[number]) => boolean) => pop.households.filter(f).length;
    expect(count((h) => h.profile === 'family')).toBe(100);
    expect(count((h) => h.meterMode === 'daily-batch')).toBe(50);
  });

  it('gives each recipe its share of eligible households, at most one scenario each', () => {
    const pop = generatePopulation(mix(), { seed: 1 });
    const of = (type: string) => pop.households.filter((h) => h.scenarios.some((s) => s.type === type));
    expect(of('leak')).toHaveLength(20);
    expect(of('fall')).toHaveLength(10);
    expect(of('fall').every((h) => h.profile === 'elderly-alone')).toBe(true);
    expect(of('silent').every((h) => h.meterMode === '15min')).toBe(true);
    expect(pop.households.every((h) => h.scenarios.length <= 1)).toBe(true);
    for (const h of of('leak')) {
      const s = h.scenarios[0]!;
      expect(s.type === 'leak' && s.start >= pop.start && s.start < pop.end).toBe(true);
    }
  });

  it('reports a recipe that found too few eligible households', () => {
    const pop = generatePopulation(
      mix({ scenarios: [{ type: 'fall', share: 0.9, profiles: ['elderly-alone'] }] }),
      { seed: 1 },
    );
    expect(pop.shortfalls).toEqual([{ type: 'fall', wanted: 180, got: 100 }]);
  });

  it('builds a registry careflow accepts: grids of householdsPerGrid, a worker each, vacant flats marked away', () => {
    const pop = generatePopulation(mix({ profiles: { vacant: 1, family: 9 }, householdsPerGrid: 60 }), {
      seed: 1,
    });
    const registry = RegistryFile.parse(populationRegistry(pop));
    expect(registry.grids).toHaveLength(4);
    expect(registry.workers.map((w) => w.grids)).toEqual([
      ['sim-g001'],
      ['sim-g002'],
      ['sim-g003'],
      ['sim-g004'],
    ]);
    const vacant = registry.households.filter((h) => h.notes === 'vacant flat');
    expect(vacant).toHaveLength(20);
    expect(vacant.every((h) => Date.parse(h.awayUntil!) > pop.end)).toBe(true);
  });

  it('resolves explicit households’ relative times in the mix’s zone', () => {
    const pop = generatePopulation(
      mix({
        households: 2,
        explicit: [
          {
            id: 'x',
            profile: 'family',
            scenarios: [
              { type: 'leak', start: { day: 1, at: '03:10' }, litersPerHour: 4 },
              { type: 'no-morning-water', day: 2 },
            ],
          },
        ],
      }),
    );
    expect(pop.households[0]).toMatchObject({
      id: 'x',
      scenarios: [{ start: Date.parse('2026-03-03T03:10:00+08:00') }, { day: '2026-03-04' }],
    });
  });

  it('names every problem of a bad file with its path', () => {
    expect(() => mix({ profiles: { 'elderly-alone': 0 } })).toThrow(
      /profiles: give at least one a weight above 0/,
    );
    expect(() =>
      parseScenarioMix({ name: 'x', profiles: { family: 1 }, scenarios: [{ type: 'flood', share: 0.1 }] }),
    ).toThrow(/scenarios.0.type/);
    expect(() =>
      generatePopulation(
        mix({
          households: 1,
          explicit: [
            {
              profile: 'family',
              scenarios: [
                { type: 'heavy-use', start: { day: 1, at: '10:00' }, durationMinutes: 60, litersPerHour: 50 },
              ],
            },
          ],
        }),
      ),
    ).toThrow(/explicit\.0\.scenarios\.0\.litersPerHour/);
  });
});

describe('the scenario library', () => {
  it('holds valid mixes, and the standard benchmark has every scenario type', () => {
    for (const name of libraryMixes()) expect(() => loadScenarioMix(name), name).not.toThrow();
    const standard = loadScenarioMix('standard');
    expect(standard.households * standard.days).toBeGreaterThanOrEqual(1000 * 30);
    const pop = generatePopulation(standard);
    const types = new Set(pop.households.flatMap((h) => h.scenarios.map((s) => s.type)));
    expect([...types].sort()).toEqual(
      [
        'burst',
        'duplicates',
        'fall',
        'garbage',
        'glitch',
        'guests',
        'heavy-use',
        'hospital-stay',
        'illness',
        'late-waking',
        'leak',
        'low-use',
        'marked-away',
        'meter-reset',
        'no-morning-water',
        'out-of-order',
        'silent',
      ].sort(),
    );
    expect(pop.shortfalls).toEqual([]);
  });

  it('gives every built household of the standard mix an expectation per scenario', () => {
    const pop = generatePopulation(loadScenarioMix('standard'), { households: 120 });
    for (const h of pop.households)
      expect(buildHousehold(h, pop).expectations).toHaveLength(h.scenarios.length);
  });
});
