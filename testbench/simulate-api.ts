import type { Alert, Outcome, TimelineEntry } from '../core/alerts.ts';
import { CareflowError } from '../core/errors.ts';

/**
 * The few calls of careflow's HTTP API a simulation makes: the clock, the household registry check, away
 * marks, the alerts (to score them) and their resolution (the simulated grid worker's visit).
 */
export class SimulationApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async clock(): Promise<{ now: number; mode: string }> {
    return (await this.call('GET', '/api/clock')) as { now: number; mode: string };
  }

  async moveClock(to: number): Promise<void> {
    await this.call('POST', '/api/clock', { to });
  }

  async householdExists(id: string): Promise<boolean> {
    const res = await this.request('GET', `/api/households/${encodeURIComponent(id)}`);
    if (res.status === 404) return false;
    await this.expectOk(res);
    return true;
  }

  /**
   * Marks a household away through `PUT /api/households/:id/away`. Resolves false when the service has no
   * such route (away mode not available), so the caller can record that the mark was not applied.
   */
  async markAway(id: string, until: number, reason: string): Promise<boolean> {
    const res = await this.request('PUT', `/api/households/${encodeURIComponent(id)}/away`, {
      until: new Date(until).toISOString(),
      reason,
    });
    if (res.status === 404) {
      const body = (await res.json().catch(() => ({}))) as { code?: string };
      if (body.code === 'ERR_API_NOT_FOUND' || body.code === undefined) return false;
      throw new CareflowError('ERR_SIMULATION_TARGET', `marking ${id} away failed: ${body.code}`);
    }
    await this.expectOk(res);
    return true;
  }

  /** Every alert of a household, oldest first (the API lists at most 1,000 per call: enough per household). */
  async alertsOf(householdId: string): Promise<Alert[]> {
    const q = `/api/alerts?household=${encodeURIComponent(householdId)}&limit=1000`;
    const body = (await this.call('GET', q)) as { alerts: Alert[] };
    return [...body.alerts].sort((a, b) => a.openedAt - b.openedAt || a.id.localeCompare(b.id));
  }

  /** A household's usage buckets in [from, to) (liters null: unknown). */
  async usage(
    householdId: string,
    from: number,
    to: number,
  ): Promise<{ start: number; liters: number | null }[]> {
    const q = `/api/households/${encodeURIComponent(householdId)}/usage?from=${from}&to=${to}`;
    const body = (await this.call('GET', q)) as { buckets: { start: number; liters: number | null }[] };
    return body.buckets.map((b) => ({ start: b.start, liters: b.liters }));
  }

  async timeline(alertId: string): Promise<TimelineEntry[]> {
    const body = (await this.call('GET', `/api/alerts/${encodeURIComponent(alertId)}`)) as {
      timeline: TimelineEntry[];
    };
    return body.timeline;
  }

  /** Closes an alert with an outcome; false when it was already closed (auto-resolved or by someone else). */
  async resolve(alertId: string, outcome: Outcome, note: string): Promise<boolean> {
    const res = await this.request('POST', `/api/alerts/${encodeURIComponent(alertId)}/resolve`, {
      outcome,
      note,
    });
    if (res.status === 409) return false;
    await this.expectOk(res);
    return true;
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.request(method, path, body);
    await this.expectOk(res);
    return res.json();
  }

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(this.baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new CareflowError(
        'ERR_SIMULATION_TARGET',
        `cannot reach careflow at ${this.baseUrl}: ${(err as Error).message}`,
      );
    }
  }

  private async expectOk(res: Response): Promise<void> {
    if (res.ok) return;
    const text = await res.text().catch(() => '');
    throw new CareflowError(
      'ERR_SIMULATION_TARGET',
      `${res.url.replace(this.baseUrl, '')} answered ${res.status}: ${text.slice(0, 300)}`,
    );
  }
}
