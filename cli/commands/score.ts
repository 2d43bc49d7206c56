import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { scoreMarkdown } from '../../testbench/score-report.ts';
import { type ScoreReport, scoreRun } from '../../testbench/score.ts';
import { readRun } from '../../testbench/simulate-results.ts';
import type { Command } from './command.ts';

/** Writes `report.md` and `report.json` into `dir`. */
export function writeScore(report: ScoreReport, dir: string): { markdown: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const markdown = join(dir, 'report.md');
  const json = join(dir, 'report.json');
  writeFileSync(markdown, scoreMarkdown(report));
  writeFileSync(json, JSON.stringify(report, null, 1) + '\n');
  return { markdown, json };
}

export const scoreCommand: Command = {
  name: 'score',
  usage: 'score <run dir> [--out dir] [--json]',
  summary: 'Match a simulation run’s alerts to its ground truth: recall, precision, delay, false alarms',
  help: `<run dir>   the directory careflow simulate wrote (ground truth and alerts)
--out dir   where report.md and report.json go (default: the run directory)
--json      print the report as JSON instead of Markdown`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { out: { type: 'string' }, json: { type: 'boolean', default: false } },
    });
    const dir = positionals[0];
    if (!dir) {
      process.stderr.write(
        'careflow score: name the run directory that careflow simulate wrote, e.g. careflow score data/simulations/standard-1000x30-s20260302\n',
      );
      return 2;
    }
    const { truth, alerts } = readRun(dir);
    const report = scoreRun(truth, alerts);
    const files = writeScore(report, values.out ?? dir);
    process.stdout.write(values.json ? JSON.stringify(report, null, 1) + '\n' : scoreMarkdown(report));
    process.stderr.write(`careflow score: wrote ${files.markdown} and ${files.json}\n`);
    return 0;
  },
};
