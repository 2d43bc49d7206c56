import { readServiceSettings } from '../../app/service-settings.ts';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BacktestRequest, type BacktestReport } from '../../core/backtest.ts';
import { loadConfig } from '../../core/config.ts';
import { CareflowError, fieldIssues } from '../../core/errors.ts';
import { LocalTime } from '../../core/local-time.ts';
import { DEFAULT_RULES } from '../../detectors/rules/default-rules.ts';
import { openStore } from '../../core/store/store.ts';
import { ConsentGate } from '../../detectors/consent-gate.ts';
import { RuleBook } from '../../detectors/rule-book.ts';
import { runBacktest } from '../../backtest/backtest.ts';
import type { Command } from './command.ts';
import { etaText } from '../../core/eta.ts';
import { parseValue, ruleFieldPath } from './rules.ts';

/**
 * `careflow backtest`: runs on the data dir (read-only, also while the service runs), with the rules of the
 * store and the config file, and prints the difference in words; a progress line on long runs.
 */
const USAGE = `usage: careflow backtest --scope <scope> --from <time> --to <time> [candidate rules] [--json]
  scope: global | street:<code> | community:<code> | grid:<code> | household:<id>
  time: ISO 8601 with a zone (2026-03-01T00:00:00+08:00) or epoch ms
  candidate rules, as a change at the scope:  --set <rule>.<field>=<value> (repeatable)  or  --rules '<json>'
    field: a parameter (--set heavy-use.minLitersPerBucket=150, short for heavy-use.params.minLitersPerBucket)
    or enabled, severity, autoResolve, suppressedWhenAway (--set low-use.enabled=false)
  --rules-version N   start from the rules as they were at version N
  --match-hours N     pair a would-be alert with a real one this close together (default 24)`;

export const backtestCommand: Command = {
  name: 'backtest',
  usage: 'backtest --scope <scope> --from <t> --to <t> [--set rule.field=value …]',
  summary: 'Run candidate rules over stored usage; compare with the alerts that fired and their outcomes',
  help: USAGE,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        scope: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        set: { type: 'string', multiple: true, default: [] },
        rules: { type: 'string' },
        'rules-version': { type: 'string' },
        'match-hours': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    if (!values.scope || !values.from || !values.to) return usage();
    let rules: Record<string, unknown> | undefined;
    try {
      rules = values.rules ? (JSON.parse(values.rules) as Record<string, unknown>) : undefined;
    } catch (err) {
      return usage(`--rules is not JSON: ${(err as Error).message}`);
    }
    for (const assignment of values.set) {
      const eq = assignment.indexOf('=');
      const [ruleId, ...given] = assignment.slice(0, Math.max(eq, 0)).split('.');
      const fields = ruleFieldPath(given);
      if (eq < 0 || !ruleId || fields.length === 0)
        return usage(`"${assignment}" is not <rule>.<field>=<value>`);
      rules ??= {};
      let node = ((rules[ruleId] as Record<string, unknown> | undefined) ??= {});
      for (const key of fields.slice(0, -1)) node = (node[key] as Record<string, unknown> | undefined) ??= {};
      node[fields[fields.length - 1]!] = parseValue(assignment.slice(eq + 1));
    }
    const parsed = BacktestRequest.safeParse({
      scope: values.scope,
      from: /^\d+$/.test(values.from) ? Number(values.from) : values.from,
      to: /^\d+$/.test(values.to) ? Number(values.to) : values.to,
      ...(rules ? { rules } : {}),
      ...(values['rules-version'] ? { rulesVersion: Number(values['rules-version']) } : {}),
      ...(values['match-hours'] ? { matchWithinHours: Number(values['match-hours']) } : {}),
    });
    if (!parsed.success) {
      const issues = fieldIssues(parsed.error.issues);
      throw new CareflowError(
        'ERR_API_VALIDATION',
        issues.map((i) => `${i.path}: ${i.message}`).join('; '),
        issues,
      );
    }
    const config = loadConfig(process.env);
    const store = openStore({
      path: join(config.dataDir, 'careflow.db'),
      synchronous: config.store.synchronous,
    });
    try {
      const book = new RuleBook(
        store,
        DEFAULT_RULES,
        config.detectors.rules,
        readServiceSettings(config.dataDir)?.bucketMinutes ?? config.bucketMinutes,
      );
      // The zone and bucket size the service stored its buckets in, not the shell's.
      const service = readServiceSettings(config.dataDir);
      if (service && process.env.CAREFLOW_TIMEZONE && process.env.CAREFLOW_TIMEZONE !== service.timezone)
        process.stderr.write(
          `careflow backtest: the service in ${config.dataDir} runs in ${service.timezone}; ` +
            `CAREFLOW_TIMEZONE=${process.env.CAREFLOW_TIMEZONE} is ignored\n`,
        );
      const localTime = new LocalTime(
        service?.timezone ?? config.timezone,
        service?.bucketMinutes ?? config.bucketMinutes,
      );
      const progress = progressLine();
      const consent = new ConsentGate(store, config.privacy);
      const report = await runBacktest({ store, book, localTime, consent }, parsed.data, {
        onProgress: progress,
      });
      process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : text(report, localTime));
      return 0;
    } catch (err) {
      if (err instanceof CareflowError && err.issues.length > 0) {
        process.stderr.write(`careflow backtest: ${err.code}: ${err.message}\n`);
        for (const i of err.issues) process.stderr.write(`  ${i.path}: ${i.message}\n`);
        return 1;
      }
      throw err;
    } finally {
      store.close();
    }
  },
};

/** `backtest… 1200/3000 households (40 %), 12.0 s, ~18 s left`: redrawn on a terminal, a line every few seconds otherwise. */
function progressLine() {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let lastLine = 0;
  return (done: number, total: number) => {
    const elapsed = Date.now() - started;
    const line =
      `backtest… ${done}/${total} households (${Math.floor((done / Math.max(total, 1)) * 100)} %), ` +
      `${(elapsed / 1000).toFixed(1)} s, ${etaText(done, total, elapsed)}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${done === total ? '\n' : ''}`);
    else if (done === total || Date.now() - lastLine > 2_000) {
      process.stderr.write(`${line}\n`);
      lastLine = Date.now();
    }
  };
}

function text(r: BacktestReport, lt: LocalTime): string {
  const lines = [
    `backtest of ${r.scope}, ${lt.format(r.from)} – ${lt.format(r.to)}: ${r.households} households, ${r.buckets} buckets ` +
      `(warm-up ${r.warmupDays} days) in ${(r.durationMs / 1000).toFixed(1)} s`,
    `rules: version ${r.rulesVersion}${r.candidate ? ` with ${JSON.stringify(r.candidate)}` : ' as live'}` +
      (r.excludedRules.length > 0 ? `; not backtested: ${r.excludedRules.join(', ')}` : ''),
    `would fire ${r.wouldFire.length} alerts; did fire ${r.didFire.length} ` +
      `(${r.didFire.filter((d) => d.verdict === 'confirmed').length} confirmed, ${r.didFire.filter((d) => d.verdict === 'false').length} false alarms)`,
    ...r.summary.map((s) => `  ${s}`),
  ];
  return lines.join('\n') + '\n';
}

function usage(problem?: string): number {
  process.stderr.write(`${problem ? `careflow backtest: ${problem}\n` : ''}${USAGE}\n`);
  return 2;
}
