import { CareflowError } from '../core/errors.ts';
import type { LocalTime } from '../core/local-time.ts';
import { ClientId } from '../core/readings.ts';
import { localToUtc } from './recorded-local-time.ts';
import { MAX_REGISTER_LITERS, parseRecordedNumber, RecordedReadings } from './recorded-readings.ts';

const DATETIME = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?$/;

/**
 * The DAIAD smart water meter trial's CSV (`swm_trialA*.csv`): `;`-separated, header `V1;V2;V3;V4` =
 * household key; `dd/mm/YYYY HH:MM:SS` local time; cumulative register in liters; difference to the previous
 * row. The difference is not used (it is derived, and undefined for a household's first row); the register
 * may be written like `4e+05`. Local times are read in `localTime`'s zone (the trial ran in Spain:
 * Europe/Madrid), see {@link localToUtc}.
 */
export function parseDaiadCsv(text: string, opts: { localTime: LocalTime }): RecordedReadings {
  const out = new RecordedReadings('daiad');
  const lines = text.split('\n');
  let index = 0;
  while (index < lines.length && lines[index]!.trim() === '') index++;
  const header = (lines[index] ?? '')
    .replace(/^\uFEFF/, '')
    .trim()
    .replaceAll('"', '');
  if (header.toUpperCase() !== 'V1;V2;V3;V4') {
    throw new CareflowError(
      'ERR_REPLAY_FILE_INVALID',
      `not a DAIAD file: the header is "${header.slice(0, 80)}", expected "V1;V2;V3;V4"`,
    );
  }
  for (let i = index + 1; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    out.rows++;
    const line = i + 1;
    const cells = raw.split(';').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (cells.length !== 4) {
      out.reject(line, 'columns', `expected 4 fields separated by ";", found ${cells.length}`);
      continue;
    }
    const [meterId, when, register] = cells as [string, string, string, string];
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
