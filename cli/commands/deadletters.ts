import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../core/config.ts';
import { ERRORS } from '../../core/errors.ts';
import type { DeadLetterView } from '../../core/store/dead-letter-repo.ts';
import { openStore } from '../../core/store/store.ts';
import type { Command } from './command.ts';

const USAGE = 'deadletters [--meter ID] [--code CODE] [--since ISO] [--limit N] [--json]';
const EXCERPT_COLUMN = 60;

/** `careflow deadletters`: rejected input in the data dir's store, newest first, then the counts by code. */
export const deadLettersCommand: Command = {
  name: 'deadletters',
  usage: USAGE,
  summary: 'List rejected meter input (reason code, payload excerpt) from the store in CAREFLOW_DATA_DIR',
  help: `--meter ID     only this meter's letters
--code CODE    only this reason code (ERR_…, see docs/errors.md)
--since ISO    only letters from this time on (ISO 8601 with a zone)
--limit N      at most N letters (default 50)
--json         the letters and counts as JSON
Reads CAREFLOW_DATA_DIR's store; works while the service runs.`,
  async run(args) {
    let values;
    try {
      ({ values } = parseArgs({
        args,
        options: {
          meter: { type: 'string' },
          code: { type: 'string' },
          since: { type: 'string' },
          limit: { type: 'string', default: '50' },
          json: { type: 'boolean', default: false },
        },
      }));
    } catch (err) {
      return usageError((err as Error).message);
    }
    const limit = Number(values.limit);
    if (!/^\d+$/.test(values.limit) || limit < 1 || limit > 100_000) {
      return usageError('--limit must be a whole number from 1 to 100000');
    }
    if (values.code !== undefined && !(values.code in ERRORS)) {
      return usageError(`--code ${values.code} is not an error code (see docs/errors.md)`);
    }
    let since: number | undefined;
    if (values.since !== undefined) {
      since = Date.parse(values.since);
      if (!/(Z|[+-]\d\d:?\d\d)$/i.test(values.since) || !Number.isFinite(since)) {
        return usageError('--since must be an ISO 8601 time with a zone, e.g. 2026-03-02T08:00:00+08:00');
      }
    }

    const config = loadConfig(process.env);
    const store = openStore({
      path: join(config.dataDir, 'careflow.db'),
      synchronous: config.store.synchronous,
    });
    try {
      const filter = { meterId: values.meter, code: values.code, from: since };
      const letters = store.deadLetters.list({ ...filter, limit });
      const counts = store.deadLetters.countsByCode(filter);
      if (values.json) {
        process.stdout.write(JSON.stringify({ deadLetters: letters, counts }, null, 2) + '\n');
        return 0;
      }
      process.stdout.write(render(letters, counts));
      return 0;
    } finally {
      store.close();
    }
  },
};

function render(letters: DeadLetterView[], counts: Record<string, number>): string {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (total === 0) return 'no dead letters\n';
  const rows = letters.map((d) => [
    new Date(d.receivedAt).toISOString(),
    d.meterId ?? '-',
    d.code,
    d.field ?? '-',
    d.message,
    oneLine(d.excerpt ?? ''),
  ]);
  const header = ['received', 'meter', 'code', 'field', 'message', 'excerpt'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // The last two columns are free text: messages are padded, excerpts run to the end of the line.
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const countLines = Object.entries(counts).map(([code, n]) => `  ${code}  ${n}`);
  return (
    [line(header), ...rows.map(line)].join('\n') +
    `\n\n${letters.length} shown of ${total}; by code:\n${countLines.join('\n')}\n`
  );
}

function oneLine(excerpt: string): string {
  const flat = excerpt.replace(/\s+/g, ' ');
  return flat.length > EXCERPT_COLUMN ? flat.slice(0, EXCERPT_COLUMN - 1) + '…' : flat;
}

function usageError(message: string): number {
  process.stderr.write(`careflow deadletters: ${message}\nusage: careflow ${USAGE}\n`);
  return 2;
}
