import { describe, expect, it } from 'vitest';
import { parsePayload, type ParseOptions } from './parse-payload.ts';

const NOW = Date.UTC(2026, 0, 5, 2); // 2026-01-05 10:00 Asia/Shanghai
const opts: ParseOptions = {
  maxPayloadBytes: 1024,
  maxBatchReadings: 5,
  now: NOW,
  maxFutureSkewMs: 5 * 60_000,
};

const parse = (text: string, over: Partial<ParseOptions> = {}) =>
  parsePayload(Buffer.from(text, 'utf8'), { ...opts, ...over });
const parseJson = (value: unknown, over: Partial<ParseOptions> = {}) => parse(JSON.stringify(value), over);

describe('parsePayload', () => {
  describe('a single reading', () => {
    it('accepts an ISO 8601 timestamp with a zone offset', () => {
      expect(parseJson({ ts: '2026-01-05T08:00:00+08:00', totalLiters: 1234.5 })).toEqual({
        readings: [{ ts: Date.UTC(2026, 0, 5, 0), totalLiters: 1234.5 }],
        rejected: [],
      });
    });

    it('accepts an ISO 8601 timestamp in UTC with milliseconds', () => {
      expect(parseJson({ ts: '2026-01-05T00:00:00.250Z', totalLiters: 0 }).readings).toEqual([
        { ts: Date.UTC(2026, 0, 5, 0, 0, 0, 250), totalLiters: 0 },
      ]);
    });

    it('accepts epoch milliseconds', () => {
      const ts = Date.UTC(2026, 0, 5, 1, 15);
      expect(parseJson({ ts, totalLiters: 10 }).readings).toEqual([{ ts, totalLiters: 10 }]);
    });

    it('keeps the optional meter fields and drops unknown ones', () => {
      const ts = Date.UTC(2026, 0, 5, 1);
      const { readings } = parseJson({
        ts,
        totalLiters: 10,
        batteryPct: 80,
        rssi: -70,
        seq: 4,
        flowLpm: 0,
        colour: 'blue',
      });
      expect(readings).toEqual([{ ts, totalLiters: 10, batteryPct: 80, rssi: -70, seq: 4, flowLpm: 0 }]);
    });
  });

  describe('a batch', () => {
    it('returns the readings sorted oldest first even when sent unsorted', () => {
      const t = (h: number) => Date.UTC(2026, 0, 5, h);
      const { readings, rejected } = parseJson({
        readings: [
          { ts: t(1), totalLiters: 30 },
          { ts: '2026-01-05T00:00:00Z', totalLiters: 10 },
          { ts: t(0) + 30 * 60_000, totalLiters: 20 },
        ],
      });
      expect(rejected).toEqual([]);
      expect(readings.map((r) => [r.ts, r.totalLiters])).toEqual([
        [t(0), 10],
        [t(0) + 30 * 60_000, 20],
        [t(1), 30],
      ]);
    });

    it('keeps the good readings and reports the bad one with its index and field path', () => {
      const { readings, rejected } = parseJson({
        readings: [
          { ts: Date.UTC(2026, 0, 5, 0), totalLiters: 10 },
          { ts: Date.UTC(2026, 0, 5, 1), totalLiters: -3 },
          { ts: Date.UTC(2026, 0, 5, 2), totalLiters: 12 },
        ],
      });
      expect(readings.map((r) => r.totalLiters)).toEqual([10, 12]);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatchObject({
        code: 'ERR_INGEST_PAYLOAD_INVALID',
        index: 1,
        field: 'readings.1.totalLiters',
      });
      expect(rejected[0]!.message).toContain('readings.1.totalLiters');
      expect(rejected[0]!.message).toContain('negative');
    });

    it('reports a reading of the batch that is too far in the future by its index', () => {
      const { readings, rejected } = parseJson({
        readings: [
          { ts: NOW, totalLiters: 1 },
          { ts: NOW + 60 * 60_000, totalLiters: 2 },
        ],
      });
      expect(readings).toHaveLength(1);
      expect(rejected).toEqual([
        expect.objectContaining({ code: 'ERR_INGEST_TIMESTAMP_FUTURE', index: 1, field: 'readings.1.ts' }),
      ]);
    });

    it('reports a batch entry that is not an object by its index alone', () => {
      const { readings, rejected } = parseJson({
        readings: [{ ts: NOW, totalLiters: 1 }, null, { ts: NOW - 60_000, totalLiters: 1 }],
      });
      expect(readings).toHaveLength(2);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatchObject({
        code: 'ERR_INGEST_PAYLOAD_INVALID',
        index: 1,
        field: 'readings.1',
      });
      expect(rejected[0]!.message).not.toContain('required');
    });

    it('rejects a batch with more readings than the maximum', () => {
      const readings = Array.from({ length: 6 }, (_, i) => ({ ts: NOW - i * 60_000, totalLiters: i }));
      const out = parseJson({ readings });
      expect(out.readings).toEqual([]);
      expect(out.rejected).toEqual([
        expect.objectContaining({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'readings' }),
      ]);
      expect(out.rejected[0]!.message).toContain('5');
      expect(out.rejected[0]!.message).toContain('6');
    });

    it('accepts a batch of exactly the maximum', () => {
      const readings = Array.from({ length: 5 }, (_, i) => ({ ts: NOW - i * 60_000, totalLiters: i }));
      expect(parseJson({ readings }).readings).toHaveLength(5);
    });

    it('rejects an empty batch', () => {
      expect(parseJson({ readings: [] }).rejected).toEqual([
        expect.objectContaining({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'readings' }),
      ]);
    });

    it('rejects readings that are not an array', () => {
      expect(parseJson({ readings: { ts: NOW, totalLiters: 1 } }).rejected).toEqual([
        expect.objectContaining({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'readings' }),
      ]);
    });
  });

  describe('rejects', () => {
    const good = { ts: '2026-01-05T08:00:00+08:00' };

    /** The one rejection of a single-reading payload. */
    function rejectionOf(text: string, over: Partial<ParseOptions> = {}) {
      const out = parse(text, over);
      expect(out.readings).toEqual([]);
      expect(out.rejected).toHaveLength(1);
      return out.rejected[0]!;
    }

    it('malformed JSON with ERR_INGEST_PAYLOAD_MALFORMED', () => {
      expect(rejectionOf('{"ts": 1, "totalLiters": ').code).toBe('ERR_INGEST_PAYLOAD_MALFORMED');
      expect(rejectionOf('').code).toBe('ERR_INGEST_PAYLOAD_MALFORMED');
    });

    it.each([
      ['an array', '[{"ts": 1767571200000, "totalLiters": 1}]'],
      ['a string', '"hello"'],
      ['a number', '42'],
      ['null', 'null'],
    ])('%s at the root with ERR_INGEST_PAYLOAD_INVALID', (_name, text) => {
      expect(rejectionOf(text).code).toBe('ERR_INGEST_PAYLOAD_INVALID');
    });

    it('a missing totalLiters, naming the field', () => {
      expect(rejectionOf(JSON.stringify(good))).toEqual({
        code: 'ERR_INGEST_PAYLOAD_INVALID',
        message: 'totalLiters is required',
        field: 'totalLiters',
      });
    });

    it('a missing ts, saying it is required', () => {
      const r = rejectionOf('{"totalLiters": 12}');
      expect(r).toMatchObject({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'ts' });
      expect(r.message).toBe('ts is required');
    });

    it.each([
      ['a string', '"12"'],
      ['null', 'null'],
      ['a number too large for a double (1e400)', '1e400'],
      ['a boolean', 'true'],
    ])('totalLiters given as %s, saying it must be a number', (_name, raw) => {
      const r = rejectionOf(`{"ts": "2026-01-05T08:00:00+08:00", "totalLiters": ${raw}}`);
      expect(r).toMatchObject({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'totalLiters' });
      expect(r.message).toContain('totalLiters');
      expect(r.message).toContain('must be a number');
      expect(r.message).not.toContain('required');
    });

    it('a negative totalLiters, naming the field', () => {
      const r = rejectionOf(JSON.stringify({ ...good, totalLiters: -1 }));
      expect(r).toMatchObject({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'totalLiters' });
      expect(r.message).toContain('totalLiters');
      expect(r.message).toContain('negative');
    });

    it('an ISO timestamp without a time zone, explaining what is expected', () => {
      const r = rejectionOf('{"ts": "2026-01-05T08:00:00", "totalLiters": 1}');
      expect(r).toMatchObject({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'ts' });
      expect(r.message).toContain('ts');
      expect(r.message).toContain('time zone');
    });

    it('a timestamp in epoch seconds, suggesting milliseconds', () => {
      const r = rejectionOf(JSON.stringify({ ts: Math.floor(NOW / 1000), totalLiters: 1 }));
      expect(r).toMatchObject({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'ts' });
      expect(r.message).toContain('epoch seconds');
    });

    it('a fractional epoch timestamp, saying it must be whole milliseconds', () => {
      const r = rejectionOf(JSON.stringify({ ts: NOW + 0.5, totalLiters: 1 }));
      expect(r).toMatchObject({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'ts' });
      expect(r.message).toContain('integer');
    });

    it('a timestamp of the wrong type, explaining the accepted formats', () => {
      const r = rejectionOf('{"ts": true, "totalLiters": 1}');
      expect(r).toMatchObject({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'ts' });
      expect(r.message).toContain('ISO 8601');
    });

    it('a timestamp outside 2000-2100', () => {
      const r = rejectionOf(JSON.stringify({ ts: 5000, totalLiters: 1 }));
      expect(r).toMatchObject({ code: 'ERR_INGEST_PAYLOAD_INVALID', field: 'ts' });
      expect(r.message).toContain('2000');
    });

    it('a timestamp a day in the future with ERR_INGEST_TIMESTAMP_FUTURE', () => {
      const r = rejectionOf(JSON.stringify({ ts: NOW + 24 * 60 * 60_000, totalLiters: 1 }));
      expect(r).toMatchObject({ code: 'ERR_INGEST_TIMESTAMP_FUTURE', field: 'ts' });
      expect(r.message).toContain('1440 minutes ahead');
    });

    it('nothing within the allowed clock skew', () => {
      expect(parseJson({ ts: NOW + 5 * 60_000, totalLiters: 1 }).readings).toHaveLength(1);
      expect(parseJson({ ts: NOW + 5 * 60_000 + 1, totalLiters: 1 }).rejected[0]!.code).toBe(
        'ERR_INGEST_TIMESTAMP_FUTURE',
      );
    });

    it('an oversize payload with ERR_INGEST_PAYLOAD_TOO_LARGE before reading it', () => {
      const text = JSON.stringify({ ts: NOW, totalLiters: 1, note: 'x'.repeat(2000) });
      const r = rejectionOf(text);
      expect(r.code).toBe('ERR_INGEST_PAYLOAD_TOO_LARGE');
      expect(r.message).toContain(String(Buffer.byteLength(text)));
      expect(r.message).toContain('1024');
      expect(rejectionOf('{not even json' + ' '.repeat(2000)).code).toBe('ERR_INGEST_PAYLOAD_TOO_LARGE');
    });

    it('measures the payload size in bytes, not characters', () => {
      const text = JSON.stringify({ ts: NOW, totalLiters: 1, note: '水'.repeat(10) });
      expect(parse(text, { maxPayloadBytes: text.length }).rejected[0]!.code).toBe(
        'ERR_INGEST_PAYLOAD_TOO_LARGE',
      );
      expect(parse(text, { maxPayloadBytes: Buffer.byteLength(text) }).readings).toHaveLength(1);
    });
  });
});
