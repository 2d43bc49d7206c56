import type { Logger } from '../core/logger.ts';
import type { PgAlertRepository } from '../notifier/postgres-alerts.ts';
import type { PgEscalationRepository } from '../notifier/postgres-escalations.ts';
import type { SharedStoreNotifier } from '../notifier/shared-store-notifier.ts';
import type { OutboxRelayDeps } from './outbox-relay.ts';
import type { PgUnitOfWork } from './unit-of-work.ts';

/**
 * The cluster's escalation steps: every worker runs this, and any worker may run any chain's due step (a
 * reminder, the next level, the end) — the way the outbox relays share the outbox. A worker claims due records
 * (`claimDue`: `next_at` moves a lease ahead, `SKIP LOCKED`), then runs each in its own transaction: the alert
 * and the record are locked and read again, and the step runs only if it is still this claim's (`next_at` is the lease this
 * worker set; an acknowledgement or another worker's later claim changed it otherwise). The step's timeline
 * entries, its outbox messages (sent by the relays) and the record's new state commit together. A worker that
 * dies after claiming leaves the record due again when the lease runs out, and another worker runs the step.
 */
export interface EscalationStepsDeps {
  escalations: PgEscalationRepository;
  alerts: PgAlertRepository;
  notifier: SharedStoreNotifier;
  uow: PgUnitOfWork;
  logger: Logger;
  /** After a step queued messages: wakes the outbox relay. */
  onQueued?: () => void;
  now?: () => number;
  /** Default `STEP_LEASE_MS`. */
  leaseMs?: number;
  /** Default `STEP_POLL_MS`. */
  pollMs?: number;
}

export interface EscalationSteps {
  stats(): { claimed: number; ran: number };
  stop(): Promise<void>;
}

/**
 * What the outbox relay does when a message of an alert's escalation level fails for good: the next level is
 * told at once, as the embedded service does (`OutboxRelayDeps.escalation`). Every argument is opened on the
 * relay's unit of work, so the failure's mark and the escalation commit together.
 */
export function escalateOnFailedDelivery(d: {
  escalations: PgEscalationRepository;
  alerts: PgAlertRepository;
  notifier: SharedStoreNotifier;
  logger: Logger;
}): NonNullable<OutboxRelayDeps['escalation']> {
  const logger = d.logger.child({ module: 'escalation-steps' });
  return {
    async lock(alertId) {
      await d.alerts.lock(alertId);
      await d.escalations.lock(alertId);
    },
    async escalateNow(m) {
      if (!m.alertId) return false;
      const logs = await d.notifier.escalateNow(
        await d.escalations.get(m.alertId),
        await d.alerts.get(m.alertId),
        m.level,
      );
      for (const l of logs ?? []) if (l) logger[l.level](l.fields, l.msg);
      return logs !== null;
    },
  };
}

/** How long a claim keeps other workers off a chain's step: well above one step's transaction. */
export const STEP_LEASE_MS = 30_000;
/** How often a worker looks for due steps (a level's wait is minutes; a second late is nothing). */
export const STEP_POLL_MS = 1_000;
const BATCH = 100;

export function startEscalationSteps(deps: EscalationStepsDeps): EscalationSteps {
  const { escalations, alerts, notifier, uow } = deps;
  const now = deps.now ?? Date.now;
  const leaseMs = deps.leaseMs ?? STEP_LEASE_MS;
  const logger = deps.logger.child({ module: 'escalation-steps' });
  const stats = { claimed: 0, ran: 0 };
  let stopping = false;

  async function runClaimed(alertId: string, lease: number): Promise<boolean> {
    return uow.run(async () => {
      // The alert first, then its record (the order every writer of both keeps): an acknowledgement in flight
      // commits before the step reads the alert, or waits for the step.
      const alert = await alerts.lock(alertId);
      const r = await escalations.lock(alertId);
      if (!r || r.state !== 'active' || r.nextAt !== lease) return false;
      const logs = await notifier.runDue(r, alert);
      for (const l of logs) if (l) logger[l.level](l.fields, l.msg);
      return true;
    });
  }

  async function round(): Promise<void> {
    for (;;) {
      const claimed = await escalations.claimDue(now(), leaseMs, BATCH);
      stats.claimed += claimed.length;
      let ran = 0;
      for (const r of claimed) {
        try {
          if (await runClaimed(r.alertId, r.nextAt!)) ran++;
        } catch (err) {
          // The record stays claimed: it is due again when the lease runs out.
          logger.error({ err, alertId: r.alertId }, 'escalation step failed');
        }
      }
      stats.ran += ran;
      if (ran > 0) deps.onQueued?.();
      if (stopping || claimed.length < BATCH) return;
    }
  }

  let running: Promise<void> | null = null;
  const tick = () => {
    if (stopping || running) return;
    running = round()
      .catch((err: unknown) => logger.error({ err }, 'escalation round failed'))
      .finally(() => (running = null));
  };
  const poll = setInterval(tick, deps.pollMs ?? STEP_POLL_MS);
  poll.unref();
  tick();
  return {
    stats: () => ({ ...stats }),
    async stop() {
      stopping = true;
      clearInterval(poll);
      await running;
    },
  };
}
