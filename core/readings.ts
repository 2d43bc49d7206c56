import { z } from 'zod';

/** MQTT contract: what a meter publishes on `meters/{meterId}/readings`. */

const EARLIEST_MS = Date.UTC(2000, 0, 1);
const LATEST_MS = Date.UTC(2100, 0, 1);

const IsoWithZone = z.iso.datetime({ offset: true });
const TS_FORMATS = 'must be ISO 8601 with a time zone (Z or +08:00) or epoch milliseconds';

/**
 * ISO 8601 with an explicit offset or Z, or epoch milliseconds; parsed to epoch ms. Written as one transform
 * (not a union) so that the meter gets the specific reason, not "invalid input".
 */
export const Timestamp = z.unknown().transform((v, ctx): number => {
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  let ms: number;
  if (typeof v === 'string') {
    if (!IsoWithZone.safeParse(v).success) return fail(TS_FORMATS);
    ms = Date.parse(v);
  } else if (typeof v === 'number') {
    if (!Number.isInteger(v)) return fail('must be whole epoch milliseconds (an integer)');
    if (v > 946_684_800 && v < 4_102_444_800)
      return fail('looks like epoch seconds; send epoch milliseconds');
    ms = v;
  } else if (v === undefined) {
    return fail('is required');
  } else {
    return fail(TS_FORMATS);
  }
  if (!Number.isFinite(ms) || ms < EARLIEST_MS || ms >= LATEST_MS)
    return fail('must lie between the years 2000 and 2100');
  return ms;
});

/**
 * Messages are phrased to follow the field's name ("totalLiters must be a number"); ingest prefixes the path.
 */
const num = (min: number, max: number) =>
  z
    .number({ error: (i) => (i.input === undefined ? 'is required' : 'must be a number') })
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

export const MeterReading = z.object(
  {
    ts: Timestamp,
    totalLiters: z
      .number({ error: (i) => (i.input === undefined ? 'is required' : 'must be a number') })
      .min(0, 'must not be negative')
      .max(1e12, 'is implausibly large'),
    flowLpm: num(0, 100_000).optional(),
    batteryPct: num(0, 100).optional(),
    rssi: num(-200, 50).optional(),
    seq: num(0, Number.MAX_SAFE_INTEGER).int('must be an integer').optional(),
  },
  { error: 'must be a JSON object with ts and totalLiters' },
);
export type MeterReading = z.infer<typeof MeterReading>;

export const ReadingBatch = z.object({
  readings: z.array(MeterReading).min(1, 'a batch needs at least one reading'),
});

export const ReadingPayload = z.union([ReadingBatch, MeterReading]);
export type ReadingPayload = z.infer<typeof ReadingPayload>;

/** careflow → meter on `meters/{meterId}/errors`. */
export interface MeterErrorMessage {
  code: string;
  message: string;
  field?: string;
  ts: string;
}

/**
 * careflow → worker app on `workers/{workerId}/errors`: why something the app published was refused (an
 * acknowledgement of an alert outside its grids, of an unknown alert, a payload that is not `{ "note" }`). `topic`
 * is the topic the app published to; `alertId` the alert it named, when the topic names one.
 */
export interface WorkerErrorMessage {
  code: string;
  message: string;
  topic: string;
  alertId?: string;
  ts: string;
}

/** Meter and worker ids appear in topics and usernames: no MQTT wildcards, no separators. */
export const ClientId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'letters, digits and . _ : - (1-64 characters)');

export const TOPICS = {
  readings: (meterId: string) => `meters/${meterId}/readings`,
  meterErrors: (meterId: string) => `meters/${meterId}/errors`,
  workerAlerts: (workerId: string) => `workers/${workerId}/alerts`,
  workerErrors: (workerId: string) => `workers/${workerId}/errors`,
} as const;
