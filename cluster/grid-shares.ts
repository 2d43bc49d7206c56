import type { PgPool } from '../core/postgres.ts';
import type { GridShare, GridShares, Outage } from '../detectors/outage-watch.ts';

/** How often a worker reads the whole shares table (in between, only the rows written since its last read). */
const FULL_READ_MS = 60_000;
/**
 * Margin for the writing workers' clocks (and their commits' length) when reading the rows written since the
 * last read.
 */
const CLOCK_MARGIN_MS = 10_000;

/**
 * The outage watch across a cluster's partitions. Meters are routed to partitions by meter id, so each
 * partition holds a share of every grid; the outage watch (detectors/outage-watch.ts) of one partition alone
 * would see a tenth of a grid stop and either find nothing (fewer than `outageMinMeters`) or find the same
 * outage in several partitions. So every partition commits its share of each grid with its batch — how many of
 * its meters report, and when each of its quiet meters stopped — to `cluster_grid_shares`; one partition per
 * grid (the lowest-numbered that holds meters of it) decides the grid's outages on the sum of all shares and
 * commits its finding to `cluster_outages`, and the other partitions read it there and keep the silences it
 * explains quiet, as one process does. A worker takes the tables in once per `refreshMs` for all its partitions
 * (the share rows written since its last read; the whole table once a minute).
 *
 * Shares are as fresh as the other partitions' last commits and the worker's last read (a second or two): an
 * outage is found when its meters have been quiet for twice their usual interval, hours before any of them is
 * `meter-silent`, so the finding reaches every partition long before it is needed.
 */
export class ClusterGridShares {
  private shares = new Map<string, Map<number, GridShare>>();
  private outages = new Map<string, Outage>();
  private loadedAt = Number.NEGATIVE_INFINITY;
  private fullAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly pool: PgPool,
    /** The cluster's partitions (`cluster.partitions`): rows of partitions beyond them (fewer now) are left out. */
    private readonly partitions: number,
    private readonly refreshMs = 1_000,
  ) {}

  /** Takes the shared tables in again when they were last read more than `refreshMs` ago. */
  refresh(): Promise<void> {
    if (Date.now() - this.loadedAt < this.refreshMs) return Promise.resolve();
    this.loading ??= this.load().finally(() => (this.loading = null));
    return this.loading;
  }

  /** The view of one partition (its own share left out of the others' sums). */
  forPartition(partition: number): PartitionGridShares {
    return new PartitionGridShares(this, partition);
  }

  /** @internal */
  sharesOf(grid: string): ReadonlyMap<number, GridShare> | undefined {
    return this.shares.get(grid);
  }

  /** @internal */
  allGrids(): Iterable<string> {
    return this.shares.keys();
  }

  /** @internal */
  outageOf(grid: string): Outage | undefined {
    return this.outages.get(grid);
  }

  /** @internal A partition's committed writes, seen by the worker's other partitions before the next read. */
  committed(
    partition: number,
    shares: ReadonlyMap<string, GridShare | null>,
    outages: ReadonlyMap<string, Outage | null>,
  ): void {
    for (const [grid, share] of shares) {
      let byPartition = this.shares.get(grid);
      if (share) {
        if (!byPartition) this.shares.set(grid, (byPartition = new Map()));
        byPartition.set(partition, share);
      } else if (byPartition) {
        byPartition.delete(partition);
        if (byPartition.size === 0) this.shares.delete(grid);
      }
    }
    for (const [grid, o] of outages) {
      if (o) this.outages.set(grid, o);
      else this.outages.delete(grid);
    }
  }

  private async load(): Promise<void> {
    const at = Date.now();
    // The rows changed since the last read (with a margin for the writers' clocks), the whole table now and then
    // (a partition that no longer holds meters of a grid deletes its row).
    const full = at - this.fullAt >= FULL_READ_MS;
    const since = full ? null : this.loadedAt - CLOCK_MARGIN_MS;
    const [s, o] = await Promise.all([
      this.pool.query<{ grid: string; partition: number; reporting: number; quiet: (string | number)[] }>(
        `SELECT grid, partition, reporting, quiet FROM cluster_grid_shares${full ? '' : ' WHERE at >= $1'}`,
        full ? [] : [since],
      ),
      this.pool.query<{ grid: string; from_ts: number; meters: number }>(
        'SELECT grid, from_ts, meters FROM cluster_outages',
      ),
    ]);
    const shares = full ? new Map<string, Map<number, GridShare>>() : this.shares;
    for (const r of s.rows) {
      if (r.partition >= this.partitions) continue;
      let byPartition = shares.get(r.grid);
      if (!byPartition) shares.set(r.grid, (byPartition = new Map()));
      byPartition.set(r.partition, { reporting: r.reporting, quiet: r.quiet.map(Number) });
    }
    this.shares = shares;
    this.outages = new Map(o.rows.map((r) => [r.grid, { from: r.from_ts, meters: r.meters }]));
    this.loadedAt = at;
    if (full) this.fullAt = at;
  }
}

/**
 * One partition's view of the shared grid shares (the engine's `GridShares`) and what its ticks recorded since
 * its last commit, written by `flush` inside the partition's commit (so a share is never ahead of the
 * checkpoint it came from, and a fenced-out owner writes nothing).
 */
export class PartitionGridShares implements GridShares {
  private pendingShares: ReadonlyMap<string, GridShare> | null = null;
  private pendingDecisions = new Map<string, Outage | null>();
  /** What this partition last committed, by grid (JSON), to write only what changed. */
  private written = new Map<string, string>();

  constructor(
    private readonly cluster: ClusterGridShares,
    readonly partition: number,
  ) {}

  /** Takes the shared tables in again, when the worker last read them more than its `refreshMs` ago. */
  refresh(): Promise<void> {
    return this.cluster.refresh();
  }

  others(grid: string): GridShare | undefined {
    const byPartition = this.cluster.sharesOf(grid);
    if (!byPartition) return undefined;
    let sum: GridShare | undefined;
    for (const [p, share] of byPartition) {
      if (p === this.partition) continue;
      sum ??= { reporting: 0, quiet: [] };
      sum.reporting += share.reporting;
      for (const t of share.quiet) sum.quiet.push(t);
    }
    return sum;
  }

  *grids(): Iterable<string> {
    for (const grid of this.cluster.allGrids()) {
      const byPartition = this.cluster.sharesOf(grid)!;
      if (byPartition.size > 1 || !byPartition.has(this.partition)) yield grid;
    }
  }

  decides(grid: string, hasLocal: boolean): boolean {
    let lowest = hasLocal ? this.partition : Number.POSITIVE_INFINITY;
    for (const p of this.cluster.sharesOf(grid)?.keys() ?? [])
      if (p !== this.partition && p < lowest) lowest = p;
    return lowest === this.partition;
  }

  decided(grid: string): Outage | undefined {
    return this.cluster.outageOf(grid);
  }

  record(shares: ReadonlyMap<string, GridShare>, decisions: ReadonlyMap<string, Outage | null>): void {
    this.pendingShares = shares;
    for (const [grid, o] of decisions) this.pendingDecisions.set(grid, o);
  }

  /**
   * Writes what changed since the last commit (inside the partition's commit transaction); returns what to
   * call once that transaction has committed.
   */
  async flush(pool: PgPool): Promise<() => void> {
    const shares = new Map<string, GridShare | null>();
    if (this.pendingShares) {
      for (const [grid, share] of this.pendingShares) {
        const json = JSON.stringify(share);
        if (this.written.get(grid) !== json) shares.set(grid, share);
      }
      for (const grid of this.written.keys()) if (!this.pendingShares.has(grid)) shares.set(grid, null);
    }
    const outages = new Map<string, Outage | null>();
    for (const [grid, o] of this.pendingDecisions) {
      const before = this.cluster.outageOf(grid);
      if (before?.from !== o?.from || before?.meters !== o?.meters) outages.set(grid, o);
    }
    const now = Date.now();
    const upserts = [...shares].filter((e): e is [string, GridShare] => e[1] !== null);
    if (upserts.length > 0)
      await pool.query(
        `INSERT INTO cluster_grid_shares (grid, partition, reporting, quiet, at)
         SELECT g, $1, r, array(SELECT jsonb_array_elements_text(q)::bigint), $5
         FROM unnest($2::text[], $3::int[], $4::jsonb[]) AS x(g, r, q)
         ON CONFLICT (grid, partition) DO UPDATE
           SET reporting = excluded.reporting, quiet = excluded.quiet, at = excluded.at`,
        [
          this.partition,
          upserts.map(([g]) => g),
          upserts.map(([, s]) => s.reporting),
          upserts.map(([, s]) => JSON.stringify(s.quiet)),
          now,
        ],
      );
    const gone = [...shares].filter(([, s]) => s === null).map(([g]) => g);
    if (gone.length > 0)
      await pool.query('DELETE FROM cluster_grid_shares WHERE partition = $1 AND grid = ANY($2::text[])', [
        this.partition,
        gone,
      ]);
    for (const [grid, o] of outages) {
      if (o)
        await pool.query(
          `INSERT INTO cluster_outages (grid, from_ts, meters, partition, at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (grid) DO UPDATE
             SET from_ts = excluded.from_ts, meters = excluded.meters, partition = excluded.partition, at = excluded.at`,
          [grid, o.from, o.meters, this.partition, now],
        );
      else await pool.query('DELETE FROM cluster_outages WHERE grid = $1', [grid]);
    }
    return () => this.committed(shares, outages);
  }

  /** Once the commit holding the flush went through: the worker's other partitions see it at once. */
  private committed(
    shares: ReadonlyMap<string, GridShare | null>,
    outages: ReadonlyMap<string, Outage | null>,
  ): void {
    for (const [grid, s] of shares) {
      if (s) this.written.set(grid, JSON.stringify(s));
      else this.written.delete(grid);
    }
    this.cluster.committed(this.partition, shares, outages);
    this.pendingShares = null;
    this.pendingDecisions.clear();
  }
}
