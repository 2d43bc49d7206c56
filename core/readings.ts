import { z } from 'zod';

/** MQTT contract: what a meter publishes on `meters/{meterId}/readings`. */

const EARLIEST_MS = Date.UTC(2000, 0, 1);
const LATEST_MS = Date.UTC(2100, 0, 1);

/** ISO 8601 with an explicit offset or Z, or epoch milliseconds; parsed to epoch ms. */
export const Timestamp = z
  .union([
    z.iso.datetime({ offset: true, message: 'expected ISO 8601 with a time zone (Z or +08:00) or epoch ms' }),
    z.number().int('epoch milliseconds must be an integer'),
  ])
  .transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : Date.parse(v);
    if (typeof v === 'number' && v > 946_684_800 && v < 4_102_444_800) {
      ctx.addIssue({ code: 'custom', message: 'looks like epoch seconds; send epoch milliseconds' });
      return z.NEVER;
    }
    if (!Number.isFinite(ms) || ms < EARLIEST_MS || ms >= LATEST_MS) {
      ctx.addIssue({ code: 'custom', message: 'timestamp must lie between 2000 and 2100' });
      return z.NEVER;
    }
    return ms;
  });

export const MeterReading = z.object({
  ts: Timestamp,
  totalLiters: z
    .number({ message: 'totalLiters must be a number' })
    .min(0, 'totalLiters must not be negative')
    .max(1e12, 'totalLiters is implausibly large'),
  flowLpm: z.number().min(0).max(100_000).optional(),
  batteryPct: z.number().min(0).max(100).optional(),
  rssi: z.number().min(-200).max(50).optional(),
  seq: z.number().int().min(0).optional(),
});
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

/** Meter and worker ids appear in topics and usernames: no MQTT wildcards, no separators. */
export const ClientId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'letters, digits and . _ : - (1-64 characters)');

export const TOPICS = {
  readings: (meterId: string) => `meters/${meterId}/readings`,
  meterErrors: (meterId: string) => `meters/${meterId}/errors`,
  workerAlerts: (workerId: string) => `workers/${workerId}/alerts`,
} as const;
