import { z } from 'zod';
import { Timestamp } from '../core/readings.ts';

/**
 * Scenarios: what happens to a household on top of its normal routine. Times are ISO 8601 with an offset
 * or epoch ms; `day` is a local date (YYYY-MM-DD); `wakeAt` a local time (HH:MM). Each has a ground truth
 * (see ground-truth.ts): the alert it should raise, or that it should raise none.
 *
 * Kinds of effect, so that the order of a scenario list does not matter:
 * - the resident stops using water for a span: `fall` (for good), `low-use`, `illness`, `hospital-stay`,
 *   `marked-away`, `no-morning-water`, `late-waking` (until the wake time);
 * - a fixture runs regardless of the resident: `leak`, `burst`, `heavy-use` (and an ill resident's sips,
 *   a late riser's morning routine);
 * - more people live there for some days: `guests`;
 * - the meter misbehaves: `silent` (reports nothing), `meter-reset` (register restarts at zero), `glitch`
 *   (one reading jumps by +248,520 L), `duplicates`, `out-of-order`, `garbage` (payloads careflow refuses).
 */
const MAX_LITERS_PER_HOUR = 3_000;
const MAX_HOURS = 90 * 24;
const LocalDate = z.iso.date({ message: 'expected a local date YYYY-MM-DD' });
const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected local time as HH:MM');
const hours = (min: number, message?: string) => z.number().min(min, message).max(MAX_HOURS);
const minutes = () =>
  z
    .number()
    .gt(0)
    .max(MAX_HOURS * 60);

export const LeakScenario = z.strictObject({
  type: z.literal('leak'),
  start: Timestamp,
  litersPerHour: z.number().gt(0).max(MAX_LITERS_PER_HOUR),
});
export const BurstScenario = z.strictObject({
  type: z.literal('burst'),
  start: Timestamp,
  durationMinutes: minutes(),
  litersPerHour: z.number().min(600, 'a burst runs at least 600 L/h').max(MAX_LITERS_PER_HOUR),
});
export const HeavyUseScenario = z.strictObject({
  type: z.literal('heavy-use'),
  start: Timestamp,
  durationMinutes: minutes(),
  litersPerHour: z.number().min(120, 'heavy use is at least 120 L/h').max(MAX_LITERS_PER_HOUR),
});
export const FallScenario = z.strictObject({ type: z.literal('fall'), start: Timestamp });
export const LowUseScenario = z.strictObject({
  type: z.literal('low-use'),
  start: Timestamp,
  durationHours: hours(24, 'low use lasts at least 24 hours'),
});
export const IllnessScenario = z.strictObject({
  type: z.literal('illness'),
  start: Timestamp,
  durationHours: hours(24, 'an illness lasts at least 24 hours'),
  /** A bedridden resident's few sips and hand washes, spread over the day (outside 06:00–09:00). */
  residualLitersPerDay: z.number().min(0).max(100).default(3),
});
export const HospitalStayScenario = z.strictObject({
  type: z.literal('hospital-stay'),
  start: Timestamp,
  durationHours: hours(24, 'a hospital stay lasts at least 24 hours'),
});
export const MarkedAwayScenario = z.strictObject({
  type: z.literal('marked-away'),
  start: Timestamp,
  durationHours: hours(1),
  reason: z.string().max(200).default('visiting family'),
});
export const NoMorningWaterScenario = z.strictObject({ type: z.literal('no-morning-water'), day: LocalDate });
export const LateWakingScenario = z.strictObject({
  type: z.literal('late-waking'),
  day: LocalDate,
  wakeAt: HHMM,
});
export const GuestsScenario = z.strictObject({
  type: z.literal('guests'),
  day: LocalDate,
  days: z.number().int().min(1).max(60),
  count: z.number().int().min(1).max(8),
});
export const SilentScenario = z.strictObject({
  type: z.literal('silent'),
  start: Timestamp,
  /** Omitted: the meter never reports again. */
  durationMinutes: minutes().optional(),
});
export const MeterResetScenario = z.strictObject({ type: z.literal('meter-reset'), at: Timestamp });
export const GlitchScenario = z.strictObject({
  type: z.literal('glitch'),
  at: Timestamp,
  liters: z.number().gt(0).max(1e9).default(248_520),
});
export const DuplicatesScenario = z.strictObject({
  type: z.literal('duplicates'),
  start: Timestamp,
  durationHours: hours(0.25),
});
export const OutOfOrderScenario = z.strictObject({
  type: z.literal('out-of-order'),
  start: Timestamp,
  durationHours: hours(0.25),
});
export const GarbageScenario = z.strictObject({
  type: z.literal('garbage'),
  start: Timestamp,
  durationHours: hours(0.25),
  /** One refused payload after every this many good messages. */
  everyMessages: z.number().int().min(1).max(1000).default(3),
});

export const Scenario = z.discriminatedUnion('type', [
  LeakScenario,
  BurstScenario,
  HeavyUseScenario,
  FallScenario,
  LowUseScenario,
  IllnessScenario,
  HospitalStayScenario,
  MarkedAwayScenario,
  NoMorningWaterScenario,
  LateWakingScenario,
  GuestsScenario,
  SilentScenario,
  MeterResetScenario,
  GlitchScenario,
  DuplicatesScenario,
  OutOfOrderScenario,
  GarbageScenario,
]);
export type Scenario = z.infer<typeof Scenario>;
export type ScenarioInput = z.input<typeof Scenario>;
export type ScenarioType = Scenario['type'];
export type ScenarioOf<T extends ScenarioType> = Extract<Scenario, { type: T }>;

export const SCENARIO_TYPES = Scenario.options.map((o) => o.shape.type.value) as ScenarioType[];

/** Scenarios that act on the meter (its register or its messages), not on the water drawn. */
export const METER_FAULTS = [
  'silent',
  'meter-reset',
  'glitch',
  'duplicates',
  'out-of-order',
  'garbage',
] as const;
