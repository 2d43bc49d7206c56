import type { AlertEvent, AlertFeed } from '../core/alerts.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';

const PAGE = 500;

/** The parts of the embedded store the event hub reads: the alert timeline. */
export type EventHubTables = Pick<Store, 'alerts' | 'db'>;

/**
 * The alert timeline as a live feed. Whoever writes to the timeline calls `wake()` after its transaction;
 * the hub then reads the committed entries after its cursor and hands them to every listener. Because the
 * feed is the timeline table itself, a consumer can resume from any entry id, across restarts.
 */
export class AlertEventHub implements AlertFeed {
  private cursor: number;
  private scheduled = false;
  private readonly listeners = new Set<(events: AlertEvent[]) => void>();

  constructor(
    private readonly store: EventHubTables,
    private readonly logger: Logger,
  ) {
    this.cursor = store.alerts.latestTimelineId();
  }

  /** Schedules a read of new entries (coalesced; runs after the current transaction). */
  wake = (): void => {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  };

  /** The id of the newest entry handed to listeners: a new subscriber continues from here. */
  latestId(): number {
    return this.cursor;
  }

  since(afterId: number, limit: number): AlertEvent[] {
    if (afterId >= this.cursor || limit <= 0) return [];
    return this.store.alerts.timelineSince(afterId, limit).filter((e) => e.id <= this.cursor);
  }

  subscribe(listener: (events: AlertEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private pump(): void {
    if (!this.store.db.open) return;
    for (;;) {
      const events = this.store.alerts.timelineSince(this.cursor, PAGE);
      if (events.length === 0) return;
      this.cursor = events[events.length - 1]!.id;
      for (const listener of this.listeners) {
        try {
          listener(events);
        } catch (err) {
          this.logger.warn({ err }, 'event listener failed');
        }
      }
      if (events.length < PAGE) return;
    }
  }
}
