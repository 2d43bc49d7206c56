import { parse } from 'csv-parse/sync';

/** One record of a CSV file: its cells, trimmed, and the line it ends on (1-based, as editors count). */
export interface CsvRow {
  line: number;
  cells: string[];
}

/**
 * Splits a CSV text into records with a real CSV parser (`csv-parse`): quoted fields, `""` escaped quotes,
 * delimiters and line breaks inside quotes, a UTF-8 byte order mark, CRLF line ends. A record the parser
 * cannot read (an unclosed quote) is reported with its line instead of stopping the file.
 */
export function csvRows(
  text: string,
  delimiter: ',' | ';',
): { rows: CsvRow[]; errors: { line: number; message: string }[] } {
  const errors: { line: number; message: string }[] = [];
  const records = parse(text, {
    bom: true,
    delimiter,
    relax_column_count: true,
    skip_empty_lines: true,
    trim: true,
    info: true,
    skip_records_with_error: true,
    on_skip: (err) => {
      if (err) errors.push({ line: Number(err.lines), message: err.message });
      return undefined;
    },
  }) as unknown as { record: string[]; info: { lines: number } }[];
  return { rows: records.map((r) => ({ line: r.info.lines, cells: r.record })), errors };
}
