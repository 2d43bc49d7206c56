import { outageGrid, type Alert } from '../core/alerts.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Store } from '../core/store/store.ts';
import type { Detection } from '../core/streams.ts';
import { alertAddress } from '../notifier/alert-audience.ts';
import {
  clearedText,
  openedText,
  outageText,
  recurredText,
  resolvedText,
} from '../notifier/alert-message.ts';
import type { AlertRepository } from '../notifier/alert-repository.ts';
import { alertId, newAlert } from '../notifier/detection-applier.ts';
import type { SharedStoreNotifier } from '../notifier/shared-store-notifier.ts';

/**
 * A partition's detections written to the shared alerts, with the messages they cause queued in the shared
 * outbox (notifier/shared-store-notifier.ts: an alert that opens or opens again tells its chain's first level;
 * one that clears or auto-resolves tells everyone told so far and ends its escalation chain), in the batch's
 * transaction. Idempotent, so that a partition's batch processed again after a worker died cannot add an alert:
 * each detection is recorded once by its key (`detections.key` is unique; a key already recorded is skipped), an
 * alert's id derives from the key of the detection that opened it (`alerts.id` is unique) and a household has at
 * most one unresolved alert per rule (a unique index). Opened, updated, cleared and re-opened follow the
 * embedded notifier's rules (notifier/detection-applier.ts); a welfare rule within another's episode is written
 * to the timeline of the episode's alert.
 */
export class ClusterAlertWriter {
  constructor(
    private readonly alerts: AlertRepository<'async'>,
    /** The household's grid (or, for an outage, the grid itself); undefined: not registered. */
    private readonly gridOf: (householdId: string) => string | undefined,
    private readonly notifier: SharedStoreNotifier,
    /** Addresses and grid names for the messages' texts. */
    private readonly registry: Pick<Store, 'registry'>,
    private readonly localTime: LocalTime,
  ) {}

  private time = (ms: number) => this.localTime.formatTime(ms);

  /** Applies one detection at `now` (the partition's clock); returns the alert it opened or changed. */
  async apply(d: Detection, now: number): Promise<Alert | undefined> {
    const open = await this.alerts.findOpen(d.householdId, d.ruleId);
    if (!(await this.alerts.recordDetection(d, open?.id ?? null))) return undefined;
    if (d.episode) {
      const leadKey = `${d.householdId}|${d.episode.ruleId}|opened|${d.episode.since}`;
      const found = await this.alerts.get((await this.alerts.alertOfDetection(leadKey)) ?? alertId(leadKey));
      // Read again through findOpen, which locks an unresolved alert for the batch (an acknowledgement through
      // another worker then waits, instead of being overwritten by this update).
      const lead =
        found && found.state !== 'resolved'
          ? ((await this.alerts.findOpen(found.householdId, found.ruleId)) ?? found)
          : found;
      if (lead) {
        await this.alerts.linkDetection(d.key, lead.id);
        if (d.kind === 'cleared' && d.episode.ends === true && lead.state !== 'resolved')
          return this.clear(lead, { ...d, autoResolve: false }, now);
        return this.note(lead, d, now);
      }
    }
    switch (d.kind) {
      case 'opened':
        if (open) return this.note(open, d, now, d.evidence);
        return (d.reopen && (await this.reopen(d, now))) || this.open(d, now);
      case 'updated':
        return open ? this.note(open, d, now, d.evidence) : undefined;
      case 'cleared':
        return open ? this.clear(open, d, now) : undefined;
    }
  }

  private async open(d: Detection, now: number): Promise<Alert | undefined> {
    const grid = outageGrid(d.householdId) ?? this.gridOf(d.householdId);
    if (grid === undefined) return undefined;
    const alert = newAlert(d, grid, now);
    await this.alerts.insert(alert);
    const causeId = await this.alerts.addTimeline(alert.id, {
      at: now,
      kind: 'opened',
      actor: null,
      detail: { detection: d.key },
    });
    const address = alertAddress(this.registry, alert);
    const text =
      outageGrid(d.householdId) === null
        ? openedText(d.ruleType, d.audience, address, d.evidence, this.time)
        : outageText(address, d.evidence, this.time);
    await this.notifier.begin(alert, text, text, causeId, now);
    return alert;
  }

  private async reopen(d: Detection, now: number): Promise<Alert | undefined> {
    const last = await this.alerts.latest(d.householdId, d.ruleId);
    if (!last || last.state !== 'resolved' || last.resolvedBy !== 'careflow') return undefined;
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
    await this.alerts.update(next);
    await this.alerts.linkDetection(d.key, last.id);
    const causeId = await this.alerts.addTimeline(last.id, {
      at: now,
      kind: 'reopened',
      actor: 'careflow',
      detail: { detection: d.key, at: d.at, reason: 're-open window', from: 'resolved' },
    });
    const address = this.registry.registry.household(d.householdId)?.address ?? d.householdId;
    const text = openedText(d.ruleType, d.audience, address, d.evidence, this.time);
    await this.notifier.begin(next, text, recurredText(text), causeId, now);
    return next;
  }

  private async note(alert: Alert, d: Detection, now: number, evidence = alert.evidence): Promise<Alert> {
    const next: Alert = { ...alert, evidence, updatedAt: now };
    await this.alerts.update(next);
    await this.alerts.addTimeline(alert.id, {
      at: now,
      kind: 'detection-updated',
      actor: null,
      detail: d.episode ? { detection: d.key, at: d.at, joined: d.ruleId } : { detection: d.key, at: d.at },
    });
    return next;
  }

  private async clear(alert: Alert, d: Detection, now: number): Promise<Alert> {
    const causeId = await this.alerts.addTimeline(alert.id, {
      at: now,
      kind: 'condition-cleared',
      actor: null,
      detail: { detection: d.key, at: d.at },
    });
    const next: Alert = d.autoResolve
      ? { ...alert, state: 'resolved', resolvedAt: now, resolvedBy: 'careflow', updatedAt: now }
      : { ...alert, updatedAt: now };
    await this.alerts.update(next);
    // Resolved, or water use is back to normal: the alert no longer climbs the tree (as embedded).
    await this.notifier.end(alert.id, d.autoResolve ? 'auto-resolved' : 'condition-cleared');
    const address = alertAddress(this.registry, alert);
    if (d.autoResolve) {
      const resolvedId = await this.alerts.addTimeline(alert.id, {
        at: now,
        kind: 'auto-resolved',
        actor: 'careflow',
        detail: {},
      });
      await this.notifier.tellEveryoneSoFar(
        next,
        'resolved',
        resolvedText(address, null, true),
        resolvedId,
        now,
      );
    } else await this.notifier.tellEveryoneSoFar(next, 'updated', clearedText(address), causeId, now);
    return next;
  }
}
