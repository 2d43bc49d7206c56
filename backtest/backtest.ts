import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../api/define-route.ts';
import { awayRoutes } from '../api/routes/away.ts';
import { backtestRoutes } from '../api/routes/backtest.ts';
import { ruleRoutes } from '../api/routes/rules.ts';
import type { BacktestReport, BacktestRequest, Backtester, DidFire, WouldFire } from '../core/backtest.ts';
import { MAX_BACKTEST_DAYS, scopeOfRef } from '../core/backtest.ts';
import { CareflowError } from '../core/errors.ts';
import type { LocalTime } from '../core/local-time.ts';
import { BacktestRepo, type LiveAlert } from '../core/store/backtest-repo.ts';
import type { Store } from '../core/store/store.ts';
import type { Detection } from '../core/streams.ts';
import { AwayBook, type AwayTables } from '../detectors/away-book.ts';
import type { ConsentGate } from '../detectors/consent-gate.ts';
import { createHouseholdState } from '../detectors/household-state.ts';
import { replayHousehold } from '../detectors/replay.ts';
import { scopeNotFound, type RuleBook } from '../detectors/rule-book.ts';
import { ruleTypeOf } from '../detectors/rules/index.ts';
import type { Detectors } from '../detectors/start-detectors.ts';
import { differences, pairAlerts, sentence } from './backtest-report.ts';

type RouteRegistrar = (api: FastifyInstance, ctx: ApiContext) => void;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** A long backtest hands the event loop back this often (the API keeps answering). */
const YIELD_EVERY_MS = 25;

/** The parts of the embedded store a backtest reads: the rule scopes, away spans and the stored history. */
export type BacktestTables = Pick<Store, 'rules' | 'db'> & AwayTables;

export interface BacktestDeps {
  store: BacktestTables;
  book: RuleBook;
  localTime: LocalTime;
  /** Consent as the live detectors apply it (the rules a household has not consented to stay disabled). */
  consent?: ConsentGate;
  /** Where stored buckets and live alerts are read: the embedded store (default), or a cluster's PostgreSQL. */
  history?: BacktestHistory;
}

/** What a backtest replays and compares with: a household's stored buckets and the alerts the live service raised. */
export interface BacktestHistory {
  /** [start, end, liters | null] rows, oldest first. */
  buckets(householdId: string, from: number, to: number): BucketRows | Promise<BucketRows>;
  alerts(householdId: string, from: number, to: number): LiveAlert[] | Promise<LiveAlert[]>;
}
type BucketRows = [number, number, number | null][];

export function createBacktester(deps: BacktestDeps): Backtester {
  return { run: (request, opts) => runBacktest(deps, request, opts) };
}

/**
 * Runs candidate rules over the stored buckets of a scope and period with the detectors' own `step`, from a
 * warm-up early enough to rebuild each household's state (learned peaks and baselines look back up to
 * `learnDays` days), with the away spans the live detectors saw. Silence rules are left out: they depend
 * on when readings arrived, which buckets do not record.
 */
export async function runBacktest(
  deps: BacktestDeps,
  req: BacktestRequest,
  opts: { onProgress?: (done: number, total: number) => void } = {},
): Promise<BacktestReport> {
  const started = Date.now();
  const { store, book, localTime } = deps;
  // Rules and consent as stored now (a cluster worker's store follows the shared ones through another connection).
  book.followStore();
  deps.consent?.followStore();
  if (!(req.from < req.to))
    throw new CareflowError('ERR_API_VALIDATION', 'to must be after from', [
      { path: 'to', message: 'must be after from' },
    ]);
  if (req.to - req.from > MAX_BACKTEST_DAYS * DAY_MS)
    throw new CareflowError('ERR_API_VALIDATION', `A backtest spans at most ${MAX_BACKTEST_DAYS} days`, [
      { path: 'to', message: `the period may span at most ${MAX_BACKTEST_DAYS} days` },
    ]);
  if (req.rulesVersion !== undefined && req.rulesVersion > book.version())
    throw new CareflowError('ERR_API_VALIDATION', `No rules version ${req.rulesVersion}`, [
      { path: 'rulesVersion', message: `must be at most the current version ${book.version()}` },
    ]);
  const scope = scopeOfRef(req.scope);
  if (!store.rules.scopePlace(scope)) throw scopeNotFound(scope);
  const resolver = book.candidate(scope, req.rules ?? null, req.rulesVersion);
  const needs = resolver.needs();
  const warmupDays = warmupDaysFor(needs);
  const warmFrom = req.from - warmupDays * DAY_MS;
  const ctx = {
    localTime,
    rulesVersion: req.rulesVersion ?? book.version(),
    away: AwayBook.load(store).lookup,
  };
  const repo: BacktestHistory = deps.history ?? new BacktestRepo(store.db);
  const households = store.rules.householdsIn(scope);
  const state = createHouseholdState(
    Math.max(1, Math.ceil((Math.max(60, needs.windowMinutes) * 60_000) / localTime.bucketMs)),
    needs.historyDays,
  );
  const detections: Detection[] = [];
  const wouldFire: WouldFire[] = [];
  const didFire: DidFire[] = [];
  const excluded = new Set<string>();
  let buckets = 0;
  let lastYield = Date.now();
  for (let n = 0; n < households.length; n++) {
    const hid = households[n]!;
    const rules = deps.consent ? deps.consent.apply(hid, resolver.rulesFor(hid)) : resolver.rulesFor(hid);
    // Wall-clock rules (`silent`) run on the arrival of readings, which stored buckets do not replay.
    for (const r of rules) if (ruleTypeOf(r).clock === 'wall') excluded.add(r.id);
    const mine: Detection[] = [];
    const rows = await repo.buckets(hid, warmFrom, req.to);
    buckets += replayHousehold(hid, state, rows, rules, ctx, warmFrom, req.to, mine);
    const live = (await repo.alerts(hid, warmFrom, req.to)).filter((a) => !excluded.has(a.ruleId));
    const m = pairAlerts(mine, live, req.matchWithinHours * HOUR_MS, req);
    wouldFire.push(...m.wouldFire);
    didFire.push(...m.didFire);
    if (req.detections) detections.push(...mine.filter((d) => d.at >= req.from && d.at < req.to));
    if (Date.now() - lastYield > YIELD_EVERY_MS || n === households.length - 1) {
      opts.onProgress?.(n + 1, households.length);
      await new Promise((r) => setImmediate(r));
      lastYield = Date.now();
    }
  }
  const rules = resolver.rulesFor(households[0] ?? '').filter((r) => !excluded.has(r.id));
  const diffs = differences(rules, wouldFire, didFire);
  return {
    scope: req.scope,
    from: req.from,
    to: req.to,
    households: households.length,
    buckets,
    rulesVersion: ctx.rulesVersion,
    candidate: req.rules ?? null,
    warmupDays,
    excludedRules: [...excluded],
    wouldFire,
    didFire,
    rules: diffs,
    summary: diffs.length > 0 ? diffs.map(sentence) : ['no alerts, live or candidate, in this period'],
    ...(req.detections
      ? {
          detections: detections.map((d) => ({
            key: d.key,
            householdId: d.householdId,
            ruleId: d.ruleId,
            kind: d.kind,
            at: d.at,
          })),
        }
      : {}),
    durationMs: Date.now() - started,
  };
}

/**
 * Days each household is replayed before a backtest's `from`. Its state at `from` is the live one when every
 * alert still open then was opened — or held back — with the same history behind it as live: the longest
 * history, and before that the longest history again, or the longest window with the longest clear-hold (an
 * alert held open through a long clear-hold is open in the replay too), and a day. What it cannot see: an
 * alert left open since before that (through a gap, or a household away without using any water).
 */
export function warmupDaysFor(needs: {
  windowMinutes: number;
  historyDays: number;
  holdMinutes?: number;
}): number {
  return (
    needs.historyDays +
    Math.max(Math.ceil((needs.windowMinutes + (needs.holdMinutes ?? 0)) / 1440), needs.historyDays) +
    1
  );
}

/** The detectors' HTTP routes (rules, backtest, away mode), for the composition root to hand to the API. */
export function detectorRoutes(
  detectors: Detectors,
  store: BacktestTables,
  localTime: LocalTime,
): RouteRegistrar[] {
  const { admin, ruleBook: book, away } = detectors;
  if (!admin || !book || !away) return [];
  return [
    ruleRoutes(admin),
    backtestRoutes(createBacktester({ store, book, localTime, consent: detectors.consent })),
    awayRoutes((householdId) => away.reload(store, householdId)),
  ];
}
