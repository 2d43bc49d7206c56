import type { Alert, Evidence, TimelineEntry } from '../core/alerts.ts';
import { CareflowError, ERRORS, type ErrorCode } from '../core/errors.ts';
import type { RuleAudience } from '../core/rules.ts';
import type { IngestCounters } from '../ingest/usage-stage.ts';

/** An alert raised during a replay, in event time (ISO 8601, UTC). */
export interface ReplayAlert {
  alertId: string;
  householdId: string;
  ruleId: string;
  severity: string;
  state: string;
  openedAt: string;
  /** When the condition first cleared (event time of the clearing detection), or null. */
  clearedAt: string | null;
  evidence: Evidence;
}

/** An alert with what the noise report needs (its audience and timeline); the report keeps the rest. */
export interface ReplayAlertDetail extends ReplayAlert {
  audience: RuleAudience;
  timeline: TimelineEntry[];
}

/** The service's own view of what it did with the readings, when it can give it. */
export interface ServiceIngestCounts {
  normalizer: IngestCounters;
  /** Dead letters by code (everything refused, since the data dir was created). */
  deadLetters: Record<string, number>;
}

/** The careflow a replay publishes into: embedded (started by the replay) or running (reached over HTTP). */
export interface ReplayTarget {
  readonly mode: 'embedded' | 'running';
  readonly mqttUrl: string;
  /** The service's current (simulated) time. */
  now(): Promise<number>;
  /** Moves the service's clock forward to `t`; does nothing if it is already there or past it. */
  advanceClock(t: number): Promise<void>;
  /** Waits until the service answers again (after a restart during the replay). */
  waitUntilUp(timeoutMs: number): Promise<void>;
  alerts(householdIds: readonly string[]): Promise<ReplayAlertDetail[]>;
  ingestCounts(): Promise<ServiceIngestCounts | null>;
  stop(): Promise<void>;
}

export function toReplayAlert(alert: Alert, timeline: TimelineEntry[]): ReplayAlertDetail {
  const cleared = timeline.find((e) => e.kind === 'condition-cleared');
  const clearedAt = typeof cleared?.detail.at === 'number' ? new Date(cleared.detail.at).toISOString() : null;
  return {
    alertId: alert.id,
    householdId: alert.householdId,
    ruleId: alert.ruleId,
    severity: alert.severity,
    state: alert.state,
    openedAt: new Date(alert.openedAt).toISOString(),
    clearedAt,
    evidence: alert.evidence,
    audience: alert.audience,
    timeline,
  };
}

/** A running careflow (started with `CAREFLOW_CLOCK=manual`), driven through `POST /api/clock`. */
export class RemoteTarget implements ReplayTarget {
  readonly mode = 'running';

  constructor(
    readonly mqttUrl: string,
    private readonly httpUrl: string,
    private readonly token: string,
  ) {}

  async now(): Promise<number> {
    const body = (await this.call('GET', '/api/clock')) as { now: number; mode: string };
    if (body.mode !== 'manual') throw new CareflowError('ERR_CLOCK_NOT_MANUAL');
    return body.now;
  }

  async advanceClock(t: number): Promise<void> {
    try {
      await this.call('POST', '/api/clock', { to: t });
    } catch (err) {
      if (err instanceof CareflowError && err.code === 'ERR_CLOCK_BACKWARDS') return; // already past t
      throw err;
    }
  }

  async waitUntilUp(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.now();
        return;
      } catch (err) {
        if (!(err instanceof CareflowError && err.code === 'ERR_REPLAY_SERVICE_UNAVAILABLE')) throw err;
        if (Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async alerts(householdIds: readonly string[]): Promise<ReplayAlertDetail[]> {
    const out: ReplayAlertDetail[] = [];
    for (const id of householdIds) {
      const list = (await this.call('GET', `/api/alerts?household=${encodeURIComponent(id)}&limit=1000`)) as {
        alerts: Alert[];
      };
      for (const a of list.alerts) {
        const detail = (await this.call('GET', `/api/alerts/${encodeURIComponent(a.id)}`)) as {
          alert: Alert;
          timeline: TimelineEntry[];
        };
        out.push(toReplayAlert(detail.alert, detail.timeline));
      }
    }
    return out;
  }

  /** A running service does not publish its ingest counters: the replay mirrors them instead. */
  async ingestCounts(): Promise<ServiceIngestCounts | null> {
    return null;
  }

  async stop(): Promise<void> {}

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.httpUrl.replace(/\/$/, '') + path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new CareflowError(
        'ERR_REPLAY_SERVICE_UNAVAILABLE',
        `${method} ${this.httpUrl}${path} failed: ${(err as Error).message}`,
      );
    }
    const json = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
    if (res.ok) return json;
    const code = json.code !== undefined && json.code in ERRORS ? (json.code as ErrorCode) : 'ERR_INTERNAL';
    throw new CareflowError(code, `${method} ${path}: ${json.message ?? res.statusText}`);
  }
}
