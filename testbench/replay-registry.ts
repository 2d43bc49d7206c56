import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { CareflowError, fieldIssues, describeIssues } from '../core/errors.ts';
import { RegistryFile, type RegistryInput } from '../core/registry.ts';

/** The credentials a replay publishes with, and which household each meter belongs to. */
export interface ReplayCredentials {
  secrets: Map<string, string>;
  households: Map<string, string>;
  /** The registry to import into an embedded service, if the replay made or read one. */
  registry?: RegistryInput;
}

/** A household id for a recorded meter id (household codes have no `:`). */
export function householdIdFor(meterId: string): string {
  return meterId.replaceAll(':', '_');
}

export interface AutoRegistryOptions {
  /** Register every household as elderly and living alone, so that no welfare-only rule is skipped. */
  elderlyAlone?: boolean;
}

/**
 * A registry for the meters of a recording: one replay street, community and grid with a grid worker, a grid
 * leader and community staff (so the report can count what each of them would have received), and per
 * recorded meter a household and a meter with a generated secret (`--auto-register`).
 */
export function autoRegistry(
  meterIds: readonly string[],
  opts: AutoRegistryOptions = {},
): ReplayCredentials & { registry: RegistryInput } {
  const secrets = new Map<string, string>();
  const households = new Map<string, string>();
  const person = (id: string, name: string, role: 'grid-worker' | 'grid-leader' | 'community-staff') => ({
    id,
    name,
    role,
    grids: role === 'community-staff' ? [] : ['replay-g1'],
    communities: role === 'community-staff' ? ['replay-c1'] : [],
    secret: randomBytes(18).toString('base64url'),
  });
  const registry = {
    streets: [{ code: 'replay', name: 'Replay street / 回放街道' }],
    communities: [{ code: 'replay-c1', street: 'replay', name: 'Replay community / 回放社区' }],
    grids: [{ code: 'replay-g1', community: 'replay-c1', name: 'Replay grid / 回放网格' }],
    workers: [
      person('replay-worker', 'Replay grid worker / 回放网格员', 'grid-worker'),
      person('replay-leader', 'Replay grid leader / 回放网格长', 'grid-leader'),
      person('replay-staff', 'Replay community staff / 回放社区工作人员', 'community-staff'),
    ],
    households: [] as { id: string; grid: string; address: string; elderly: boolean; livesAlone: boolean }[],
    meters: [] as { id: string; household: string; secret: string }[],
  };
  const elderlyAlone = opts.elderlyAlone ?? false;
  for (const meterId of meterIds) {
    const household = householdIdFor(meterId);
    const secret = randomBytes(18).toString('base64url');
    secrets.set(meterId, secret);
    households.set(meterId, household);
    registry.households.push({
      id: household,
      grid: 'replay-g1',
      address: `replay household ${household}`,
      elderly: elderlyAlone,
      livesAlone: elderlyAlone,
    });
    registry.meters.push({ id: meterId, household, secret });
  }
  return { secrets, households, registry };
}

/** Reads the meters' secrets and households from a registry file (the one imported with `careflow import`). */
export function readRegistryCredentials(path: string): ReplayCredentials & { registry: RegistryInput } {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CareflowError(
      'ERR_REPLAY_CREDENTIALS_MISSING',
      `cannot read ${path}: ${(err as Error).message}`,
    );
  }
  const parsed = RegistryFile.safeParse(json);
  if (!parsed.success) {
    const issues = fieldIssues(parsed.error.issues);
    throw new CareflowError(
      'ERR_REGISTRY_INVALID',
      `${path}: ${describeIssues(issues.slice(0, 10))}`,
      issues,
    );
  }
  return {
    secrets: new Map(parsed.data.meters.map((m) => [m.id, m.secret])),
    households: new Map(parsed.data.meters.map((m) => [m.id, m.household])),
    registry: json as RegistryInput,
  };
}

/** Writes a registry file for the user to import (secrets included: keep it private). */
export function writeRegistryFile(path: string, registry: RegistryInput): void {
  if (existsSync(path))
    throw new CareflowError('ERR_REPLAY_FILE_INVALID', `${path} exists; not overwriting it`);
  writeFileSync(path, JSON.stringify(registry, null, 2) + '\n', { mode: 0o600 });
}

/** Refuses a replay for which some recorded meters have no secret. */
export function assertCredentials(meterIds: readonly string[], creds: ReplayCredentials, hint: string): void {
  const missing = meterIds.filter((id) => !creds.secrets.has(id));
  if (missing.length === 0) return;
  const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, … (${missing.length} in all)` : '');
  throw new CareflowError('ERR_REPLAY_CREDENTIALS_MISSING', `no secret for meters ${shown}; ${hint}`);
}

/** Whether a person of the registry is a grid worker (the role defaults to grid-worker, as on import). */
export function gridWorkersOf(registry: RegistryInput | undefined): Set<string> {
  return new Set(
    (registry?.workers ?? []).filter((w) => (w.role ?? 'grid-worker') === 'grid-worker').map((w) => w.id),
  );
}
