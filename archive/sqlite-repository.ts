import type { Store } from '../core/store/store.ts';
import {
  ARCHIVE_START,
  type ArchiveBacklog,
  type ArchiveBatch,
  type ArchiveCursor,
  type ArchiveRepository,
} from './repository.ts';

/**
 * The archive's repository on the embedded store: the cursor is a checkpoint row and the inbox's `seq` is its
 * commit order (one writer appends, so no later commit can take a smaller `seq`).
 */
export class SqliteArchiveRepository implements ArchiveRepository<'sync'> {
  constructor(private readonly store: Pick<Store, 'archive'>) {}

  start(): ArchiveCursor {
    if (!this.store.archive.hasCursor()) this.store.archive.setCursor(0);
    return { ...ARCHIVE_START, seq: this.store.archive.cursor() };
  }

  pending(after: ArchiveCursor, limit: number): ArchiveBatch {
    const rows = this.store.archive.pending(after.seq, limit);
    return { rows, next: rows.length === 0 ? after : { tx: '0', seq: rows[rows.length - 1]!.seq } };
  }

  advance(to: ArchiveCursor): void {
    if (to.seq > this.store.archive.cursor()) this.store.archive.setCursor(to.seq);
  }

  backlog(after: ArchiveCursor): ArchiveBacklog {
    const readings = this.store.archive.spool(after.seq);
    return {
      readings,
      oldestReceivedAt: readings > 0 ? this.store.archive.oldestPendingReceivedAt(after.seq) : undefined,
    };
  }
}
