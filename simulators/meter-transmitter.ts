import { z } from 'zod';
import type { LocalTime } from '../core/local-time.ts';
import { DAY_MS, localMinuteToUtc } from './local-day.ts';
import { Random, deriveSeed } from './random.ts';
import type { Scenario } from './scenario-schema.ts';
import { silentSpan } from './scenarios.ts';
import type { SimulatedMeter, SimulatedReading } from './simulated-meter.ts';
import type { Span } from './water-event.ts';

/**
 * How a meter reports: `15min` and `hourly` meters send each reading as it is taken (an always-connected
 * meter); `daily-batch` meters (NB-IoT, LoRaWAN) take a reading every hour and upload the day's readings
 * in one `{ "readings": [...] }` message once a day, at a time of their own between 01:00 and 05:00.
 */
export const MeterMode = z.enum(['15min', 'hourly', 'daily-batch']);
export type MeterMode = z.infer<typeof MeterMode>;

export const MINUTES_PER_READING: Record<MeterMode, number> = { '15min': 15, hourly: 60, 'daily-batch': 60 };

/** One MQTT message a meter sends on its readings topic. */
export interface MeterMessage {
  payload: string | Buffer;
  /** Valid readings it carries (0 for garbage). */
  readings: number;
  kind: 'reading' | 'batch' | 'garbage';
}

/** Anything that hands out the messages a meter sends up to a time. */
export interface MessageSource {
  messagesUntil(t: number): MeterMessage[];
}

export interface TransmitterOptions {
  meter: SimulatedMeter;
  mode: MeterMode;
  seed: number;
  localTime: LocalTime;
  /** Scenarios of the household; the transmission faults among them apply. */
  scenarios?: readonly Scenario[];
  /** Most readings in one batch message (careflow's default limit is 1,000). */
  maxBatchReadings?: number;
}

interface Timed extends MeterMessage {
  at: number;
}

/**
 * Turns a meter's readings into the messages it sends, with the transmission faults of its scenarios:
 * `duplicates` (every message sent twice), `out-of-order` (each message held back until the next one has
 * gone) and `garbage` (a payload careflow must refuse after every few good messages). Deterministic.
 */
export class MeterTransmitter implements MessageSource {
  readonly mode: MeterMode;
  /** Daily-batch meters: local minute of the daily upload. */
  readonly uploadMinute: number;
  private readonly meter: SimulatedMeter;
  private readonly localTime: LocalTime;
  private readonly maxBatch: number;
  private readonly duplicates: Span[];
  private readonly outOfOrder: Span[];
  private readonly garbage: (Span & { every: number })[];
  /** `silent` spans: a daily-batch meter makes no upload in them (its readings wait for the next one). */
  private readonly silent: Span[];
  private pending: SimulatedReading[] = [];
  private held: Timed | null = null;
  private sent = 0;
  private garbageIndex = 0;
  private lastUpload: number;

  constructor(opts: TransmitterOptions) {
    this.mode = opts.mode;
    this.meter = opts.meter;
    this.localTime = opts.localTime;
    this.maxBatch = opts.maxBatchReadings ?? 1000;
    this.uploadMinute = new Random(deriveSeed(opts.seed, 0x75706c64)).int(60, 5 * 60 - 1);
    this.lastUpload = opts.meter.startAt;
    const spans = (type: string) =>
      (opts.scenarios ?? []).flatMap((s) =>
        s.type === type && 'durationHours' in s
          ? [{ start: s.start, end: s.start + s.durationHours * 3_600_000 }]
          : [],
      );
    this.duplicates = spans('duplicates');
    this.silent = (opts.scenarios ?? []).map(silentSpan).filter((x): x is Span => x !== null);
    this.outOfOrder = spans('out-of-order');
    this.garbage = (opts.scenarios ?? []).flatMap((s) =>
      s.type === 'garbage'
        ? [{ start: s.start, end: s.start + s.durationHours * 3_600_000, every: s.everyMessages }]
        : [],
    );
  }

  /** The messages due by `t`, in the order the meter sends them. */
  messagesUntil(t: number): MeterMessage[] {
    const out: Timed[] = [];
    for (const m of this.due(t)) this.emit(m, out);
    if (this.held && !inAny(this.outOfOrder, this.held.at)) {
      out.push(this.held);
      this.held = null;
    }
    return out.map(({ payload, readings, kind }) => ({ payload, readings, kind }));
  }

  /** When the meter last sent (or would have sent) before `t`: for the silent scenario's ground truth. */
  lastTransmissionBefore(t: number): number {
    if (this.mode !== 'daily-batch') return this.meter.lastReportBefore(t);
    const day = this.localTime.dayNumber(t);
    const today = localMinuteToUtc(this.localTime, day, this.uploadMinute);
    return today < t ? today : today - DAY_MS;
  }

  /**
   * The interval between the meter's messages as careflow knows it after the message at `last` (it learns
   * it from arrivals): null before the meter has sent twice.
   */
  intervalKnownAt(last: number): number | null {
    const every = this.mode === 'daily-batch' ? DAY_MS : this.meter.reportEveryMs;
    const first =
      this.mode === 'daily-batch'
        ? this.arrivalOf(this.meter.startAt)
        : this.meter.firstReportFrom(this.meter.startAt);
    return last >= first + every ? every : null;
  }

  /** When careflow receives the meter's first reading taken at or after `t`. */
  arrivalOf(t: number): number {
    const report = this.meter.firstReportFrom(t);
    if (this.mode !== 'daily-batch') return report;
    const upload = localMinuteToUtc(this.localTime, this.localTime.dayNumber(report), this.uploadMinute);
    return upload >= report ? upload : upload + DAY_MS;
  }

  private due(t: number): Timed[] {
    if (this.mode !== 'daily-batch') {
      return this.meter
        .readingsUntil(t)
        .map((r) => ({ at: r.ts, payload: readingJson(r), readings: 1, kind: 'reading' }));
    }
    this.pending.push(...this.meter.readingsUntil(t));
    const out: Timed[] = [];
    for (let day = this.localTime.dayNumber(this.lastUpload); ; day++) {
      const upload = localMinuteToUtc(this.localTime, day, this.uploadMinute);
      if (upload > t) break;
      if (upload <= this.lastUpload) continue;
      this.lastUpload = upload;
      if (inAny(this.silent, upload)) continue;
      const batch = this.pending.filter((r) => r.ts <= upload);
      this.pending = this.pending.filter((r) => r.ts > upload);
      for (let i = 0; i < batch.length; i += this.maxBatch) {
        const chunk = batch.slice(i, i + this.maxBatch);
        const payload = JSON.stringify({
          readings: chunk.map((r) => ({ ts: r.ts, totalLiters: r.totalLiters })),
        });
        out.push({ at: upload, payload, readings: chunk.length, kind: 'batch' });
      }
    }
    return out;
  }

  private emit(m: Timed, out: Timed[]): void {
    const copies = inAny(this.duplicates, m.at) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      if (inAny(this.outOfOrder, m.at)) {
        // Hold one message back and send it after the next: the older reading arrives late.
        if (this.held) {
          out.push(m, this.held);
          this.held = null;
        } else {
          this.held = m;
        }
      } else {
        if (this.held) {
          out.push(this.held);
          this.held = null;
        }
        out.push(m);
      }
    }
    this.sent++;
    const garbage = this.garbage.find((g) => m.at >= g.start && m.at < g.end);
    if (garbage && this.sent % garbage.every === 0) out.push(this.nextGarbage(m.at));
  }

  private nextGarbage(at: number): Timed {
    const payload = garbagePayload(this.garbageIndex++, at);
    return { at, payload, readings: 0, kind: 'garbage' };
  }
}

/** Payloads careflow must refuse (each for its own reason), cycled through by `garbage` scenarios. */
export function garbagePayload(index: number, at: number): string | Buffer {
  const local = new Date(at + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
  const payloads: (string | Buffer)[] = [
    'totalLiters=48211.5',
    JSON.stringify({ ts: local, totalLiters: 100 }),
    JSON.stringify({ ts: Math.floor(at / 1000), totalLiters: 100 }),
    JSON.stringify({ ts: at, totalLiters: -5 }),
    JSON.stringify({ ts: at }),
    JSON.stringify({ readings: [] }),
    Buffer.from([0xff, 0xfe, 0x00, 0x13, 0x37, 0x80]),
    JSON.stringify({ ts: at, totalLiters: '12.5' }),
    '{"ts":' + at + ',"totalLiters":',
  ];
  return payloads[index % payloads.length] as string | Buffer;
}

function readingJson(r: SimulatedReading): string {
  return JSON.stringify({ ts: r.ts, totalLiters: r.totalLiters });
}

function inAny(spans: readonly Span[], t: number): boolean {
  return spans.some((s) => t >= s.start && t < s.end);
}
