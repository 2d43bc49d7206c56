import type { AlertEvent, AlertFeed } from '../core/alerts.ts';
import type { Logger } from '../core/logger.ts';
import type { PgAlertRepository } from '../notifier/postgres-alerts.ts';

/** Entries kept for consoles that reconnect with `Last-Event-ID`. */
const KEPT = 5_000;
const PAGE = 500;
/** How long an id below the newest one seen is waited for (a transaction that took it may commit late). */
const GAP_WAIT_MS = 30_000;
/** Ids skipped at once, and in all, that are waited for (beyond: a sequence that jumped, not transactions). */
const MAX_GAP = 1_000;
const MAX_GAPS = 10_000;

/**
 * The alert event feed of a cluster worker's `/api/events`: every alert timeline entry in PostgreSQL, whichever
 * worker wrote it, read every `pollMs` and handed to the consoles connected to this worker. PostgreSQL hands out
 * ids when a transaction inserts, not when it commits, so an entry can appear after one with a higher id: ids
 * skipped by a read are read again until they appear or `GAP_WAIT_MS` has passed (a rolled-back transaction
 * never fills its id), and such a late entry is sent when it appears. The newest `KEPT` entries are kept in memory
 * for consoles resuming with `Last-Event-ID`; one that was away longer reloads its lists (the console does).
 */
export class PgAlertFeed implements AlertFeed {
  private cursor = 0;
  private readonly kept: AlertEvent[] = [];
  private readonly gaps = new Map<number, number>();
  private readonly listeners = new Set<(events: AlertEvent[]) => void>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  private constructor(
    private readonly alerts: PgAlertRepository,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /** Starts at the newest entry (a console first asks for `latestId`) and polls every `pollMs`. */
  static async start(
    alerts: PgAlertRepository,
    logger: Logger,
    pollMs: number,
    now: () => number = Date.now,
  ): Promise<PgAlertFeed> {
    const feed = new PgAlertFeed(alerts, logger.child({ module: 'alert-feed' }), now);
    feed.cursor = await alerts.latestTimelineId();
    feed.timer = setInterval(() => void feed.poll(), pollMs);
    feed.timer.unref();
    return feed;
  }

  latestId(): number {
    return this.cursor;
  }

  since(afterId: number, limit: number): AlertEvent[] {
    if (limit <= 0) return [];
    const out: AlertEvent[] = [];
    for (const e of this.kept) {
      if (e.id <= afterId) continue;
      out.push(e);
      if (out.length === limit) break;
    }
    return out;
  }

  subscribe(listener: (events: AlertEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads what was committed since the last read (one read at a time). */
  poll(): Promise<void> {
    this.running ??= this.read()
      .catch((err: unknown) => this.logger.warn({ err }, 'could not read alert events; trying again'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    this.listeners.clear();
  }

  private async read(): Promise<void> {
    const now = this.now();
    for (const [id, since] of this.gaps) if (now - since > GAP_WAIT_MS) this.gaps.delete(id);
    let from = this.cursor;
    for (const id of this.gaps.keys()) from = Math.min(from, id - 1);
    const fresh: AlertEvent[] = [];
    for (let after = from; ;) {
      const page = await this.alerts.timelineSince(after, PAGE);
      for (const e of page) {
        if (e.id <= this.cursor && !this.gaps.delete(e.id)) continue;
        if (e.id > this.cursor) {
          for (let missing = Math.max(this.cursor + 1, e.id - MAX_GAP); missing < e.id; missing++)
            if (this.gaps.size < MAX_GAPS) this.gaps.set(missing, now);
          this.cursor = e.id;
        }
        fresh.push(e);
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.id;
    }
    if (fresh.length === 0) return;
    this.kept.push(...fresh);
    this.kept.sort((a, b) => a.id - b.id);
    if (this.kept.length > KEPT) this.kept.splice(0, this.kept.length - KEPT);
    for (const listener of [...this.listeners]) listener(fresh);
  }
}
