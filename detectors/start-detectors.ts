import { merge, mergeMap, Observable, Subject, type Subscription } from 'rxjs';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { CareflowError, describeIssues, fieldIssues } from '../core/errors.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import { applyRuleOverrides, DEFAULT_RULES, type Rule } from '../core/rules.ts';
import type { Detection, DetectorInput } from '../core/streams.ts';
import { DetectorEngine } from './detector-engine.ts';
import type { SerializedHouseholdState } from './household-state.ts';
import { maxWindowMinutes, validateRulesForBuckets } from './validate-rules.ts';

export interface DetectorsDeps {
  inputs: Observable<DetectorInput>;
  clock: Clock;
  localTime: LocalTime;
  logger: Logger;
}

export interface Detectors {
  readonly detections: Observable<Detection>;
  readonly engine: DetectorEngine;
  rules(): readonly Rule[];
  /** Restores household states from a checkpoint (before inputs flow). */
  load(states: Map<string, unknown>): void;
  /** Hands the states changed since the last checkpoint to `save`. */
  writeCheckpoint(save: (householdId: string, state: SerializedHouseholdState) => void): number;
  stop(): void;
}

/** The rule set from config: the defaults with `detectors.rules` overrides, validated against the bucket size. */
export function rulesFromConfig(config: Config): Rule[] {
  const { parsed, unknown } = applyRuleOverrides(DEFAULT_RULES, config.detectors.rules);
  const issues = unknown.map((id) => ({ path: `detectors.rules.${id}`, message: `no rule "${id}"` }));
  if (!parsed.success)
    issues.push(
      ...fieldIssues(parsed.error.issues).map((i) => ({ ...i, path: `detectors.rules.${i.path}` })),
    );
  else
    issues.push(
      ...validateRulesForBuckets(parsed.data, config.bucketMinutes).map((i) => ({
        ...i,
        path: `detectors.rules.${i.path}`,
      })),
    );
  if (issues.length > 0 || !parsed.success) {
    throw new CareflowError('ERR_CONFIG_INVALID', `Invalid rules: ${describeIssues(issues)}`, issues);
  }
  return parsed.data;
}

/**
 * The streaming core: one RxJS pipeline over usage inputs and clock ticks, with all household state in one
 * Map inside the engine (not one RxJS group per household).
 */
export function startDetectors(config: Config, deps: DetectorsDeps): Detectors {
  const logger = deps.logger.child({ module: 'detectors' });
  const rules = rulesFromConfig(config);
  const engine = new DetectorEngine(deps.localTime, () => rules, maxWindowMinutes(rules));

  const ticks = new Observable<DetectorInput>((sub) => {
    const h = deps.clock.setInterval(
      () => sub.next({ kind: 'tick', now: deps.clock.now() }),
      config.detectors.tickIntervalMs,
    );
    return () => h.cancel();
  });

  const detections = new Subject<Detection>();
  const subscription: Subscription = merge(deps.inputs, ticks)
    .pipe(
      mergeMap((input) => {
        try {
          return engine.apply(input);
        } catch (err) {
          logger.error({ err, input: input.kind }, 'detector step failed');
          return [];
        }
      }),
    )
    .subscribe(detections);

  return {
    detections,
    engine,
    rules: () => rules,
    load: (states) => engine.load(states),
    writeCheckpoint: (save) => engine.drainDirty(save),
    stop() {
      subscription.unsubscribe();
      detections.complete();
    },
  };
}
