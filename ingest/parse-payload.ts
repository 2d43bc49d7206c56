import { z } from 'zod';
import type { ErrorCode } from '../core/errors.ts';
import { MeterReading } from '../core/readings.ts';

export interface PayloadRejection {
  code: ErrorCode;
  message: string;
  field?: string;
  /** Index in a batch, when one reading of a batch was rejected. */
  index?: number;
}

export interface ParsedPayload {
  readings: MeterReading[];
  rejected: PayloadRejection[];
}

export interface ParseOptions {
  maxPayloadBytes: number;
  maxBatchReadings: number;
  now: number;
  maxFutureSkewMs: number;
}

/**
 * Validates a reading payload: a single reading or `{ readings: [...] }`. Each reading of a batch is
 * judged on its own, so one bad reading does not cost the good ones. Batches are sorted oldest first.
 */
export function parsePayload(payload: Buffer, opts: ParseOptions): ParsedPayload {
  if (payload.length > opts.maxPayloadBytes) {
    return reject(
      'ERR_INGEST_PAYLOAD_TOO_LARGE',
      `payload is ${payload.length} bytes; the maximum is ${opts.maxPayloadBytes}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return reject('ERR_INGEST_PAYLOAD_MALFORMED', `payload is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return reject(
      'ERR_INGEST_PAYLOAD_INVALID',
      'payload must be a JSON object: { "ts", "totalLiters" } or { "readings": [...] }',
    );
  }
  const obj = json as Record<string, unknown>;
  if ('readings' in obj) {
    const items = obj.readings;
    if (!Array.isArray(items) || items.length === 0) {
      return reject('ERR_INGEST_PAYLOAD_INVALID', 'readings must be a non-empty array', 'readings');
    }
    if (items.length > opts.maxBatchReadings) {
      return reject(
        'ERR_INGEST_PAYLOAD_INVALID',
        `a batch holds at most ${opts.maxBatchReadings} readings; got ${items.length}`,
        'readings',
      );
    }
    const out: ParsedPayload = { readings: [], rejected: [] };
    const latest = opts.now + opts.maxFutureSkewMs;
    let sorted = true;
    for (let index = 0; index < items.length; index++) {
      const item: unknown = items[index];
      // The common reading, valid and not ahead of the clock, without the wrappers of parseOne.
      const fast = fastReading(item);
      let reading: MeterReading | undefined;
      if (fast && fast.ts <= latest) reading = fast;
      else {
        const r = parseOne(item, opts, `readings.${index}.`);
        if ('reading' in r) reading = r.reading;
        else out.rejected.push({ ...r.rejection, index });
      }
      if (reading === undefined) continue;
      const n = out.readings.length;
      if (n > 0 && out.readings[n - 1]!.ts > reading.ts) sorted = false;
      out.readings.push(reading);
    }
    if (!sorted) out.readings.sort((a, b) => a.ts - b.ts);
    return out;
  }
  const r = parseOne(obj, opts, '');
  return 'reading' in r ? { readings: [r.reading], rejected: [] } : { readings: [], rejected: [r.rejection] };
}

/** The regex `z.iso.datetime({ offset: true })` (the contract's timestamp) tests with. */
const ISO_WITH_ZONE = z.regexes.datetime({ offset: true });
/** The contract's bounds (core/readings.ts); `fast-reading.test.ts` holds the two in step. */
const EARLIEST_MS = Date.UTC(2000, 0, 1);
const LATEST_MS = Date.UTC(2100, 0, 1);

/**
 * The common reading — exactly `{ ts, totalLiters }` with plain values — checked without zod (the hot path of
 * ingest). It answers only when sure: anything else (other fields, anything the schema would refuse) returns
 * undefined and goes through `MeterReading`, so the verdicts and messages are the schema's.
 */
export function fastReading(item: unknown): MeterReading | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const o = item as Record<string, unknown>;
  let keys = 0;
  for (const k in o) {
    if (k !== 'ts' && k !== 'totalLiters') return undefined;
    keys++;
  }
  if (keys !== 2) return undefined;
  const total = o.totalLiters;
  if (typeof total !== 'number' || !(total >= 0 && total <= 1e12)) return undefined;
  const ts = o.ts;
  let ms: number;
  if (typeof ts === 'number') {
    if (!Number.isInteger(ts) || (ts > 946_684_800 && ts < 4_102_444_800)) return undefined;
    ms = ts;
    if (ms >= EARLIEST_MS && ms < LATEST_MS) return o as unknown as MeterReading;
  } else if (typeof ts === 'string') {
    if (!ISO_WITH_ZONE.test(ts)) return undefined;
    ms = Date.parse(ts);
  } else return undefined;
  if (!(ms >= EARLIEST_MS && ms < LATEST_MS)) return undefined;
  return { ts: ms, totalLiters: total };
}

function parseOne(
  item: unknown,
  opts: ParseOptions,
  prefix: string,
): { reading: MeterReading } | { rejection: PayloadRejection } {
  const fast = fastReading(item);
  const parsed = fast ? { success: true as const, data: fast } : MeterReading.safeParse(item);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map(String).join('.');
    const field = path ? prefix + path : prefix.replace(/\.$/, '') || '(root)';
    return { rejection: { code: 'ERR_INGEST_PAYLOAD_INVALID', message: `${field} ${issue.message}`, field } };
  }
  if (parsed.data.ts > opts.now + opts.maxFutureSkewMs) {
    const aheadMin = Math.round((parsed.data.ts - opts.now) / 60_000);
    return {
      rejection: {
        code: 'ERR_INGEST_TIMESTAMP_FUTURE',
        message: `${prefix}ts is ${aheadMin} minutes ahead of the service clock; check the meter's clock`,
        field: `${prefix}ts`,
      },
    };
  }
  return { reading: parsed.data };
}

function reject(code: ErrorCode, message: string, field?: string): ParsedPayload {
  return { readings: [], rejected: [field ? { code, message, field } : { code, message }] };
}
