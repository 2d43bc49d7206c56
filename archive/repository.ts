import type { Io, Mode } from '../core/repository.ts';
import type { ArchiveRow } from '../core/store/archive-repo.ts';

export type { ArchiveRow };

/**
 * Where the archive stands in the inbox: after the row with this commit position. `tx` orders commits (the
 * shared store's transaction id; always '0' in the embedded store, whose inbox is written in commit order) and
 * `seq` orders the rows of one commit.
 */
export interface ArchiveCursor {
  readonly tx: string;
  readonly seq: number;
}

export const ARCHIVE_START: ArchiveCursor = { tx: '0', seq: 0 };

/** The next rows to write and the cursor after them. */
export interface ArchiveBatch {
  rows: ArchiveRow[];
  next: ArchiveCursor;
}

/** What is committed but not yet written. */
export interface ArchiveBacklog {
  readings: number;
  /** Arrival time of the first unwritten reading (undefined: none). */
  oldestReceivedAt: number | undefined;
}

/**
 * What the archive keeps: its cursor in the inbox. The inbox is the archive's durable spool — rows after the
 * cursor wait there, across restarts and database outages, and inbox retention keeps them once an archive was
 * started. `M` is 'sync' for the embedded SQLite store, 'async' for PostgreSQL.
 */
export interface ArchiveRepository<M extends Mode = 'sync'> {
  /** The durable cursor; the first call on a store starts it at the beginning (from then on retention waits). */
  start(): Io<M, ArchiveCursor>;
  /**
   * The rows after `after`, in commit order (the shared store: in order of the committing transactions), at most `limit` — only rows no commit still in flight can come
   * before, so that moving the cursor past them never skips a reading.
   */
  pending(after: ArchiveCursor, limit: number): Io<M, ArchiveBatch>;
  /** Moves the durable cursor forward to `to` (after the database acknowledged the rows up to it). */
  advance(to: ArchiveCursor): Io<M, void>;
  backlog(after: ArchiveCursor): Io<M, ArchiveBacklog>;
}
