import { LocalTime } from '../core/local-time.ts';
import type { Rule } from '../detectors/rules/index.ts';
import type { Detection, DetectorInput } from '../core/streams.ts';
import { DetectorEngine } from '../detectors/detector-engine.ts';
import { OutageWatch, type OutageParams } from '../detectors/outage-watch.ts';
import { ruleNeeds } from '../detectors/validate-rules.ts';
import { initialMeterState, normalize, type NormalizerParams } from '../ingest/normalizer.ts';
import type { RecordedReadings } from '../simulators/recorded-readings.ts';

export interface DetectorReplayOptions {
  rules: readonly Rule[];
  /** The service's zone and bucket size (buckets follow them, whatever zone the file was read in). */
  timeZone: string;
  bucketMinutes?: number;
  /** Readings are delivered at the end of their step, as `careflow replay` does; default 15 min. */
  stepMinutes?: number;
  /** Households registered as elderly or living alone (`silent` rules for welfare households). */
  welfare?: (householdId: string) => boolean;
  /** The household of a meter; default the meter id. */
  householdOf?: (meterId: string) => string;
  normalizer?: Partial<Omit<NormalizerParams, 'localTime'>>;
  /**
   * Correlated silence, as the service watches for it (its config's `outage*` settings), with every
   * household in one grid as `--auto-register` registers them; omitted: no outage watch.
   */
  outage?: OutageParams;
}

/**
 * A recording through the real normalizer and the real detector engine, in simulated time, without the
 * broker and the store: each step's readings arrive at the step's end, after a clock tick, as in
 * `careflow replay`. What the live service would have detected, in seconds instead of minutes — for tuning
 * rule defaults on real data and for tests that need every detection of a long recording.
 */
export function replayDetections(recording: RecordedReadings, o: DetectorReplayOptions): Detection[] {
  const bucketMinutes = o.bucketMinutes ?? 60;
  const localTime = new LocalTime(o.timeZone, bucketMinutes);
  const stepMs = (o.stepMinutes ?? 15) * 60_000;
  const params: NormalizerParams = {
    localTime,
    maxGapMs: 360 * 60_000,
    maxFlowLitersPerHour: 3_000,
    resetNearZeroLiters: 100,
    rolloverLiters: null,
    ...o.normalizer,
  };
  const householdOf = o.householdOf ?? ((m: string) => m);
  const engine = new DetectorEngine(localTime, () => o.rules, ruleNeeds([...o.rules]));
  if (o.welfare) engine.setWelfare(o.welfare);
  if (o.outage) engine.setOutageWatch(new OutageWatch(o.outage, () => 'replay'));
  const schedule: { at: number; meterId: string; ts: number; totalLiters: number }[] = [];
  for (const [meterId, list] of recording.meters)
    for (const r of list)
      schedule.push({
        at: Math.floor(r.ts / stepMs) * stepMs + stepMs,
        meterId,
        ts: r.ts,
        totalLiters: r.totalLiters,
      });
  schedule.sort((a, b) => a.at - b.at);
  const meters = new Map<string, ReturnType<typeof initialMeterState>>();
  const out: Detection[] = [];
  let stepAt = schedule.length > 0 ? schedule[0]!.at : 0;
  for (let i = 0; i < schedule.length;) {
    const at = schedule[i]!.at;
    // The clock moves step by step to the end of this step: timers (silence) fire on the way.
    for (; stepAt <= at; stepAt += stepMs) out.push(...engine.apply({ kind: 'tick', now: stepAt - 1 }));
    for (; i < schedule.length && schedule[i]!.at === at; i++) {
      const r = schedule[i]!;
      const householdId = householdOf(r.meterId);
      const res = normalize(meters.get(r.meterId) ?? initialMeterState(), r, params);
      meters.set(r.meterId, res.state);
      const reading: DetectorInput = {
        kind: 'reading',
        householdId,
        meterId: r.meterId,
        ts: r.ts,
        receivedAt: at - 1,
      };
      out.push(...engine.apply(reading));
      for (const b of res.buckets)
        out.push(
          ...engine.apply({
            kind: 'bucket',
            bucket: { householdId, start: b.start, end: b.end, liters: b.liters },
          }),
        );
    }
  }
  return out;
}
