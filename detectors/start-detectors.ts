import { merge, Observable, Subject, type Subscription } from 'rxjs';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { CareflowError, describeIssues, fieldIssues } from '../core/errors.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import { type RuleAdmin } from '../core/rules.ts';
import { applyRuleOverrides, type Rule } from './rules/index.ts';
import { DEFAULT_RULES } from './rules/default-rules.ts';
import type { Detection, DetectorInput } from '../core/streams.ts';
import { StateBatch } from '../core/store/checkpoint-reader.ts';
import { AwayBook, type AwayTables } from './away-book.ts';
import { ConsentGate, type ConsentTables } from './consent-gate.ts';
import { DetectorEngine } from './detector-engine.ts';
import { HouseholdDirectory, type DirectoryTables } from './household-directory.ts';
import { learnedInfo } from './learned-info.ts';
import { OutageWatch, type GridShares } from './outage-watch.ts';
import { RuleBook, type RuleBookTables } from './rule-book.ts';
import { ruleNeeds, validateRulesForBuckets } from './validate-rules.ts';

/** The parts of the embedded store the detectors use: rules, away mode, consent and the registry. */
export type DetectorTables = RuleBookTables & AwayTables & ConsentTables & DirectoryTables;

export interface DetectorsDeps {
  inputs: Observable<DetectorInput>;
  clock: Clock;
  localTime: LocalTime;
  logger: Logger;
  /** With a store: the rule hierarchy and away mode (without: the config file's rules for everyone). */
  store?: DetectorTables;
  /** This engine holds a share of each grid (a cluster partition): the rest of each grid, for the outage watch. */
  gridShares?: GridShares;
}

export interface Detectors {
  readonly detections: Observable<Detection>;
  readonly engine: DetectorEngine;
  /** The global rules (the config file's, with the global scope's overrides). */
  rules(): readonly Rule[];
  /** The rule hierarchy (with a store). */
  readonly ruleBook?: RuleBook;
  /** The rule hierarchy as the API sees it: effective rules also show what was learned. */
  readonly admin?: RuleAdmin;
  readonly away?: AwayBook;
  /** Consent per household (with a store): which rules may watch whom. */
  readonly consent?: ConsentGate;
  /** A household's consent changed: its rules apply from the next input on. */
  consentChanged(householdId: string): void;
  /** Restores household states from a checkpoint (before inputs flow). */
  load(states: Iterable<[string, unknown]>): void;
  /**
   * Restores household states arriving in batches (read by another thread): clock ticks that fall due
   * meanwhile are skipped, so that no silence is judged on a half-restored state or before the inbox is
   * re-processed; the next tick after start-up looks at the time as it is then. With `checkpointOf` (a
   * household's checkpointed state, undefined: none) inputs may flow meanwhile: a household not restored yet
   * is restored from it when first touched, and its batch row is skipped later.
   */
  loadBatches(
    batches: AsyncIterable<Iterable<[string, unknown]>>,
    checkpointOf?: (householdId: string) => unknown,
  ): Promise<void>;
  /** Hands the states changed since the last checkpoint to `save`. */
  writeCheckpoint(save: (householdId: string, state: Uint8Array) => void): number;
  stop(): void;
}

/** Households restored between two turns of the event loop while the service takes input (a few ms). */
const RESTORE_SLICE = 512;

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
 * The streaming core: one RxJS pipeline over usage inputs and clock ticks, with all household state inside
 * the engine (typed-array chunks, not one RxJS group per household). A rule change through the rule book
 * reaches the engine at once: the next input is evaluated with the new rules.
 */
export function startDetectors(config: Config, deps: DetectorsDeps): Detectors {
  const logger = deps.logger.child({ module: 'detectors' });
  const configRules = rulesFromConfig(config);
  const book = deps.store
    ? new RuleBook(deps.store, DEFAULT_RULES, config.detectors.rules, config.bucketMinutes)
    : undefined;
  const away = deps.store ? AwayBook.load(deps.store) : undefined;
  const consent = deps.store ? new ConsentGate(deps.store, config.privacy) : undefined;
  // Each household's place, grid and welfare flag, kept per engine slot (read in one pass when there are many).
  const directory =
    deps.store &&
    new HouseholdDirectory(
      deps.store,
      (hid) => engine.slotIndex(hid),
      // Not while a restore runs (the one-pass read of the registry waits until every household is held).
      () => (restoring ? 0 : engine.householdCount()),
    );
  // The rules a household has not consented to are handed to the engine disabled.
  const gated = (b: RuleBook, hid: string, slot?: number) => {
    const rules = b.rulesForPlace(hid, directory?.place(hid, slot));
    return consent ? consent.apply(hid, rules) : rules;
  };
  const engine: DetectorEngine = book
    ? new DetectorEngine(
        deps.localTime,
        (hid, slot) => gated(book, hid, slot),
        book.needs(),
        away?.lookup,
        (meterId) => {
          const every = deps.store?.registry.meter(meterId)?.reportEveryMinutes ?? null;
          return every === null ? null : every * 60_000;
        },
      )
    : new DetectorEngine(deps.localTime, () => configRules, ruleNeeds(configRules));
  // Welfare households (elderly or living alone): `silent` rules that watch only them.
  if (directory) engine.setWelfare((hid) => directory.welfare(hid));
  if (directory && config.detectors.outageMinMeters > 0) {
    engine.setOutageWatch(
      new OutageWatch(
        {
          minMeters: config.detectors.outageMinMeters,
          minShare: config.detectors.outageMinShare,
          withinMinutes: config.detectors.outageWithinMinutes,
        },
        (hid, slot) => directory.grid(hid, slot),
        deps.gridShares,
      ),
    );
  }
  if (book) {
    engine.rulesVersion = book.version();
    book.onChange((version) => {
      engine.setRules((hid, slot) => gated(book, hid, slot), book.needs(), version);
      logger.info({ rulesVersion: version }, 'rules changed');
    });
  }
  // Households' places (grid, community, street) decide their rules, and `awayUntil` their away marks:
  // re-read them when the registry changes while the service runs (`careflow import`), at every tick.
  let registryRevision = deps.store?.registry.revision();
  const followRegistry = () => {
    // Rules changed through another connection (a cluster worker pulled the shared rules): the book's listener
    // above hands them to the engine.
    book?.followStore();
    if (consent?.followStore()) engine.forgetRules();
    const revision = deps.store?.registry.revision();
    if (revision === registryRevision) return;
    registryRevision = revision;
    engine.forgetRules();
    directory?.forget();
    if (deps.store) away?.refresh(deps.store);
  };
  const ticks = new Observable<DetectorInput>((sub) => {
    const h = deps.clock.setInterval(
      () => sub.next({ kind: 'tick', now: deps.clock.now() }),
      config.detectors.tickIntervalMs,
    );
    return () => h.cancel();
  });
  const detections = new Subject<Detection>();
  let restoring = false;
  let stopped = false;
  // Each input's detections go out in order before the next input is taken. A plain subscriber, not mergeMap
  // over each input's array: that subscribed an inner observable per input (two per reading), about 5 % of the
  // service's CPU under batches of readings, plus its garbage.
  const subscription: Subscription = merge(deps.inputs, ticks).subscribe({
    next(input) {
      let out: Detection[];
      try {
        if (input.kind === 'tick') {
          if (restoring) return;
          followRegistry();
        }
        out = engine.apply(input);
      } catch (err) {
        logger.error({ err, input: input.kind }, 'detector step failed');
        return;
      }
      for (let i = 0; i < out.length; i++) detections.next(out[i]!);
    },
    error: (err: unknown) => detections.error(err),
    complete: () => detections.complete(),
  });
  const admin: RuleAdmin | undefined = book && {
    version: () => book.version(),
    overrides: (scope) => book.overrides(scope),
    set: (scope, changes, by, stored) => book.set(scope, changes, by, stored),
    history: (scope, limit) => book.history(scope, limit),
    effective: (hid) => {
      const e = book.effective(hid);
      const s = engine.state(hid);
      const learned = s && learnedInfo(s, engine.rulesOfHousehold(hid), deps.localTime);
      return learned ? { ...e, learned: learned as unknown as Record<string, unknown> } : e;
    },
  };
  return {
    detections,
    engine,
    rules: () => (book ? book.rulesFor('') : configRules),
    ruleBook: book,
    admin,
    away,
    consent,
    consentChanged(householdId) {
      consent?.reload(householdId);
      engine.forgetRules();
    },
    load: (states) => engine.load(states),
    async loadBatches(batches, checkpointOf) {
      restoring = true;
      if (checkpointOf) engine.restorePending(checkpointOf);
      try {
        for await (const batch of batches) {
          if (stopped) break;
          if (!checkpointOf || !(batch instanceof StateBatch)) {
            engine.load(batch);
            continue;
          }
          // While the service takes input: a slice at a time, readings and their acknowledgements in between.
          for (let from = 0; from < batch.ids.length && !stopped; from += RESTORE_SLICE) {
            engine.loadRows(batch, from, Math.min(batch.ids.length, from + RESTORE_SLICE));
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
        // Should it fail, households not restored yet stay restored when first touched: none is judged or
        // checkpointed from an empty state over its stored one.
        engine.restoreDone();
      } finally {
        restoring = false;
      }
    },
    writeCheckpoint: (save) => engine.drainDirty(save),
    stop() {
      stopped = true;
      subscription.unsubscribe();
      detections.complete();
    },
  };
}
