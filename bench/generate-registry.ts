import { createHash } from 'node:crypto';
import type { RegistryInput } from '../core/registry.ts';

export interface GenerateOptions {
  /** Households in one grid (the last grid takes the remainder). Default 300. */
  householdsPerGrid?: number;
  /** Grids in one community. Default 10. */
  gridsPerCommunity?: number;
  /** Communities under one street office. Default 8. */
  communitiesPerStreet?: number;
  /** Mixed into every derived secret, so two runs with the same seed produce the same file. Default 'bench'. */
  seed?: string;
}

const COMPOUNDS = [
  '幸福小区',
  '和平里小区',
  '建设新村',
  '阳光花园',
  '绿景苑',
  '翠竹园',
  '东方家园',
  '金桥小区',
];

/**
 * A registry of `households` households shaped like a real district: ~300 households per grid, one grid worker
 * per grid, one meter per household, secrets derived deterministically from the seed and the id.
 */
export function generateRegistry(households: number, opts: GenerateOptions = {}): RegistryInput {
  const perGrid = opts.householdsPerGrid ?? 300;
  const gridsPerCommunity = opts.gridsPerCommunity ?? 10;
  const communitiesPerStreet = opts.communitiesPerStreet ?? 8;
  const seed = opts.seed ?? 'bench';
  const secretOf = (id: string) =>
    createHash('sha256').update(`${seed}:${id}`).digest('base64url').slice(0, 24);
  const pad = (n: number, width: number) => String(n).padStart(width, '0');

  const gridCount = Math.max(1, Math.ceil(households / perGrid));
  const communityCount = Math.ceil(gridCount / gridsPerCommunity);
  const streetCount = Math.ceil(communityCount / communitiesPerStreet);
  const gridCode = (g: number) => `g-${pad(g + 1, 4)}`;
  const communityCode = (c: number) => `c-${pad(c + 1, 3)}`;

  const registry = {
    streets: Array.from({ length: streetCount }, (_, s) => ({
      code: `s-${pad(s + 1, 2)}`,
      name: `Street office ${s + 1} / 第${s + 1}街道`,
    })),
    communities: Array.from({ length: communityCount }, (_, c) => ({
      code: communityCode(c),
      street: `s-${pad(Math.floor(c / communitiesPerStreet) + 1, 2)}`,
      name: `Community ${c + 1} / 第${c + 1}社区`,
    })),
    grids: Array.from({ length: gridCount }, (_, g) => ({
      code: gridCode(g),
      community: communityCode(Math.floor(g / gridsPerCommunity)),
      name: `Grid ${g + 1} / 第${g + 1}网格`,
    })),
    workers: Array.from({ length: gridCount }, (_, g) => {
      const id = `w-${gridCode(g)}`;
      return {
        id,
        name: `Grid worker ${g + 1}`,
        role: 'grid-worker' as const,
        grids: [gridCode(g)],
        secret: secretOf(id),
      };
    }),
    households: [] as NonNullable<RegistryInput['households']>,
    meters: [] as NonNullable<RegistryInput['meters']>,
  };
  for (let n = 0; n < households; n++) {
    const g = Math.floor(n / perGrid);
    const k = n % perGrid;
    const id = `h-${pad(n + 1, 6)}`;
    const meterId = `m-${pad(n + 1, 6)}`;
    registry.households.push({
      id,
      grid: gridCode(g),
      address: `${COMPOUNDS[g % COMPOUNDS.length]}${g + 1}期 ${Math.floor(k / 24) + 1}号楼 ${(Math.floor(k / 12) % 2) + 1}单元 ${(k % 6) + 1}0${(k % 2) + 1}`,
      livesAlone: n % 7 === 0,
      elderly: n % 3 === 0,
    });
    registry.meters.push({ id: meterId, household: id, secret: secretOf(meterId) });
  }
  return registry;
}
