import { MINUTE_MS } from './local-day.ts';
import { Random, deriveSeed } from './random.ts';
import { type Scenario, silentSpan } from './scenarios.ts';
import type { Span, WaterEvent } from './water-event.ts';

/** What a meter is measuring: a household model, or anything else that yields events. */
export interface WaterSource {
  events(from: number, to: number): WaterEvent[];
  readonly scenarios?: readonly Scenario[];
}

export interface SimulatedReading {
  ts: number;
  totalLiters: number;
}

export interface SimulatedMeterOptions {
  source: WaterSource;
  seed: number;
  /** When the meter is installed: its register reads `initialLiters` here and counts from here on. */
  startAt: number;
  /** Minutes between reports; default 15. */
  reportEveryMinutes?: number;
  /** Report phase: readings fall at epoch ms ≡ phaseMs (mod the period). Default: seeded, whole seconds. */
  phaseMs?: number;
  /** Register at `startAt`; default: seeded, 10,000–90,000 L. */
  initialLiters?: number;
  /** The register's resolution: readings are the true volume rounded down to a multiple of it. Default 0.001 L. */
  resolutionLiters?: number;
}

const round3 = (liters: number) => Math.round(liters * 1000) / 1000;

/**
 * A meter over a water source: a cumulative register that counts every event exactly (each event's volume
 * spread evenly over its duration), reported every `reportEveryMinutes` at the meter's own phase, rounded
 * down to the register's resolution (real meters count whole liters). Deterministic.
 *
 * Register faults from the source's scenarios: nothing is reported in a `silent` span (the register keeps
 * counting); after a `meter-reset` the register starts again from zero; a `glitch` adds its liters to one
 * reading (the real +248,520 L jumps) and the next reading is right again.
 */
export class SimulatedMeter {
  readonly startAt: number;
  readonly reportEveryMs: number;
  readonly phaseMs: number;
  readonly initialLiters: number;
  private readonly source: WaterSource;
  readonly resolutionLiters: number;
  private readonly silent: Span[];
  private readonly resets: number[];
  private readonly glitches: { at: number; liters: number; done: boolean }[];
  /** Subtracted from the register since the last reset. */
  private resetOffset = 0;
  /** Register (exact, unrounded) at `cursor`, the end of everything counted so far. */
  private register: number;
  private cursor: number;
  private nextTs: number;

  constructor(opts: SimulatedMeterOptions) {
    const minutes = opts.reportEveryMinutes ?? 15;
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 24 * 60) {
      throw new RangeError('reportEveryMinutes must be a whole number of minutes between 1 and 1440');
    }
    const rng = new Random(deriveSeed(opts.seed, 0x6d65746572));
    this.reportEveryMs = minutes * MINUTE_MS;
    this.phaseMs = mod(opts.phaseMs ?? rng.int(0, this.reportEveryMs / 1000 - 1) * 1000, this.reportEveryMs);
    this.initialLiters = round3(opts.initialLiters ?? rng.uniform(10_000, 90_000));
    this.source = opts.source;
    this.resolutionLiters = opts.resolutionLiters ?? 0.001;
    if (!(this.resolutionLiters > 0)) throw new RangeError('resolutionLiters must be positive');
    const scenarios = opts.source.scenarios ?? [];
    this.silent = scenarios.map(silentSpan).filter((s): s is Span => s !== null);
    this.resets = scenarios.flatMap((s) => (s.type === 'meter-reset' ? [s.at] : [])).sort((a, b) => a - b);
    this.glitches = scenarios.flatMap((s) =>
      s.type === 'glitch' ? [{ at: s.at, liters: s.liters, done: false }] : [],
    );
    this.startAt = opts.startAt;
    this.register = this.initialLiters;
    this.cursor = opts.startAt;
    this.nextTs = opts.startAt + mod(this.phaseMs - opts.startAt, this.reportEveryMs);
  }

  /** Register (liters, at the meter's resolution) at the last report time passed so far. */
  get totalLiters(): number {
    return this.reading(this.register - this.resetOffset);
  }

  /** The first report time at or after `t`. */
  firstReportFrom(t: number): number {
    const last = this.lastReportBefore(t);
    return last + this.reportEveryMs;
  }

  /** The last report time strictly before `t` (whether or not it was silent). */
  lastReportBefore(t: number): number {
    const first = this.startAt + mod(this.phaseMs - this.startAt, this.reportEveryMs);
    return first + Math.floor((t - 1 - first) / this.reportEveryMs) * this.reportEveryMs;
  }

  /** When the next report falls due. */
  get nextReadingAt(): number {
    return this.nextTs;
  }

  /** The not-yet-returned readings with ts ≤ t, oldest first (none inside a silent span). */
  readingsUntil(t: number): SimulatedReading[] {
    if (t < this.nextTs) return [];
    const count = Math.floor((t - this.nextTs) / this.reportEveryMs) + 1;
    const usage = this.usagePerReport(count);
    const readings: SimulatedReading[] = [];
    for (let i = 0; i < count; i++) {
      const before = this.register;
      this.register += usage[i] as number;
      const ts = this.nextTs + i * this.reportEveryMs;
      if (this.resets.some((at) => at > ts - this.reportEveryMs && at <= ts)) this.resetOffset = before;
      let total = this.reading(this.register - this.resetOffset);
      const glitch = this.glitches.find((g) => !g.done && g.at <= ts);
      if (glitch && !this.isSilent(ts)) {
        glitch.done = true;
        total += glitch.liters;
      }
      if (!this.isSilent(ts)) readings.push({ ts, totalLiters: total });
    }
    this.cursor = this.nextTs + (count - 1) * this.reportEveryMs;
    this.nextTs = this.cursor + this.reportEveryMs;
    return readings;
  }

  /** Liters drawn before each of the next `count` reports: cell i ends at report i, cell 0 starts at the cursor. */
  private usagePerReport(count: number): Float64Array {
    const usage = new Float64Array(count);
    const end = this.nextTs + (count - 1) * this.reportEveryMs;
    const cellStart = (i: number) => (i === 0 ? this.cursor : this.nextTs + (i - 1) * this.reportEveryMs);
    const cellEnd = (i: number) => this.nextTs + i * this.reportEveryMs;
    for (const e of this.source.events(this.cursor, end)) {
      const lo = Math.max(e.start, this.cursor);
      const hi = Math.min(e.end, end);
      if (hi <= lo) continue;
      const perMs = e.liters / (e.end - e.start);
      let i = lo < this.nextTs ? 0 : Math.floor((lo - this.nextTs) / this.reportEveryMs) + 1;
      for (; i < count && cellStart(i) < hi; i++) {
        const overlap = Math.min(hi, cellEnd(i)) - Math.max(lo, cellStart(i));
        if (overlap > 0) usage[i] = (usage[i] as number) + overlap * perMs;
      }
    }
    return usage;
  }

  private reading(register: number): number {
    if (this.resolutionLiters === 0.001) return round3(register);
    return round3(Math.floor(register / this.resolutionLiters + 1e-9) * this.resolutionLiters);
  }

  private isSilent(ts: number): boolean {
    return this.silent.some((s) => ts >= s.start && ts < s.end);
  }
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}
