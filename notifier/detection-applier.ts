import { createHash } from 'node:crypto';
import { outageGrid, type Alert } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import type { Detection } from '../core/streams.ts';
import type { AlertAudience } from './alert-audience.ts';
import { clearedText, openedText, outageText, recurredText, resolvedText } from './alert-message.ts';
import type { EscalationRunner } from './escalation-runner.ts';

/** The parts of the embedded store the detection applier uses: alerts, households and grids. */
export type ApplierTables = Pick<Store, 'alerts' | 'registry' | 'escalation' | 'transaction'>;

/**
 * The detectors' half of the alert lifecycle: a detection opens an alert (or re-opens one within the
 * re-open window), updates its evidence, or clears it (auto-resolving it when the rule says so). One open
 * alert per household and rule; detections already applied (same key) are ignored.
 */
export class DetectionApplier {
  constructor(
    private readonly store: ApplierTables,
    private readonly clock: Clock,
    private readonly localTime: LocalTime,
    private readonly logger: Logger,
    private readonly escalation: EscalationRunner,
    private readonly audience: AlertAudience,
  ) {}

  /** Applies one detection in one transaction; returns the alert it opened or changed, if any. */
  apply(d: Detection): Alert | undefined {
    return this.store.transaction(() => {
      const open = this.store.alerts.findOpen(d.householdId, d.ruleId);
      if (!this.store.alerts.recordDetection(d, open?.id ?? null)) return undefined;
      // A welfare rule within another's episode: written to the episode's alert (never opening or clearing it).
      if (d.episode) {
        const joined = this.joinEpisode(d);
        if (joined) return joined;
      }
      switch (d.kind) {
        case 'opened':
          if (open) return this.update(open, d);
          return (d.reopen && this.reopenCleared(d)) || this.open(d);
        case 'updated':
          return open ? this.update(open, d) : undefined;
        case 'cleared':
          return open ? this.clear(open, d) : undefined;
      }
    });
  }

  /**
   * One welfare episode, one alert (detectors/welfare-episode.ts): a welfare rule that became true while
   * another one of the household already was — and its later updates and clearing — is written to the
   * timeline of the alert that began the episode (the alert its opening detection opened or updated), open
   * or closed by a person who has already seen to it, and opens nothing new. Without that alert (never
   * raised here), it opens its own.
   */
  private joinEpisode(d: Detection): Alert | undefined {
    const ep = d.episode!;
    // The alert the episode's opening detection went to: the one it opened, or the one it updated.
    const leadKey = `${d.householdId}|${ep.ruleId}|opened|${ep.since}`;
    const lead = this.store.alerts.get(this.store.alerts.alertOfDetection(leadKey) ?? alertId(leadKey));
    if (!lead) return undefined;
    if (d.kind === 'cleared' && ep.ends === true && lead.state !== 'resolved') {
      this.store.alerts.linkDetection(d.key, lead.id);
      // An episode that held more than one rule is closed by a person, whatever the last rule would do.
      return this.clear(lead, { ...d, autoResolve: false });
    }
    const now = this.clock.now();
    const next: Alert = { ...lead, updatedAt: now };
    this.store.alerts.update(next);
    this.store.alerts.linkDetection(d.key, lead.id);
    this.store.alerts.addTimeline(lead.id, {
      at: now,
      kind: 'detection-updated',
      actor: null,
      detail: { detection: d.key, at: d.at, joined: d.ruleId },
    });
    return next;
  }

  private open(d: Detection): Alert | undefined {
    const outage = outageGrid(d.householdId);
    const household =
      outage === null ? this.store.registry.household(d.householdId) : this.outagePlace(outage);
    if (!household) {
      this.logger.warn(
        { householdId: d.householdId, ruleId: d.ruleId },
        'detection for unknown household ignored',
      );
      return undefined;
    }
    const now = this.clock.now();
    const alert = newAlert(d, household.gridCode, now);
    this.store.alerts.insert(alert);
    const causeId = this.store.alerts.addTimeline(alert.id, {
      at: now,
      kind: 'opened',
      actor: null,
      detail: { detection: d.key },
    });
    const text =
      outage === null
        ? openedText(d.ruleType, d.audience, household.address, d.evidence, (ms) =>
            this.localTime.formatTime(ms),
          )
        : outageText(household.address, d.evidence, (ms) => this.localTime.formatTime(ms));
    this.escalation.begin(alert, text, text, causeId);
    this.logger.info(
      { alertId: alert.id, householdId: alert.householdId, ruleId: alert.ruleId },
      'alert opened',
    );
    return alert;
  }

  /** An outage's "household": its grid (the grid's name stands for the address). */
  private outagePlace(grid: string): { gridCode: string; address: string } | undefined {
    if (!this.store.escalation.place(grid)) return undefined;
    return { gridCode: grid, address: this.store.registry.gridName(grid) ?? grid };
  }

  /**
   * The re-open window: the rule fired again soon after its alert cleared. If that alert was closed by
   * careflow (auto-resolved), it opens again, on the same timeline, and its chain starts over; an alert a
   * person closed keeps their outcome, and a new alert opens instead.
   */
  private reopenCleared(d: Detection): Alert | undefined {
    const last = this.store.alerts.latest(d.householdId, d.ruleId);
    if (!last || last.state !== 'resolved' || last.resolvedBy !== 'careflow') return undefined;
    const now = this.clock.now();
    const next: Alert = {
      ...last,
      state: 'open',
      resolvedAt: null,
      resolvedBy: null,
      outcome: null,
      note: null,
      evidence: d.evidence,
      updatedAt: now,
    };
    this.store.alerts.update(next);
    this.store.alerts.linkDetection(d.key, last.id);
    const causeId = this.store.alerts.addTimeline(last.id, {
      at: now,
      kind: 'reopened',
      actor: 'careflow',
      detail: { detection: d.key, at: d.at, reason: 're-open window', from: 'resolved' },
    });
    const household = this.store.registry.household(d.householdId);
    const text = openedText(d.ruleType, d.audience, household?.address ?? d.householdId, d.evidence, (ms) =>
      this.localTime.formatTime(ms),
    );
    this.escalation.begin(next, text, recurredText(text), causeId);
    this.logger.info(
      { alertId: last.id, householdId: last.householdId, ruleId: last.ruleId },
      'alert re-opened',
    );
    return next;
  }

  private update(alert: Alert, d: Detection): Alert {
    const next: Alert = { ...alert, evidence: d.evidence, updatedAt: this.clock.now() };
    this.store.alerts.update(next);
    this.store.alerts.addTimeline(alert.id, {
      at: next.updatedAt,
      kind: 'detection-updated',
      actor: null,
      detail: { detection: d.key, at: d.at },
    });
    return next;
  }

  private clear(alert: Alert, d: Detection): Alert {
    const now = this.clock.now();
    const causeId = this.store.alerts.addTimeline(alert.id, {
      at: now,
      kind: 'condition-cleared',
      actor: null,
      detail: { detection: d.key, at: d.at },
    });
    const address = this.audience.address(alert);
    if (d.autoResolve) {
      const next: Alert = {
        ...alert,
        state: 'resolved',
        resolvedAt: now,
        resolvedBy: 'careflow',
        updatedAt: now,
      };
      this.store.alerts.update(next);
      const resolvedId = this.store.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'auto-resolved',
        actor: 'careflow',
        detail: {},
      });
      this.escalation.end(alert.id, 'auto-resolved');
      this.audience.tellEveryoneSoFar(next, 'resolved', resolvedText(address, null, true), resolvedId);
      return next;
    }
    // Water use is back to normal: the alert waits for a person's outcome, but no longer climbs the tree.
    const next: Alert = { ...alert, updatedAt: now };
    this.store.alerts.update(next);
    this.escalation.end(alert.id, 'condition-cleared');
    this.audience.tellEveryoneSoFar(next, 'updated', clearedText(address), causeId);
    return next;
  }
}

/** The record of the alert a detection opens: open, nobody has answered yet, nothing resolved. */
export function newAlert(d: Detection, gridCode: string, now: number): Alert {
  return {
    id: alertId(d.key),
    householdId: d.householdId,
    gridCode,
    ruleId: d.ruleId,
    severity: d.severity,
    audience: d.audience,
    state: 'open',
    openedAt: d.at,
    updatedAt: now,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    resolvedBy: null,
    outcome: null,
    note: null,
    evidence: d.evidence,
  };
}

/** Alert ids derive from the opening detection, so replaying history yields the same ids. */
export function alertId(detectionKey: string): string {
  return 'al-' + createHash('sha256').update(detectionKey).digest('hex').slice(0, 16);
}
