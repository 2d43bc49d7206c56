import { afterEach, describe, expect, it } from 'vitest';
import {
  connectClient,
  eventually,
  startTestService,
  T0,
  testRegistry,
  type TestService,
} from '../test/harness.ts';

/** A runaway meter is held to its allowance through the real broker: excess refused and answered, not fatal. */
let service: TestService | undefined;
afterEach(async () => {
  await service?.dispose();
  service = undefined;
});

const reading = (i: number) =>
  JSON.stringify({ ts: T0 - 24 * 3_600_000 + i * 60_000, totalLiters: 1000 + i });

describe('per-meter rate limit', () => {
  it('dead-letters readings beyond the allowance, answers on the error topic, and keeps the meter connected', async () => {
    service = await startTestService({
      registry: testRegistry(1),
      config: { ingest: { maxReadingsPerMeterPerMinute: 10, maxBatchReadings: 5 } },
    });
    const { cf, clock } = service;
    const meter = await connectClient(service.mqttUrl, 'm-g1-1', 'secret-m-g1-1');
    const errors: { code: string; message: string }[] = [];
    meter.on('message', (_t, payload) =>
      errors.push(JSON.parse(payload.toString()) as { code: string; message: string }),
    );
    await meter.subscribeAsync('meters/m-g1-1/errors', { qos: 1 });
    const other = await connectClient(service.mqttUrl, 'm-g2-1', 'secret-m-g2-1');
    try {
      // A full bucket: 10 readings pass, the next 2 are refused (each is its own payload).
      for (let i = 0; i < 12; i++) await meter.publishAsync('meters/m-g1-1/readings', reading(i), { qos: 1 });
      await eventually(() => errors.length === 2, 5_000, 'two rate-limit errors');
      expect(errors.map((e) => e.code)).toEqual(['ERR_INGEST_RATE_LIMITED', 'ERR_INGEST_RATE_LIMITED']);
      expect(errors[0]!.message).toMatch(/1 of 1 readings .* allowance of 10 readings a minute/);

      // Another meter has its own allowance.
      await other.publishAsync('meters/m-g2-1/readings', reading(0), { qos: 1 });

      // 20 s later 3⅓ tokens have come back: a batch of 5 keeps its 3 oldest readings and refuses 2.
      clock.advance(20_000);
      const batch = JSON.stringify({
        readings: [16, 12, 13, 15, 14].map((i) => JSON.parse(reading(i)) as object),
      });
      await meter.publishAsync('meters/m-g1-1/readings', batch, { qos: 1 });
      await eventually(() => errors.length === 3, 5_000, 'a third rate-limit error');
      expect(errors[2]!.message).toMatch(/^2 of 5 readings/);

      // The meter was never disconnected: a minute later its readings are taken again.
      expect(meter.connected).toBe(true);
      clock.advance(60_000);
      await meter.publishAsync('meters/m-g1-1/readings', reading(18), { qos: 1 });

      expect(cf.store.inbox.countForMeter('m-g1-1')).toBe(14);
      expect(cf.store.inbox.countForMeter('m-g2-1')).toBe(1);
      const dead = cf.store.deadLetters.list({ meterId: 'm-g1-1', code: 'ERR_INGEST_RATE_LIMITED' });
      expect(dead).toHaveLength(3);
      expect(dead.every((d) => d.excerpt !== null && d.excerpt.includes('totalLiters'))).toBe(true);
      expect(cf.ingest.stats().rateLimitedReadings).toBe(4);
      const stored = cf.store.inbox.after(0, 100).filter((r) => r.meterId === 'm-g1-1');
      expect(stored.slice(10, 13).map((r) => r.totalLiters)).toEqual([1012, 1013, 1014]);
    } finally {
      await meter.endAsync(true);
      await other.endAsync(true);
    }
  });
});
