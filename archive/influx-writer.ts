import { HttpError, InfluxDB, Point, type WriteApi } from '@influxdata/influxdb-client';
import type { ArchiveRow } from '../core/store/archive-repo.ts';

/** The measurement every reading is written to; tags `meter`, `household`, `grid`; field `total_liters`. */
export const MEASUREMENT = 'water_reading';

export interface InfluxWriterOptions {
  url: string;
  token: string | null;
  org: string;
  bucket: string;
  batchReadings: number;
  requestTimeoutMs: number;
  gzipThresholdBytes: number;
}

/** What to do after a failed write: try the same batch again later, or move past it (retrying cannot help). */
export type FailureAction = 'retry' | 'skip';

/**
 * A failed write is retried, except HTTP 422: InfluxDB took the request but dropped points for good
 * (older than the bucket's retention, field type conflict), and would drop them again.
 */
export function failureAction(status: number | undefined): FailureAction {
  return status === 422 ? 'skip' : 'retry';
}

/** The HTTP status of a failed write, if the database answered at all. */
export function failureStatus(err: unknown): number | undefined {
  return err instanceof HttpError ? err.statusCode : undefined;
}

/** One reading as an InfluxDB line protocol point, timestamped with the reading's time in milliseconds. */
export function toPoint(row: ArchiveRow): Point {
  const point = new Point(MEASUREMENT).tag('meter', row.meterId);
  if (row.householdId !== null) point.tag('household', row.householdId);
  if (row.grid !== null) point.tag('grid', row.grid);
  return point.floatField('total_liters', row.totalLiters).timestamp(row.ts);
}

/**
 * Writes one batch per call through the official client (`/api/v2/write`, precision ms, gzip above a
 * threshold). The client's own buffering, timer and retries are switched off: the caller owns the batch,
 * its retries and its durability (the inbox), so a batch either resolves (written) or rejects (not written).
 */
export class InfluxWriter {
  private readonly writeApi: WriteApi;

  constructor(opts: InfluxWriterOptions) {
    const influx = new InfluxDB({
      url: opts.url,
      ...(opts.token === null ? {} : { token: opts.token }),
      timeout: opts.requestTimeoutMs,
    });
    this.writeApi = influx.getWriteApi(opts.org, opts.bucket, 'ms', {
      // Larger than any batch, so the client never sends (and swallows the error of) a flush of its own.
      batchSize: opts.batchReadings + 1,
      maxBatchBytes: Number.MAX_SAFE_INTEGER,
      flushInterval: 0,
      maxRetries: 0,
      gzipThreshold: opts.gzipThresholdBytes,
    });
  }

  /** Resolves once the database acknowledged the whole batch (HTTP 204); rejects otherwise. */
  async write(rows: readonly ArchiveRow[]): Promise<void> {
    this.writeApi.writePoints(rows.map(toPoint));
    await this.writeApi.flush();
  }

  /** Drops anything buffered (nothing is, between writes) and releases the client. */
  dispose(): void {
    this.writeApi.dispose();
  }
}
