import { CareflowError } from '../core/errors.ts';
import type { LocalTime } from '../core/local-time.ts';
import { ClientId } from '../core/readings.ts';
import { csvRows } from './csv-rows.ts';
import { localToUtc } from './recorded-local-time.ts';
import { MAX_REGISTER_LITERS, parseRecordedNumber, RecordedReadings } from './recorded-readings.ts';

const DATETIME = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?$/;

/** Which column holds what, found from the header by meaning. */
export interface DaiadColumns {
  key: number;
  datetime: number;
  reading: number;
}

/** Most specific first: "meter reading" is the reading, so the key is looked for among what is left. */
const MEANINGS: { field: keyof DaiadColumns; pattern: RegExp }[] = [
  { field: 'datetime', pattern: /date|time/i },
  { field: 'reading', pattern: /reading|register|volume|total|consumption|value/i },
  { field: 'key', pattern: /\b(user|household|meter|device|key|id)\b/i },
];

/**
 * The columns of a DAIAD header. The trial files are published with more than one header: `V1;V2;V3;V4`
 * (positional: key, local date-time, register, difference) and descriptive names such as
 * `user key;datetime;meter reading;diff`, in any order. Null when the header is neither.
 */
export function daiadColumns(header: readonly string[]): DaiadColumns | null {
  const names = header.map((h) => h.trim());
  if (names.length >= 3 && names.every((n, i) => n.toUpperCase() === `V${i + 1}`))
    return { key: 0, datetime: 1, reading: 2 };
  const found: Partial<DaiadColumns> = {};
  for (const { field, pattern } of MEANINGS) {
    const i = names.findIndex(
      (n, k) => pattern.test(n) && !Object.values(found).includes(k) && !/diff/i.test(n),
    );
    if (i < 0) return null;
    found[field] = i;
  }
  return found as DaiadColumns;
}

/**
 * The DAIAD smart water meter trial's CSV (`swm_trialA*.csv`): `;`-separated, with a header naming (see
 * {@link daiadColumns}) the household key, the `dd/mm/YYYY HH:MM:SS` local time, the cumulative register in
 * liters and the difference to the previous row. The difference is not used (it is derived, and undefined
 * for a household's first row); the register may be written like `4e+05`. Read with a real CSV parser
 * (quoted fields, BOM). Local times are read in `localTime`'s zone (the trial ran in Spain: Europe/Madrid),
 * see {@link localToUtc}.
 */
export function parseDaiadCsv(text: string, opts: { localTime: LocalTime }): RecordedReadings {
  const out = new RecordedReadings('daiad');
  const { rows, errors } = csvRows(text, ';');
  const header = rows[0]?.cells ?? [];
  const col = daiadColumns(header);
  if (!col) {
    throw new CareflowError(
      'ERR_REPLAY_FILE_INVALID',
      `not a DAIAD file: the header is "${header.join(';').slice(0, 80)}", expected "V1;V2;V3;V4" or columns ` +
        'naming the user key, the date and time, and the meter reading (e.g. "user key;datetime;meter reading;diff")',
    );
  }
  for (const e of errors) {
    out.rows++;
    out.reject(e.line, 'columns', `not a readable CSV record: ${e.message}`);
  }
  const width = header.length;
  for (const row of rows.slice(1)) {
    out.rows++;
    const line = row.line;
    const cells = row.cells;
    if (cells.length !== width) {
      out.reject(line, 'columns', `expected ${width} fields separated by ";", found ${cells.length}`);
      continue;
    }
    const meterId = cells[col.key]!;
    const when = cells[col.datetime]!;
    const register = cells[col.reading]!;
    if (!ClientId.safeParse(meterId).success) {
      out.reject(line, 'bad-meter-id', `household key "${meterId.slice(0, 70)}" cannot be a meter id`);
      continue;
    }
    const m = DATETIME.exec(when);
    if (!m) {
      out.reject(line, 'bad-datetime', `"${when.slice(0, 40)}" is not dd/mm/YYYY HH:MM:SS`, meterId);
      continue;
    }
    const local = localToUtc(
      {
        day: Number(m[1]),
        month: Number(m[2]),
        year: Number(m[3]),
        hour: Number(m[4]),
        minute: Number(m[5]),
        second: Number(m[6] ?? 0),
      },
      opts.localTime,
      out.lastTs(meterId),
    );
    if (!local.ok) {
      out.reject(line, 'bad-datetime', `"${when}" is not a valid date and time (${local.why})`, meterId);
      continue;
    }
    const total = parseRecordedNumber(register);
    if (total === null || total > MAX_REGISTER_LITERS) {
      out.reject(
        line,
        'bad-number',
        `meter reading "${register.slice(0, 40)}" is not a number of liters`,
        meterId,
      );
      continue;
    }
    if (total < 0) {
      out.reject(line, 'negative-register', `meter reading ${total} is negative`, meterId);
      continue;
    }
    if (local.shifted) out.shiftedLocalTimes++;
    out.add(meterId, { ts: local.ts, totalLiters: total, line });
  }
  return out;
}
