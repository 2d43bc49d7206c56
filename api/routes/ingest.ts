import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Timestamp } from '../../core/readings.ts';
import type { Principal } from '../../core/access.ts';
import type { ErrorCode } from '../../core/errors.ts';
import type { NormalizerEventKind } from '../../core/streams.ts';
import type { Ingest, IngestResult } from '../../ingest/start-ingest.ts';
import { defineRoute, type ApiContext } from '../define-route.ts';

/** Most readings in one request (the HTTP body limit, 1 MiB by default, comes first for long readings). */
export const MAX_HTTP_READINGS = 10_000;
/** Readings of one meter handed to ingest together (well inside `ingest.maxBatchReadings` and the payload cap). */
const CHUNK = 500;
const TOPIC = 'http:/api/ingest/readings';

const IngestBody = z.strictObject({
  readings: z
    .array(z.unknown())
    .min(1)
    .max(MAX_HTTP_READINGS)
    .describe(
      'Readings of any meters, each `{ meterId, ts, totalLiters }` with the optional `flowLpm`, `batteryPct`, ' +
        '`rssi`, `seq` of the MQTT contract; each is judged on its own',
    ),
});

const ReadingResult = z.object({
  index: z.number().int().describe('position in the request'),
  meterId: z.string().nullable(),
  status: z.enum(['accepted', 'duplicate', 'refused']),
  kind: z
    .string()
    .optional()
    .describe('what the normalizer made of an accepted reading when notable: late, reset…'),
  code: z.string().optional().describe('why a reading was refused (docs/errors.md)'),
  message: z.string().optional(),
  field: z.string().optional(),
});
const IngestAnswer = z.object({
  accepted: z.number().int(),
  duplicate: z.number().int(),
  refused: z.number().int(),
  results: z.array(ReadingResult),
});
type ReadingResult = z.infer<typeof ReadingResult>;

/**
 * `POST /api/ingest/readings`: readings pushed by a utility's or carrier's IoT platform, for meters that hold no
 * MQTT connection of their own. Each meter's readings go through the same path as an MQTT payload (validation,
 * rate limit, dead letters, group commit, normalizer); the answer comes only after the commit, so a 2xx means
 * stored, and a batch sent again is harmless (its readings come back as `duplicate`).
 */
/** A meter's stored readings between two times: `ts` → the registers stored at it (the duplicate check). */
export type StoredReadings = (
  meterId: string,
  fromTs: number,
  toTs: number,
) => Promise<Map<number, number[]>>;

/**
 * `stored`: where already stored readings are looked up (default: the embedded store's inbox; a cluster worker's
 * is PostgreSQL's).
 */
export function ingestRoutes(ingest: Pick<Ingest, 'handle' | 'deadLetter'>, stored?: StoredReadings) {
  return (app: FastifyInstance, ctx: ApiContext): void => {
    defineRoute(app, ctx, {
      method: 'POST',
      url: '/ingest/readings',
      summary: 'Post a batch of meter readings (an `ingest` API key; only meters of its area or meter list)',
      tags: ['ingest'],
      permission: 'readings:write',
      body: IngestBody,
      responses: { 200: { description: 'Committed; what became of each reading', schema: IngestAnswer } },
      handler: async ({ body, principal }) => {
        const results: ReadingResult[] = new Array(body.readings.length);
        const byMeter = new Map<string, number[]>();
        const inScope = scopeCheck(ctx, principal);
        body.readings.forEach((item, index) => {
          const meterId = meterIdOf(item);
          if (meterId === undefined) {
            results[index] = refused(
              index,
              null,
              'ERR_INGEST_PAYLOAD_INVALID',
              'meterId is required',
              'meterId',
            );
          } else if (!inScope(meterId)) {
            const message = `meter ${meterId} is not registered in this key's area or meter list`;
            results[index] = refused(index, meterId, 'ERR_INGEST_METER_OUT_OF_SCOPE', message, 'meterId');
            ingest.deadLetter(
              meterId,
              TOPIC,
              'ERR_INGEST_METER_OUT_OF_SCOPE',
              `${message} (key ${principal.id})`,
            );
          } else {
            const list = byMeter.get(meterId) ?? [];
            list.push(index);
            byMeter.set(meterId, list);
          }
        });
        // Every meter's chunks at once: they share group commits. Chunks of one meter go in order.
        await Promise.all(
          [...byMeter].map(async ([meterId, indices]) => {
            const fresh = await withoutStored(ctx, stored, meterId, indices, body.readings, results);
            for (let at = 0; at < fresh.length; at += CHUNK) {
              const chunk = fresh.slice(at, at + CHUNK);
              const payload = Buffer.from(
                JSON.stringify({ readings: chunk.map((i) => withoutMeterId(body.readings[i])) }),
              );
              const result = await ingest.handle(meterId, TOPIC, payload);
              explain(chunk, meterId, body.readings, result, results);
            }
          }),
        );
        const count = (s: ReadingResult['status']) => results.filter((r) => r.status === s).length;
        return {
          accepted: count('accepted'),
          duplicate: count('duplicate'),
          refused: count('refused'),
          results,
        };
      },
    });
  };
}

/** Which meters the caller may post for: its area (grids, communities, streets) or its meter list; all for admins. */
function scopeCheck(ctx: ApiContext, principal: Principal): (meterId: string) => boolean {
  if (principal.scope.all) return () => true;
  const listed = new Set(principal.scope.meters ?? []);
  const known = new Map<string, boolean>();
  return (meterId) => {
    let ok = known.get(meterId);
    if (ok === undefined) {
      const meter = ctx.store.registry.meter(meterId);
      const grid = meter?.active ? ctx.store.access.householdGrid(meter.householdId) : undefined;
      ok = grid !== undefined && (listed.has(meterId) || ctx.access.gridVisible(principal, grid));
      known.set(meterId, ok);
    }
    return ok;
  };
}

/**
 * Answers `duplicate` for readings the inbox already holds (same meter, time and register: a batch sent again)
 * without storing them twice; returns the others.
 */
async function withoutStored(
  ctx: ApiContext,
  lookup: StoredReadings | undefined,
  meterId: string,
  indices: number[],
  readings: unknown[],
  results: ReadingResult[],
): Promise<number[]> {
  const times = indices.map((i) => tsOf(readings[i]));
  const valid = times.filter((t): t is number => t !== undefined);
  if (valid.length === 0) return indices;
  const [from, to] = [Math.min(...valid), Math.max(...valid)];
  const stored = lookup ? await lookup(meterId, from, to) : ctx.store.inbox.stored(meterId, from, to);
  if (stored.size === 0) return indices;
  return indices.filter((index, n) => {
    const liters = (readings[index] as { totalLiters?: unknown }).totalLiters;
    const same = times[n] !== undefined && stored.get(times[n])?.includes(liters as number);
    if (same) results[index] = { index, meterId, status: 'duplicate' };
    return !same;
  });
}

function tsOf(item: unknown): number | undefined {
  return Timestamp.safeParse((item as { ts?: unknown }).ts).data;
}

function meterIdOf(item: unknown): string | undefined {
  const id = (item as { meterId?: unknown } | null)?.meterId;
  return typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : undefined;
}

function withoutMeterId(item: unknown): unknown {
  const { meterId: _meterId, ...rest } = item as Record<string, unknown>;
  return rest;
}

function refused(index: number, meterId: string | null, code: ErrorCode, message: string, field?: string) {
  return { index, meterId, status: 'refused' as const, code, message, ...(field ? { field } : {}) };
}

const QUIET: ReadonlySet<NormalizerEventKind> = new Set(['accepted', 'duplicate']);

/**
 * Maps ingest's answer for one chunk back to the readings of the request: rejections of one reading carry its
 * index in the chunk; the committed readings come back oldest first (a stable sort by time, as ingest does);
 * valid readings without an outcome were refused by a rejection of the payload (the meter's allowance).
 */
function explain(
  chunk: number[],
  meterId: string,
  readings: unknown[],
  result: IngestResult,
  results: ReadingResult[],
): void {
  const rejectedAt = new Set<number>();
  for (const r of result.rejected) {
    if (r.index === undefined) continue;
    const index = chunk[r.index]!;
    rejectedAt.add(r.index);
    const field = r.field?.replace(/^readings\.\d+\./, `readings.${index}.`);
    results[index] = refused(index, meterId, r.code, r.message, field);
  }
  const valid = chunk
    .map((index, i) => ({
      index,
      i,
      ts: tsOf(readings[index]) ?? 0,
    }))
    .filter((v) => !rejectedAt.has(v.i))
    .sort((a, b) => a.ts - b.ts);
  const outcomes = result.outcomes ?? [];
  const whole = result.rejected.find((r) => r.index === undefined);
  valid.forEach((v, n) => {
    const outcome = outcomes[n];
    if (outcome) {
      results[v.index] =
        outcome.kind === 'duplicate'
          ? { index: v.index, meterId, status: 'duplicate' }
          : {
              index: v.index,
              meterId,
              status: 'accepted',
              ...(QUIET.has(outcome.kind) ? {} : { kind: outcome.kind }),
            };
    } else {
      results[v.index] = refused(
        v.index,
        meterId,
        whole?.code ?? 'ERR_INGEST_PAYLOAD_INVALID',
        whole?.message ?? 'not stored',
      );
    }
  });
}
