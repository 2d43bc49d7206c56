import type { LocalTime } from '../core/local-time.ts';
import type { Rule } from './rules/index.ts';
import type { Detection, DetectorInput } from '../core/streams.ts';
import type { StateBatch } from '../core/store/checkpoint-reader.ts';
import {
  encodeHouseholdState,
  restoreBinary,
  restoreHouseholdState,
  type SerializedHouseholdState,
} from './household-checkpoint.ts';
import { chunkBytes, HouseholdState, StateChunk } from './household-state.ts';
import { step, type AwayLookup, type StepContext } from './step.ts';
import type { OutageWatch } from './outage-watch.ts';
import type { RuleNeeds } from './validate-rules.ts';

/** Which rules apply to a household (the rule hierarchy plugs in here). */
export type RulesFor = (householdId: string, slot?: number) => readonly Rule[];

/** A meter's declared interval between messages (ms; the registry), or null. */
export type DeclaredInterval = (meterId: string) => number | null;

/** Households per chunk of state: growth allocates one chunk at a time, never copies the others. */
export const CHUNK_SIZE = 4096;

/**
 * Holds every household's detector state in chunks of typed arrays (one slot per household, see
 * household-state.ts) and routes each input to the pure `step`. Each household's rules are resolved once
 * per rules version and cached; the engine keeps track of which households changed since the last checkpoint.
 */
export class DetectorEngine {
  private readonly slots = new Map<string, number>();
  private readonly ids: string[] = [];
  private readonly chunks: StateChunk[] = [];
  private readonly dirty = new Set<number>();
  /** While a restore runs beside the inputs: a household's checkpointed state, read when first touched. */
  private pending: ((householdId: string) => unknown) | undefined;
  /** Memory laid out for the next chunks (`reserve`), for the capacities it was laid out for. */
  private reserved: { buffer: ArrayBuffer; offset: number; ring: number; days: number } | undefined;
  /** Per slot: its rules for the current version (undefined = resolve again). */
  private ruleCache: (readonly Rule[] | undefined)[] = [];
  private ringCapacity: number;
  private historyDays: number;
  private readonly handle: HouseholdState;
  private readonly ctx: StepContext;
  private outages: OutageWatch | undefined;
  rulesVersion = 1;

  constructor(
    private readonly localTime: LocalTime,
    private rulesFor: RulesFor,
    needs: RuleNeeds,
    away?: AwayLookup,
    private readonly declaredInterval?: DeclaredInterval,
  ) {
    this.ringCapacity = this.bucketsFor(needs.windowMinutes);
    this.historyDays = needs.historyDays;
    this.handle = new HouseholdState(new StateChunk(0, this.ringCapacity, this.historyDays), 0);
    this.ctx = { localTime, rulesVersion: this.rulesVersion, away };
  }

  apply(input: DetectorInput): Detection[] {
    const out: Detection[] = [];
    this.ctx.rulesVersion = this.rulesVersion;
    if (input.kind === 'tick') {
      // Correlated silence first: an outage found now keeps this tick's silences it explains quiet.
      this.outages?.check(input.now, this.households(), this.rulesVersion, out);
      for (let slot = 0; slot < this.ids.length; slot++) {
        const before = out.length;
        step(this.ids[slot]!, this.at(slot), input, this.rulesOf(slot), this.ctx, out);
        if (out.length > before) this.dirty.add(slot);
      }
      return out;
    }
    const hid = input.kind === 'bucket' ? input.bucket.householdId : input.householdId;
    const slot = this.slotOf(hid);
    this.dirty.add(slot);
    const hInput =
      input.kind === 'bucket'
        ? {
            kind: 'bucket' as const,
            start: input.bucket.start,
            end: input.bucket.end,
            liters: input.bucket.liters,
          }
        : {
            kind: 'reading' as const,
            ts: input.ts,
            receivedAt: input.receivedAt,
            // Looked up once per household: only until its first reading has been noted.
            declaredIntervalMs:
              this.declaredInterval && this.at(slot).lastReceivedAt === null
                ? this.declaredInterval(input.meterId)
                : null,
          };
    return step(hid, this.at(slot), hInput, this.rulesOf(slot), this.ctx, out);
  }

  /** Watches for outages (many meters of a grid quiet together) on every tick. */
  setOutageWatch(watch: OutageWatch): void {
    this.outages = watch;
    this.ctx.outage = (hid, last) => watch.explains(hid, last);
  }

  private *households(): Generator<[string, HouseholdState, number]> {
    for (let slot = 0; slot < this.ids.length; slot++) yield [this.ids[slot]!, this.at(slot), slot];
  }

  /** Which households are welfare households (elderly or living alone), for `silent` rules that watch only them. */
  setWelfare(welfare: (householdId: string) => boolean): void {
    this.ctx.welfare = welfare;
  }

  /** Resolves every household's rules again (a household may have moved to another grid). */
  forgetRules(): void {
    this.ruleCache.fill(undefined);
  }

  /** Replaces the rules (applied from the next input on); the state grows if a rule needs more history. */
  setRules(rulesFor: RulesFor, needs: RuleNeeds, version = this.rulesVersion + 1): void {
    this.rulesFor = rulesFor;
    this.rulesVersion = version;
    this.ruleCache = new Array<readonly Rule[] | undefined>(this.ids.length).fill(undefined);
    const ring = Math.max(this.ringCapacity, this.bucketsFor(needs.windowMinutes));
    const days = Math.max(this.historyDays, needs.historyDays);
    if (ring !== this.ringCapacity || days !== this.historyDays) {
      this.ringCapacity = ring;
      this.historyDays = days;
      for (const c of this.chunks) c.reshape(ring, days);
    }
  }

  /**
   * Restores checkpointed households (binary, or the JSON of older checkpoints), one at a time as they come; a
   * batch of the reader thread is read in place. While a restore is pending (`restorePending`), households the
   * engine already holds are skipped: they were restored when first touched and may have changed since.
   */
  load(states: Iterable<[string, unknown]>): void {
    if (states instanceof Object && 'ends' in states && 'json' in states) {
      this.loadRows(states as StateBatch, 0, (states as StateBatch).ids.length);
      return;
    }
    for (const [hid, v] of states) {
      const known = this.slots.get(hid);
      if (known !== undefined && this.pending !== undefined) continue;
      restoreHouseholdState(this.at(known ?? this.newSlot(hid)), v as Uint8Array | SerializedHouseholdState);
    }
  }

  /** Restores rows `first` to `last` (excluded) of a reader thread's batch, in place (see `load`). */
  loadRows(b: StateBatch, first: number, last: number): void {
    const { ids, bytes, ends, json } = b;
    if (first === 0 && b.total !== undefined) this.reserve(b.total);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let from = first === 0 ? 0 : ends[first - 1]!;
    for (let k = first; k < last; k++) {
      const end = ends[k]!;
      const hid = ids[k]!;
      const known = this.slots.get(hid);
      if (known === undefined || this.pending === undefined) {
        const s = this.at(known ?? this.newSlot(hid));
        const v = json.get(k);
        if (v === undefined) restoreBinary(s, bytes, view, from, end);
        else restoreHouseholdState(s, v as SerializedHouseholdState);
      }
      from = end;
    }
  }

  /**
   * Starts a restore that runs while inputs flow: until `restoreDone`, a household the engine does not hold yet
   * is restored from `checkpointOf` (its checkpointed state, undefined: none) when first touched, and `load`
   * skips households already held. Per household the order stays: its checkpoint first, then its inputs.
   */
  restorePending(checkpointOf: (householdId: string) => unknown): void {
    this.pending = checkpointOf;
  }

  restoreDone(): void {
    this.pending = undefined;
  }

  /** Hands each household changed since the last call to `save`, in the binary checkpoint form. */
  drainDirty(save: (householdId: string, state: Uint8Array) => void): number {
    let n = 0;
    for (const slot of this.dirty) {
      save(this.ids[slot]!, encodeHouseholdState(this.at(slot)));
      n++;
    }
    this.dirty.clear();
    return n;
  }

  /** The household's slot (undefined: never seen); slots are numbered from 0 in the order households came. */
  slotIndex(householdId: string): number | undefined {
    return this.slots.get(householdId);
  }

  householdCount(): number {
    return this.ids.length;
  }

  /** A handle on the household's state (its own handle object; undefined if never seen). */
  state(householdId: string): HouseholdState | undefined {
    const slot = this.slots.get(householdId) ?? this.touchPending(householdId);
    if (slot === undefined) return undefined;
    return new HouseholdState(this.chunks[Math.floor(slot / CHUNK_SIZE)]!, slot % CHUNK_SIZE);
  }

  /** The rules the household is currently evaluated with. */
  rulesOfHousehold(householdId: string): readonly Rule[] {
    const slot = this.slots.get(householdId);
    return slot === undefined ? this.rulesFor(householdId) : this.rulesOf(slot);
  }

  capacities(): { ringCapacity: number; historyDays: number } {
    return { ringCapacity: this.ringCapacity, historyDays: this.historyDays };
  }

  private slotOf(hid: string): number {
    return this.slots.get(hid) ?? this.touchPending(hid) ?? this.newSlot(hid);
  }

  /** While a restore is pending: the household's slot, restored from its checkpoint (undefined: it has none). */
  private touchPending(hid: string): number | undefined {
    if (this.pending === undefined) return undefined;
    const v = this.pending(hid);
    if (v === undefined) return undefined;
    const slot = this.newSlot(hid);
    restoreHouseholdState(this.at(slot), v as Uint8Array | SerializedHouseholdState);
    return slot;
  }

  /**
   * Lays out the chunks for `households` more households in one allocation: a restore that knows how many
   * come does not grow the heap's external memory chunk by chunk (each step of it costs a garbage collection).
   */
  private reserve(households: number): void {
    const free = this.chunks.length * CHUNK_SIZE - this.ids.length;
    const chunks = Math.ceil((households - free) / CHUNK_SIZE);
    if (chunks <= 1) return;
    const bytes = chunkBytes(CHUNK_SIZE, this.ringCapacity, this.historyDays);
    try {
      this.reserved = {
        buffer: new ArrayBuffer(chunks * bytes),
        offset: 0,
        ring: this.ringCapacity,
        days: this.historyDays,
      };
    } catch {
      this.reserved = undefined; // no room for it at once: chunk by chunk
    }
  }

  private newChunk(): StateChunk {
    const r = this.reserved;
    if (r && r.ring === this.ringCapacity && r.days === this.historyDays) {
      const chunk = new StateChunk(CHUNK_SIZE, this.ringCapacity, this.historyDays, r);
      r.offset += chunkBytes(CHUNK_SIZE, r.ring, r.days);
      if (r.offset >= r.buffer.byteLength) this.reserved = undefined;
      return chunk;
    }
    this.reserved = undefined;
    return new StateChunk(CHUNK_SIZE, this.ringCapacity, this.historyDays);
  }

  private newSlot(hid: string): number {
    const slot = this.ids.length;
    if (slot % CHUNK_SIZE === 0) this.chunks.push(this.newChunk());
    this.slots.set(hid, slot);
    this.ids.push(hid);
    this.ruleCache.push(undefined);
    return slot;
  }

  /** The shared handle pointed at `slot` (valid until the next call). */
  private at(slot: number): HouseholdState {
    this.handle.c = this.chunks[Math.floor(slot / CHUNK_SIZE)]!;
    this.handle.i = slot % CHUNK_SIZE;
    return this.handle;
  }

  private rulesOf(slot: number): readonly Rule[] {
    let rules = this.ruleCache[slot];
    if (rules === undefined) {
      rules = this.rulesFor(this.ids[slot]!, slot);
      this.ruleCache[slot] = rules;
    }
    return rules;
  }

  private bucketsFor(minutes: number): number {
    return Math.max(1, Math.ceil((Math.max(60, minutes) * 60_000) / this.localTime.bucketMs));
  }
}
