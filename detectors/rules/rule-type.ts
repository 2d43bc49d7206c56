import type { z } from 'zod';
import type { Alert, AlertText, Evidence } from '../../core/alerts.ts';
import type { FieldIssue } from '../../core/errors.ts';
import type { RuleEnvelope } from '../../core/rules.ts';
import type { Detection } from '../../core/streams.ts';
import type { HouseholdState } from '../household-state.ts';
import type { StepContext } from '../step-context.ts';

/** A bucket that just closed, as the detector core hands it to each rule (reused: read it, do not keep it). */
export interface ClosedBucket {
  start: number;
  end: number;
  /** Its use in milliliters (`UNKNOWN_ML`: no data). */
  ml: number;
  /** Local day number of its start, and its end as minutes of the local day. */
  day: number;
  endMinute: number;
  bucketMinutes: number;
}

/** What the detectors must keep per household for a rule: bucket history and days of hourly history. */
export interface RuleNeeds {
  windowMinutes: number;
  historyDays: number;
  /**
   * How long an alert can stay open after its condition last held (its clear-hold): a replay that starts
   * later than this before a period may not know of an alert the live service still holds open. Default 0.
   */
  holdMinutes?: number;
}

/** A household's peak window as people read it (`GET /api/rules/effective`, `learned.peaks`). */
export interface LearnedPeak {
  start: string;
  end: string;
  source: 'learned' | 'fallback' | 'fixed';
  completeDays: number;
}

/**
 * One rule type, the way rxjs has one operator per file: a module detectors/rules/<type>.ts exports one of
 * these, with everything about the type — its schema and defaults, when its condition holds and the
 * evidence it records, what it needs, how it is validated beyond its schema, and the message its alerts
 * open with — and detectors/rules/index.ts lists it. Nothing else in careflow switches on a rule's type.
 */
export interface RuleTypeModule<
  R extends RuleEnvelope = RuleEnvelope,
  S extends z.ZodType<R> = z.ZodType<R>,
> {
  readonly type: R['type'];
  /** The whole rule (the shared envelope, the type, the params with their defaults). */
  readonly schema: S;
  /** The params on their own (the rule hierarchy checks one override parameter at a time). */
  readonly params: z.ZodObject;
  /**
   * `event`: evaluated on closed buckets, in event time, so a backtest over stored buckets replays it;
   * `wall`: on the arrival of readings and the service clock (a backtest cannot replay it).
   */
  readonly clock: 'event' | 'wall';
  /** What a household must keep for this rule (disabled rules count: their history is ready when enabled). */
  needs(rule: R): RuleNeeds;
  /** What the schema alone cannot check, given the bucket size; `at(field)` is the issue's path. */
  validate(rule: R, bucketMinutes: number, at: (field: string) => string): FieldIssue[];
  /** A bucket closed (called for enabled rules only). */
  onBucket?(
    hid: string,
    s: HouseholdState,
    rule: R,
    b: ClosedBucket,
    ctx: StepContext,
    out: Detection[],
  ): void;
  /** A reading arrived (before the household's reading times are updated). */
  onReading?(
    hid: string,
    s: HouseholdState,
    rule: R,
    r: { ts: number; receivedAt: number },
    ctx: StepContext,
    out: Detection[],
  ): void;
  /** The service clock ticked. */
  onTick?(hid: string, s: HouseholdState, rule: R, now: number, ctx: StepContext, out: Detection[]): void;
  /** What the rule learned about the household by local day `day`: its peak window, for a type that has one. */
  learnedPeak?(s: HouseholdState, rule: R, day: number): LearnedPeak;
  /** The message an alert of this type opens with, from the detection's evidence. */
  openedText(
    audience: Alert['audience'],
    address: string,
    evidence: Evidence,
    localTime: (ms: number) => string,
  ): AlertText;
}
