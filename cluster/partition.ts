import { Subject } from 'rxjs';
import { ManualClock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { PgPool } from '../core/postgres.ts';
import type {
  AcceptedReading,
  Detection,
  DetectorInput,
  NormalizerEvent,
  UsageBucket,
} from '../core/streams.ts';
import type { PgDetectorStateRepository } from '../detectors/postgres-repository.ts';
import { startDetectors, type DetectorTables, type Detectors } from '../detectors/start-detectors.ts';
import type { PgIngestRepository } from '../ingest/postgres-repository.ts';
import type { InboxSubmission, ProcessedOutput } from '../ingest/repository.ts';
import { UsageStage } from '../ingest/usage-stage.ts';
import type { ClusterAlertWriter } from './alert-writer.ts';
import type { PartitionGridShares } from './grid-shares.ts';
import type { PgUnitOfWork } from './unit-of-work.ts';

/** One payload of a partition's batch: what ingest commits, the household, and whether RabbitMQ redelivered it. */
export interface PartitionSubmission extends InboxSubmission {
  /** The meter's household (undefined: unknown or retired meter; its dead letter is committed, nothing else). */
  householdId: string | undefined;
  redelivered: boolean;
}

export interface PartitionRepos {
  uow: PgUnitOfWork;
  /** Ingest's repository with this partition's cursor, opened on `uow.pool`. */
  ingest: PgIngestRepository;
  detectorStates: PgDetectorStateRepository;
  alerts: ClusterAlertWriter;
}

export interface PartitionDeps {
  partition: number;
  /** This worker (named in the partition's row as its owner). */
  owner: string;
  config: Config;
  logger: Logger;
  localTime: LocalTime;
  /** The worker's registry and rules (the same on every worker). */
  store: DetectorTables;
  repos: PartitionRepos;
  /** The partition's view of every grid's shares (the outage watch across partitions); undefined: off. */
  gridShares?: PartitionGridShares;
  /** Resolves once the worker's registry has reached `version` (it pulls meanwhile); undefined: not waited for. */
  registryAtLeast?: (version: number) => Promise<void>;
}

export interface BatchResult {
  /** Readings committed (redelivered readings that were already committed are not counted again). */
  readings: number;
  /** Redelivered readings found already committed and skipped. */
  skipped: number;
  detections: number;
}

/** The partition's takeover was fenced: another worker took it over since this one restored it. */
export class PartitionFencedError extends Error {}

/**
 * The partition was reset (a household of it was erased) since this object restored it: its state in memory
 * may hold what was erased. The owner restores the partition and commits the batch again.
 */
export class PartitionResetError extends Error {}

/**
 * A partition's households, owned by one worker at a time: their normalisers (ingest's UsageStage) and
 * detector engine (detectors' startDetectors), the same code the embedded service runs, with the partition's own
 * clock. `restore` loads the partition's checkpoint from PostgreSQL (and fences the previous owner out);
 * `commit` processes a batch of deliveries and commits, in one transaction, the readings, what they produced
 * (buckets, meter events, alerts) and the partition's checkpoint (meter states, household states, cursor,
 * clock), so that the checkpoint always covers exactly the committed readings. When a commit fails the
 * in-memory state is ahead of the store: the caller drops this object and restores the partition again.
 *
 * The partition's clock is event time: a payload arrives at the time of its newest reading (never earlier than
 * the partition's clock), which is also what the detectors see as its arrival; the detectors' ticks (silence)
 * fire as the clock passes them, at multiples of `detectors.tickIntervalMs`, so that a worker taking the
 * partition over ticks at the same instants as its previous owner.
 */
export class PartitionProcessor {
  private readonly inputs = new Subject<DetectorInput>();
  private readonly found: Detection[] = [];
  private readonly ledger = new Ledger();
  private readonly stage: UsageStage;
  private clock: ManualClock | null = null;
  private detectors: Detectors | null = null;
  private pendingStates: [string, unknown][] = [];
  private readonly members = new Set<string>();
  private readonly newMembers = new Map<string, string>();

  private constructor(
    private readonly deps: PartitionDeps,
    private readonly epoch: number,
    private readonly resets: number,
    restoredClock: number | null,
  ) {
    const i = deps.config.ingest;
    this.stage = new UsageStage(
      this.ledger,
      {
        localTime: deps.localTime,
        maxGapMs: i.maxGapMinutes * 60_000,
        maxFlowLitersPerHour: i.maxFlowLitersPerHour,
        resetNearZeroLiters: i.resetNearZeroLiters,
        rolloverLiters: i.rolloverLiters,
      },
      (input) => this.inputs.next(input),
    );
    if (restoredClock !== null) this.startClock(restoredClock);
  }

  /** Takes the partition over: raises its epoch and loads its checkpoint. */
  static async restore(deps: PartitionDeps): Promise<PartitionProcessor> {
    const { uow, ingest, detectorStates } = deps.repos;
    const { rows } = await uow.pool.query<{
      epoch: number;
      clock: number | null;
      resets: number;
      registry_at_least: number;
    }>(
      `INSERT INTO cluster_partitions (partition, epoch, clock, owner, taken_at) VALUES ($1, 1, NULL, $2, $3)
       ON CONFLICT (partition) DO UPDATE
         SET epoch = cluster_partitions.epoch + 1, owner = excluded.owner, taken_at = excluded.taken_at
       RETURNING epoch, clock, resets, registry_at_least`,
      [deps.partition, deps.owner, Date.now()],
    );
    const { epoch, clock, resets } = rows[0]!;
    // After an erasure: the registry without the household first (its meters' readings are then unknown).
    if (rows[0]!.registry_at_least > 0) await deps.registryAtLeast?.(rows[0]!.registry_at_least);
    const members = await uow.pool.query<{ meter_id: string; household_id: string }>(
      'SELECT meter_id, household_id FROM cluster_partition_meters WHERE partition = $1',
      [deps.partition],
    );
    const p = new PartitionProcessor(deps, epoch, resets, clock);
    p.ledger.cursorValue = await ingest.cursor();
    const households = new Set<string>();
    for (const m of members.rows) {
      p.members.add(m.meter_id);
      households.add(m.household_id);
      const state = await ingest.meterState(m.meter_id);
      if (state !== undefined) p.ledger.states.set(m.meter_id, state);
    }
    const states = households.size > 0 ? await detectorStates.states([...households]) : [];
    if (p.detectors) p.detectors.load(states);
    else p.pendingStates = states;
    deps.logger.info(
      { partition: deps.partition, epoch, meters: members.rows.length, households: households.size, clock },
      'partition restored from its checkpoint',
    );
    return p;
  }

  /**
   * Processes the batch and commits everything it produced with the partition's checkpoint (one transaction).
   * `floor`: the event time the partition's clock reaches at least, before the batch (the worker's wall-clock
   * floor, so that silences are raised while none of the partition's meters sends); ignored before the
   * partition's first reading.
   */
  async commit(batch: readonly PartitionSubmission[], floor?: number): Promise<BatchResult> {
    const { uow, ingest, detectorStates, alerts } = this.deps.repos;
    const shares = this.deps.gridShares;
    // The other partitions' shares of the grids, as fresh as the worker's last read (for this batch's ticks).
    await shares?.refresh();
    let shared: (() => void) | undefined;
    const result = await uow.run(async () => {
      if (floor !== undefined && this.clock && floor > this.clock.now()) this.clock.advanceTo(floor);
      const subs = await this.withoutCommitted(batch);
      const skipped =
        batch.reduce((n, s) => n + s.readings.length, 0) - subs.reduce((n, s) => n + s.readings.length, 0);
      const seqs = await ingest.commit(subs);
      let k = 0;
      for (const s of subs) {
        const readings: AcceptedReading[] = [];
        for (const r of s.readings) {
          const seq = seqs[k++]!;
          if (s.householdId !== undefined)
            readings.push({ ...r, seq, meterId: s.meterId, householdId: s.householdId, receivedAt: 0 });
        }
        if (readings.length === 0) continue;
        // The payload arrives at the time of its newest reading: the clock moves there first (ticks fire).
        const arrival = this.advanceTo(Math.max(...readings.map((r) => r.ts)));
        for (const r of readings) r.receivedAt = arrival;
        this.stage.process(readings);
        if (!this.members.has(s.meterId)) this.newMembers.set(s.meterId, s.householdId!);
      }
      const detections = this.found.splice(0);
      const now = this.clock?.now() ?? 0;
      shared = await shares?.flush(uow.pool);
      await ingest.saveProcessed(this.ledger.takeProcessed());
      for (const d of detections) await alerts.apply(d, now);
      this.stage.writeCheckpoint();
      const cp = this.ledger.checkpoint;
      this.ledger.checkpoint = null;
      if (cp) await ingest.saveCheckpoint(cp.cursor, cp.states);
      const changed: [string, Uint8Array][] = [];
      this.detectors?.writeCheckpoint((hid, s) => changed.push([hid, s]));
      if (changed.length > 0) await detectorStates.saveStates(changed);
      if (this.newMembers.size > 0) {
        await uow.pool.query(
          `INSERT INTO cluster_partition_meters (meter_id, partition, household_id)
           SELECT m, $1, h FROM unnest($2::text[], $3::text[]) AS x(m, h)
           ON CONFLICT (meter_id) DO UPDATE SET partition = excluded.partition, household_id = excluded.household_id`,
          [this.deps.partition, [...this.newMembers.keys()], [...this.newMembers.values()]],
        );
      }
      await this.fence(uow.pool);
      for (const [m] of this.newMembers) this.members.add(m);
      this.newMembers.clear();
      return { readings: seqs.length, skipped, detections: detections.length };
    });
    shared?.();
    return result;
  }

  /**
   * Saves the partition's clock, in the commit's transaction, if this object still owns the partition as it
   * restored it; otherwise the commit is rolled back (taken over: fenced; erased from: reset).
   */
  private async fence(pool: PartitionRepos['uow']['pool']): Promise<void> {
    const saved = await pool.query(
      `UPDATE cluster_partitions SET clock = $4, committed_at = $5
       WHERE partition = $1 AND epoch = $2 AND resets = $3`,
      [this.deps.partition, this.epoch, this.resets, this.clock?.now() ?? null, Date.now()],
    );
    if (saved.rowCount === 1) return;
    // A new statement sees what was committed meanwhile: the same epoch means only an erasure happened.
    const { rows } = await pool.query<{ epoch: number }>(
      'SELECT epoch FROM cluster_partitions WHERE partition = $1',
      [this.deps.partition],
    );
    if (rows[0] && Number(rows[0].epoch) === this.epoch)
      throw new PartitionResetError(`partition ${this.deps.partition} was reset by an erasure; restoring it`);
    throw new PartitionFencedError(`partition ${this.deps.partition} was taken over by another worker`);
  }

  /** The partition's clock (event time); null before its first reading. */
  clockNow(): number | null {
    return this.clock?.now() ?? null;
  }

  stop(): void {
    this.detectors?.stop();
    this.inputs.complete();
  }

  /**
   * Redelivered payloads whose readings this partition already committed (the previous owner died between
   * its commit and its acknowledgement): those readings are in the checkpoint already and are dropped.
   */
  private async withoutCommitted(batch: readonly PartitionSubmission[]): Promise<PartitionSubmission[]> {
    const out: PartitionSubmission[] = [];
    for (const s of batch) {
      if (!s.redelivered || s.readings.length === 0) {
        out.push(s);
        continue;
      }
      const tss = s.readings.map((r) => r.ts);
      const stored = await this.deps.repos.ingest.storedReadings(
        s.meterId,
        Math.min(...tss),
        Math.max(...tss),
      );
      const readings = s.readings.filter((r) => !stored.get(r.ts)?.includes(r.totalLiters));
      if (readings.length === s.readings.length) out.push(s);
      // Committed: its readings and its dead letters (they went in the same commit) are dropped.
      else if (readings.length === 0) out.push({ ...s, readings, deadLetters: [] });
      else out.push({ ...s, readings });
    }
    return out;
  }

  private startClock(at: number): void {
    const tick = this.deps.config.detectors.tickIntervalMs;
    // Ticks at multiples of the interval, whoever owns the partition.
    this.clock = new ManualClock(Math.floor(at / tick) * tick);
    this.detectors = startDetectors(this.deps.config, {
      inputs: this.inputs,
      clock: this.clock,
      localTime: this.deps.localTime,
      logger: this.deps.logger,
      store: this.deps.store,
      gridShares: this.deps.gridShares,
    });
    this.detectors.detections.subscribe((d) => this.found.push(d));
    if (this.pendingStates.length > 0) this.detectors.load(this.pendingStates);
    this.pendingStates = [];
    this.clock.advanceTo(at);
  }

  /** Moves the partition's clock to `ts` (never back); returns the clock's time. */
  private advanceTo(ts: number): number {
    if (!this.clock) this.startClock(ts);
    const c = this.clock!;
    if (ts > c.now()) c.advanceTo(ts);
    return c.now();
  }
}

/** A partition's clock and when it last committed (wall time), as the shared store has them. */
export async function readPartitionClock(
  pool: PgPool,
  partition: number,
): Promise<{ clock: number | null; committedAt: number | null } | undefined> {
  const { rows } = await pool.query<{ clock: number | null; committedAt: number | null }>(
    'SELECT clock, committed_at AS "committedAt" FROM cluster_partitions WHERE partition = $1',
    [partition],
  );
  return rows[0];
}

/** The UsageStage's repository inside a partition: state in memory, writes collected for the batch's commit. */
class Ledger {
  cursorValue = 0;
  readonly states = new Map<string, unknown>();
  private events: NormalizerEvent[] = [];
  private buckets: UsageBucket[] = [];
  checkpoint: { cursor: number; states: (readonly [string, unknown])[] } | null = null;

  transaction<T>(fn: () => T): T {
    return fn();
  }
  cursor(): number {
    return this.cursorValue;
  }
  meterState(meterId: string): unknown {
    return this.states.get(meterId);
  }
  saveProcessed(out: ProcessedOutput): void {
    this.events.push(...out.events);
    this.buckets.push(...out.buckets);
  }
  saveCheckpoint(cursor: number, states: Iterable<readonly [string, unknown]>): void {
    this.cursorValue = cursor;
    const list = [...states];
    for (const [id, s] of list) this.states.set(id, s);
    this.checkpoint = { cursor, states: list };
  }
  takeProcessed(): ProcessedOutput {
    const out = { events: this.events, buckets: this.buckets };
    this.events = [];
    this.buckets = [];
    return out;
  }
}
