import type { RegistryInput } from '../core/registry.ts';
import { PASSWORD } from './delivery-harness.ts';

/**
 * The whole organisation of issue 16, shared by the organisation, privacy and roll-up tests:
 *
 * district d1 → streets s1, s2 → communities c1 (s1), c2 (s2) → grids g1 (c1), g2 (c2)
 * → buildings b1, b2 (g1), b3 (g2) → units b1-u1, b1-u2, b2-u1, b3-u1.
 *
 * Households: h1 (b1-u1), h2 (b1-u2), h3 (b2-u1), h5 (b1, no unit) in g1; h4 (b3-u1) in g2, and h6 in g1
 * with no building. Everyone consented to welfare, leak and family notification except h4 (leak only) and
 * h6 (no record: the legacy default). Building head bh-b1, unit heads uh-b1-u1 and uh-b2-u1 (another
 * building); relatives f-h1 (welfare and leak, webhook) and f-h3 (welfare, webhook).
 */
export const CONSENT_ALL = {
  purposes: ['welfare', 'leak', 'family'] as ('welfare' | 'leak' | 'family')[],
  givenBy: 'the resident',
  givenAt: '2026-01-01T10:00:00+08:00',
};

export function organisationRegistry(hooks: { h1: string; h3: string; bh?: string }): RegistryInput {
  const person = (id: string, role: string, extra: Record<string, unknown>) => ({
    id,
    name: `Person ${id}`,
    role,
    secret: `secret-${id}`,
    password: PASSWORD,
    ...extra,
  });
  const household = (
    id: string,
    grid: string,
    place: Record<string, string>,
    consent?: typeof CONSENT_ALL,
  ) => ({
    id,
    grid,
    address: `${grid} ${Object.values(place).join(' ')} ${id}`,
    ...place,
    ...(consent ? { consent } : {}),
  });
  const households = [
    household('h1', 'g1', { unit: 'b1-u1' }, CONSENT_ALL),
    household('h2', 'g1', { building: 'b1', unit: 'b1-u2' }, CONSENT_ALL),
    household('h3', 'g1', { unit: 'b2-u1' }, CONSENT_ALL),
    household('h4', 'g2', { unit: 'b3-u1' }, { ...CONSENT_ALL, purposes: ['leak'] }),
    household('h5', 'g1', { building: 'b1' }, CONSENT_ALL),
    household('h6', 'g1', {}),
  ];
  return {
    districts: [{ code: 'd1', name: 'Laoshan District / 崂山区' }],
    streets: [
      { code: 's1', name: 'Street 1', district: 'd1' },
      { code: 's2', name: 'Street 2', district: 'd1' },
    ],
    communities: [
      { code: 'c1', street: 's1', name: 'Community 1' },
      { code: 'c2', street: 's2', name: 'Community 2' },
    ],
    grids: [
      { code: 'g1', community: 'c1', name: 'Grid 1' },
      { code: 'g2', community: 'c2', name: 'Grid 2' },
    ],
    buildings: [
      { code: 'b1', grid: 'g1', name: '1号楼' },
      { code: 'b2', grid: 'g1', name: '2号楼' },
      { code: 'b3', grid: 'g2', name: '3号楼' },
    ],
    units: [
      { code: 'b1-u1', building: 'b1', name: '1单元' },
      { code: 'b1-u2', building: 'b1', name: '2单元' },
      { code: 'b2-u1', building: 'b2', name: '1单元' },
      { code: 'b3-u1', building: 'b3', name: '1单元' },
    ],
    workers: [
      person('w-g1', 'grid-worker', { grids: ['g1'] }),
      person('l-g1', 'grid-leader', { grids: ['g1'] }),
      person('w-g2', 'grid-worker', { grids: ['g2'] }),
      person('cs-c1', 'community-staff', { communities: ['c1'] }),
      person('ss-s1', 'street-staff', { streets: ['s1'] }),
      person('bh-b1', 'building-head', {
        buildings: ['b1'],
        ...(hooks.bh ? { webhook: { url: hooks.bh, secret: 'building-head-secret-0123' } } : {}),
      }),
      person('uh-b1-u1', 'unit-head', { units: ['b1-u1'] }),
      person('uh-b2-u1', 'unit-head', { units: ['b2-u1'] }),
    ] as RegistryInput['workers'],
    households,
    meters: households.map((h) => ({ id: `m-${h.id}`, household: h.id, secret: `secret-m-${h.id}` })),
    family: [
      {
        id: 'f-h1',
        household: 'h1',
        name: '女儿 Daughter of h1',
        relation: 'daughter',
        phone: '+86 139 0000 0001',
        audiences: ['welfare', 'leak'],
        password: PASSWORD,
        webhook: { url: hooks.h1, secret: 'family-secret-of-h1-0123' },
      },
      {
        id: 'f-h3',
        household: 'h3',
        name: '儿子 Son of h3',
        audiences: ['welfare'],
        password: PASSWORD,
        webhook: { url: hooks.h3, secret: 'family-secret-of-h3-0123' },
      },
    ],
  };
}
