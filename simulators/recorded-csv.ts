import { CareflowError } from '../core/errors.ts';
import type { LocalTime } from '../core/local-time.ts';
import { ClientId, Timestamp } from '../core/readings.ts';
import { csvRows } from './csv-rows.ts';
import { localToUtc } from './recorded-local-time.ts';
import { MAX_REGISTER_LITERS, parseRecordedNumber, RecordedReadings } from './recorded-readings.ts';

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;
const COLUMNS = ['meterId', 'ts', 'totalLiters'] as const;

/**
 * The generic recording format: comma-separated with a header naming at least `meterId,ts,totalLiters`
 * (any order, other columns ignored). `ts` is ISO 8601 with a zone or epoch milliseconds (as on MQTT), or a
 * local `YYYY-MM-DD HH:MM[:SS]` read in `localTime`'s zone when one is given. `totalLiters` is the register.
 * Read with a real CSV parser: quoted fields (commas inside), `""` escaped quotes, a BOM, CRLF.
 */
export function parseRecordedCsv(text: string, opts: { localTime?: LocalTime } = {}): RecordedReadings {
  const out = new RecordedReadings('csv');
  const { rows, errors } = csvRows(text, ',');
  const header = rows[0]?.cells ?? [];
  const col = Object.fromEntries(COLUMNS.map((name) => [name, header.indexOf(name)])) as Record<
    (typeof COLUMNS)[number],
    number
  >;
  const missing = COLUMNS.filter((name) => col[name] < 0);
  if (missing.length > 0) {
    throw new CareflowError(
      'ERR_REPLAY_FILE_INVALID',
      `not a careflow CSV recording: the header lacks ${missing.join(', ')} (expected "meterId,ts,totalLiters")`,
    );
  }
  for (const e of errors) {
    out.rows++;
    out.reject(e.line, 'columns', `not a readable CSV record: ${e.message}`);
  }
  for (const row of rows.slice(1)) {
    out.rows++;
    const line = row.line;
    const cells = row.cells;
    if (cells.length !== header.length) {
      out.reject(line, 'columns', `expected ${header.length} fields, found ${cells.length}`);
      continue;
    }
    const meterId = cells[col.meterId]!;
    if (!ClientId.safeParse(meterId).success) {
      out.reject(line, 'bad-meter-id', `meterId "${meterId.slice(0, 70)}" is not a valid meter id`);
      continue;
    }
    const ts = parseTs(cells[col.ts]!, opts.localTime, out, meterId);
    if (typeof ts === 'string') {
      out.reject(
        line,
        ts === 'no-time-zone' ? 'no-time-zone' : 'bad-datetime',
        describe(ts, cells[col.ts]!),
        meterId,
      );
      continue;
    }
    const total = parseRecordedNumber(cells[col.totalLiters]!);
    if (total === null || total > MAX_REGISTER_LITERS) {
      out.reject(
        line,
        'bad-number',
        `totalLiters "${cells[col.totalLiters]!.slice(0, 40)}" is not a number`,
        meterId,
      );
      continue;
    }
    if (total < 0) {
      out.reject(line, 'negative-register', `totalLiters ${total} is negative`, meterId);
      continue;
    }
    out.add(meterId, { ts, totalLiters: total, line });
  }
  return out;
}

function parseTs(
  text: string,
  localTime: LocalTime | undefined,
  out: RecordedReadings,
  meterId: string,
): number | 'no-time-zone' | 'bad' {
  const m = LOCAL.exec(text);
  if (m) {
    if (!localTime) return 'no-time-zone';
    const r = localToUtc(
      {
        year: Number(m[1]),
        month: Number(m[2]),
        day: Number(m[3]),
        hour: Number(m[4]),
        minute: Number(m[5]),
        second: Number(m[6] ?? 0),
      },
      localTime,
      out.lastTs(meterId),
    );
    if (!r.ok) return 'bad';
    if (r.shifted) out.shiftedLocalTimes++;
    return r.ts;
  }
  const parsed = Timestamp.safeParse(/^-?\d+$/.test(text) ? Number(text) : text);
  return parsed.success ? parsed.data : 'bad';
}

function describe(why: 'no-time-zone' | 'bad', text: string): string {
  return why === 'no-time-zone'
    ? `ts "${text}" has no time zone; pass --timezone to read local times`
    : `ts "${text.slice(0, 40)}" is not ISO 8601 with a zone, epoch milliseconds or a local YYYY-MM-DD HH:MM:SS`;
}
