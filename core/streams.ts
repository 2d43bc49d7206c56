import type { Evidence } from './alerts.ts';
import type { RuleAudience, Severity } from './rules.ts';

/**
 * The typed events modules exchange. Ingest emits readings and usage; detectors emit detections;
 * the notifier turns detections into alerts. No module reaches into another's internals.
 */

/** A reading durably committed to the inbox (and acknowledged to the meter). */
export interface AcceptedReading {
  /** Inbox sequence number: total order of arrival. */
  seq: number;
  meterId: string;
  householdId: string;
  ts: number;
  totalLiters: number;
  /** Clock time at arrival (wall clock live, simulated time in simulation). */
  receivedAt: number;
}

/** A closed local-time bucket of one household. `liters === null` means unknown (gap or no coverage). */
export interface UsageBucket {
  householdId: string;
  start: number;
  end: number;
  liters: number | null;
}

/** What a meter's reading did to the normalizer, besides producing usage. */
export type NormalizerEventKind =
  'accepted' | 'duplicate' | 'late' | 'glitch-flow' | 'glitch-drop' | 'reset' | 'rollover' | 'rebase' | 'gap';

export interface NormalizerEvent {
  meterId: string;
  householdId: string;
  kind: NormalizerEventKind;
  ts: number;
  detail: Record<string, number | string | null>;
}

/** The inputs the detector core consumes, in one ordered stream. */
export type DetectorInput =
  | { kind: 'bucket'; bucket: UsageBucket }
  | { kind: 'reading'; householdId: string; meterId: string; ts: number; receivedAt: number }
  | { kind: 'tick'; now: number };

export type DetectionKind = 'opened' | 'updated' | 'cleared';

export interface Detection {
  /** Deterministic: the same input history yields the same key, so re-processing is idempotent. */
  key: string;
  householdId: string;
  ruleId: string;
  kind: DetectionKind;
  /** Event time the detection refers to (end of the evidence window, or the silence deadline). */
  at: number;
  evidence: Evidence;
  /**
   * The rule as it stood when it fired. `ruleType` names one of the detectors' rule types (their catalogue,
   * detectors/rules, which core does not import).
   */
  ruleType: string;
  severity: Severity;
  audience: RuleAudience;
  autoResolve: boolean;
  /**
   * The rule fires again within its re-open window after its alert cleared: the notifier re-opens that
   * alert (on its timeline) instead of opening a new one.
   */
  reopen?: boolean;
  /**
   * A welfare rule became true while another welfare rule of the household already was (one welfare
   * episode, detectors/welfare-episode.ts): the notifier writes this detection to the timeline of the alert
   * `ruleId` opened at `since` instead of opening (or updating, or clearing) an alert of its own; `ends`: the
   * episode is over and that alert clears.
   */
  episode?: { ruleId: string; since: number; ends?: boolean };
}

/** Sends one message to an MQTT topic; resolves once the broker has taken it. */
export interface MqttPublisher {
  publish(topic: string, payload: string, qos: 0 | 1): Promise<void>;
}
