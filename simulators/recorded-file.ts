import { readFileSync } from 'node:fs';
import { CareflowError } from '../core/errors.ts';
import { LocalTime } from '../core/local-time.ts';
import { daiadColumns, parseDaiadCsv } from './daiad-csv.ts';
import { parseRecordedCsv } from './recorded-csv.ts';
import type { RecordedReadings } from './recorded-readings.ts';
import { readZipEntry } from './recorded-zip.ts';

export type RecordingFormat = 'daiad' | 'csv';

export interface RecordedFileOptions {
  /** Default: `daiad` when the header is `V1;V2;V3;V4`, else `csv`. */
  format?: RecordingFormat;
  /** IANA zone of the recording's local times; default Europe/Madrid for `daiad`, none for `csv`. */
  timeZone?: string;
  /** Entry to read from a zip archive; default its only (CSV) entry. */
  entry?: string;
}

/** The zone a recording's local times are read in when none is given. */
export function defaultRecordingZone(format: RecordingFormat): string | undefined {
  return format === 'daiad' ? 'Europe/Madrid' : undefined;
}

/** Reads a recording (plain CSV, or a zip archive holding one) into readings per meter. */
export function readRecordedFile(path: string, opts: RecordedFileOptions): RecordedReadings {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new CareflowError('ERR_REPLAY_FILE_INVALID', `cannot read ${path}: ${(err as Error).message}`);
  }
  return parseRecording(bytes, opts);
}

export function parseRecording(bytes: Buffer, opts: RecordedFileOptions): RecordedReadings {
  const isZip = bytes.length >= 4 && bytes.readUInt32LE(0) === 0x04034b50;
  const text = (isZip ? readZipEntry(bytes, opts.entry).data : bytes).toString('utf8');
  const format = opts.format ?? guessFormat(text);
  const zone = opts.timeZone ?? defaultRecordingZone(format);
  if (zone !== undefined && !LocalTime.isValidTimeZone(zone)) {
    throw new CareflowError('ERR_REPLAY_FILE_INVALID', `"${zone}" is not an IANA time zone`);
  }
  const localTime = zone === undefined ? undefined : new LocalTime(zone, 60);
  if (format === 'daiad') return parseDaiadCsv(text, { localTime: localTime! });
  return parseRecordedCsv(text, localTime ? { localTime } : {});
}

/** `daiad` when the first line is `;`-separated with DAIAD's columns (either published header), else `csv`. */
export function guessFormat(text: string): RecordingFormat {
  const first =
    text
      .replace(/^\uFEFF/, '')
      .trimStart()
      .split(/\r?\n/, 1)[0] ?? '';
  if (!first.includes(';')) return 'csv';
  return daiadColumns(first.split(';').map((c) => c.trim().replace(/^"(.*)"$/, '$1'))) ? 'daiad' : 'csv';
}
