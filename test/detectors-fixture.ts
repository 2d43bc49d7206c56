import type { MqttClient } from 'mqtt';
import type { RegistryInput } from '../core/registry.ts';
import { ADMIN_TOKEN, connectClient, type TestService } from './harness.ts';

/**
 * Shared set-up for the detector tests (rules, away mode, backtest, restarts): a small organisation with two
 * communities, meters that publish their register over real MQTT, and API calls through `inject`.
 *
 * Street s1 → community c1 (grids g1, g2) and community c2 (grid g3); households h-g1-1 … h-g3-2, one meter
 * each (m-<household>), one grid worker per grid.
 */
export function orgRegistry(perGrid = 2): RegistryInput {
  const grids = [
    { code: 'g1', community: 'c1' },
    { code: 'g2', community: 'c1' },
    { code: 'g3', community: 'c2' },
  ];
  const households = grids.flatMap((g) =>
    Array.from({ length: perGrid }, (_, i) => ({
      id: `h-${g.code}-${i + 1}`,
      grid: g.code,
      address: `${g.code} 楼 ${i + 1} 号`,
    })),
  );
  return {
    streets: [{ code: 's1', name: 'Street 1' }],
    communities: [
      { code: 'c1', street: 's1', name: 'Community 1' },
      { code: 'c2', street: 's1', name: 'Community 2' },
    ],
    grids: grids.map((g) => ({ ...g, name: `Grid ${g.code}` })),
    workers: grids.map((g) => ({
      id: `w-${g.code}`,
      name: `Worker ${g.code}`,
      grids: [g.code],
      secret: `secret-w-${g.code}`,
    })),
    households,
    meters: households.map((h) => ({ id: `m-${h.id}`, household: h.id, secret: `secret-m-${h.id}` })),
  };
}

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown> & { code?: string; issues?: { path: string; message: string }[] };
}

/** Calls the service's API as `token` (the admin token by default). */
export function api(svc: TestService, token = ADMIN_TOKEN) {
  const call = async (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: unknown,
  ): Promise<ApiAnswer> => {
    const res = await svc.cf.http.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return { status: res.statusCode, body: res.json() as ApiAnswer['body'] };
  };
  return {
    get: (url: string) => call('GET', url),
    post: (url: string, body: unknown) => call('POST', url, body),
    put: (url: string, body: unknown) => call('PUT', url, body),
    delete: (url: string) => call('DELETE', url),
  };
}

/** An API key with a role and a scope, created by the admin. */
export async function apiKey(
  svc: TestService,
  role: string,
  scope: { streets?: string[]; communities?: string[]; grids?: string[] },
): Promise<string> {
  const res = await api(svc).post('/api/api-keys', { name: `${role} key`, role, ...scope });
  if (res.status !== 200) throw new Error(`cannot create key: ${JSON.stringify(res.body)}`);
  return res.body.key as string;
}

/** Real MQTT meters publishing cumulative registers; `use` adds liters, `report` publishes the register. */
export class Meters {
  private readonly clients = new Map<string, MqttClient>();
  private readonly registers = new Map<string, number>();

  static async connect(url: string, householdIds: readonly string[]): Promise<Meters> {
    const m = new Meters();
    for (const h of householdIds) {
      m.clients.set(h, await connectClient(url, `m-${h}`, `secret-m-${h}`));
      m.registers.set(h, 10_000);
    }
    return m;
  }

  /** Publishes the household's register at `ts` after `liters` more were used; resolves on PUBACK. */
  async report(householdId: string, ts: number, liters = 0): Promise<void> {
    const total = Math.round((this.registers.get(householdId)! + liters) * 1000) / 1000;
    this.registers.set(householdId, total);
    await this.clients
      .get(householdId)!
      .publishAsync(`meters/m-${householdId}/readings`, JSON.stringify({ ts, totalLiters: total }), {
        qos: 1,
      });
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.endAsync()));
  }
}
