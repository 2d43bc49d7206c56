import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';

/** Why a CONNECT was refused. */
export const REFUSAL_REASONS = [
  'bad-credentials',
  'throttled',
  'busy',
  'client-id-taken',
  'client-id-empty',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface Refusal {
  reason: RefusalReason;
  address: string;
  /** The username presented (never the password). */
  id?: string | undefined;
  clientId?: string | undefined;
}

/** The parts of the embedded store the security events write: the audit log. */
export type SecurityEventTables = Pick<Store, 'audit'>;

interface Window {
  count: number;
  ids: Set<string>;
}

/** Ids listed in one summary entry. */
const SAMPLE_IDS = 10;
/** Address/reason pairs followed at once; past this a flood of addresses shares one summary. */
const MAX_WINDOWS = 10_000;

/**
 * Refused CONNECTs as security events an operator can read, without a log line per attempt during a flood:
 * the first refusal of a reason from an address is logged and audited at once (`mqtt.connect.refused`);
 * later ones in the same window are counted and written as one summary per address and reason when the
 * window ends (`count`, up to ten of the ids tried). Counters by reason feed `/metrics`.
 */
export class SecurityEvents {
  readonly counts: Record<RefusalReason, number> = {
    'bad-credentials': 0,
    throttled: 0,
    busy: 0,
    'client-id-taken': 0,
    'client-id-empty': 0,
  };
  private readonly windows = new Map<string, Window>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly deps: { store: SecurityEventTables; logger: Logger; now: () => number },
    readonly windowMs = 60_000,
  ) {
    this.timer = setInterval(() => this.flush(), windowMs);
    this.timer.unref();
  }

  record(r: Refusal): void {
    this.counts[r.reason]++;
    let address = r.address;
    if (!this.windows.has(`${r.reason}|${address}`) && this.windows.size >= MAX_WINDOWS) address = '*';
    const key = `${r.reason}|${address}`;
    const w = this.windows.get(key);
    if (w) {
      w.count++;
      if (r.id && w.ids.size < SAMPLE_IDS) w.ids.add(r.id);
      return;
    }
    this.windows.set(key, { count: 0, ids: new Set() });
    this.write(r.reason, address, 1, r.id ? [r.id] : [], r.clientId);
  }

  /** Writes one summary per address and reason with refusals since the last flush. */
  flush(): void {
    for (const [key, w] of this.windows) {
      if (w.count === 0) {
        this.windows.delete(key);
        continue;
      }
      const [reason, address] = splitKey(key);
      this.write(reason, address, w.count, [...w.ids]);
      w.count = 0;
      w.ids.clear();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }

  private write(reason: RefusalReason, address: string, count: number, ids: string[], clientId?: string) {
    const detail: Record<string, unknown> = { reason, count, ids };
    if (clientId !== undefined) detail.clientId = clientId;
    const summary = count > 1 || ids.length > 1;
    this.deps.logger.warn(
      { reason, remote: address, count, ids, clientId },
      summary ? `MQTT connections refused (${count} in the last window)` : 'MQTT connection refused',
    );
    try {
      this.deps.store.audit.add({
        at: this.deps.now(),
        actor: ids.length === 1 ? ids[0]! : 'mqtt',
        action: 'mqtt.connect.refused',
        target: clientId ?? null,
        grid: null,
        detail,
        ip: address,
      });
    } catch (err) {
      this.deps.logger.error({ err }, 'could not write a security event to the audit log');
    }
  }
}

function splitKey(key: string): [RefusalReason, string] {
  const i = key.indexOf('|');
  return [key.slice(0, i) as RefusalReason, key.slice(i + 1)];
}
