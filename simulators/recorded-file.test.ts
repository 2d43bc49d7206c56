import { readFileSync } from 'node:fs';
import { deflateRawSync, crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { LocalTime } from '../core/local-time.ts';
import { parseRecording, readRecordedFile } from './recorded-file.ts';
import { localToUtc } from './recorded-local-time.ts';
import { replayOrder, RecordedMeter } from './recorded-meter.ts';
import { parseRecordedNumber } from './recorded-readings.ts';
import { readZipEntry } from './recorded-zip.ts';

const FIXTURES = new URL('../test/fixtures/daiad/', import.meta.url);
const fixture = (name: string) => new URL(name, FIXTURES).pathname;
const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

/** A one-entry zip written by hand: local header, data, central directory, end record. */
function zipOf(name: string, content: Buffer, method: 0 | 8): Buffer {
  const data = method === 8 ? deflateRawSync(content) : content;
  const n = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(method, 8);
  local.writeUInt16LE(n.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(method, 10);
  central.writeUInt32LE(crc32(content), 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(n.length, 28);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + n.length, 12);
  end.writeUInt32LE(30 + n.length + data.length, 16);
  return Buffer.concat([local, n, data, central, n, end]);
}

describe('readZipEntry', () => {
  it('inflates an entry written with a data descriptor, using the central directory sizes', () => {
    const entry = readZipEntry(readFileSync(fixture('swm_trialA_extract.zip')));
    expect(entry.name).toBe('swm_trialA_extract.csv');
    expect(entry.data.equals(readFileSync(fixture('swm_trialA_extract.csv')))).toBe(true);
  });

  it('reads stored and deflated entries and refuses a corrupted one', () => {
    const content = Buffer.from('meterId,ts,totalLiters\nm-1,2026-01-05T00:00:00Z,10\n');
    expect(readZipEntry(zipOf('a.csv', content, 0)).data.toString()).toBe(content.toString());
    const zip = zipOf('a.csv', content, 8);
    expect(readZipEntry(zip, 'a.csv').data.equals(content)).toBe(true);
    const damaged = Buffer.from(zip);
    damaged[40] = damaged[40]! ^ 0xff;
    expect(() => readZipEntry(damaged)).toThrow(/ERR_REPLAY_FILE_INVALID|CRC-32|inflate/);
    expect(() => readZipEntry(zip, 'b.csv')).toThrow(/no entry "b.csv"/);
    expect(() => readZipEntry(Buffer.from('not a zip at all, just text that is long enough'))).toThrow(
      /end-of-central-directory/,
    );
  });
});

describe('parseRecordedNumber', () => {
  it('reads registers written like R writes them', () => {
    expect(parseRecordedNumber('117279')).toBe(117_279);
    expect(parseRecordedNumber('4e+05')).toBe(400_000);
    expect(parseRecordedNumber('4.0004E5')).toBe(400_040);
    expect(parseRecordedNumber(' 12.5 ')).toBe(12.5);
    expect(parseRecordedNumber('-3')).toBe(-3);
    for (const bad of ['', 'NA', '1,5', '0x10', 'Infinity', '1e400', '4e+', '.']) {
      expect(parseRecordedNumber(bad), bad).toBeNull();
    }
  });
});

describe('localToUtc', () => {
  const madrid = new LocalTime('Europe/Madrid', 60);
  const at = (day: number, month: number, hour: number, minute = 0) => ({
    year: 2017,
    month,
    day,
    hour,
    minute,
    second: 0,
  });

  it('reads Spanish winter and summer time', () => {
    expect(localToUtc(at(1, 3, 0, 3), madrid)).toEqual({
      ok: true,
      ts: Date.UTC(2017, 1, 28, 23, 3),
      shifted: false,
    });
    expect(localToUtc(at(27, 3, 12), madrid)).toMatchObject({ ts: Date.UTC(2017, 2, 27, 10) });
  });

  it('moves a wall time skipped by daylight saving forward by the gap', () => {
    expect(localToUtc(at(26, 3, 2, 30), madrid)).toEqual({
      ok: true,
      ts: Date.UTC(2017, 2, 26, 1, 30),
      shifted: true,
    });
  });

  it('takes the earlier of a repeated wall time unless the meter has already passed it', () => {
    const first = Date.UTC(2017, 9, 29, 0, 30);
    expect(localToUtc(at(29, 10, 2, 30), madrid)).toMatchObject({ ts: first });
    expect(localToUtc(at(29, 10, 2, 30), madrid, first + 10 * 60_000)).toMatchObject({
      ts: first + 3_600_000,
    });
  });

  it('refuses dates that do not exist', () => {
    expect(localToUtc(at(31, 2, 7), madrid)).toEqual({ ok: false, why: 'invalid-date' });
    expect(localToUtc(at(1, 3, 24), madrid)).toEqual({ ok: false, why: 'invalid-time' });
  });
});

describe('parseRecording (daiad)', () => {
  it('turns every row of the synthetic file into a reading or a rejection with a reason', () => {
    const rec = readRecordedFile(fixture('synthetic-messy.csv'), { format: 'daiad' });
    expect(rec.rows).toBe(21);
    expect(rec.readingCount() + rec.rejected.length).toBe(rec.rows);
    expect(rec.rejectedByReason()).toEqual({
      'bad-number': 1,
      'bad-datetime': 1,
      columns: 1,
      'negative-register': 1,
      'bad-meter-id': 1,
    });
    expect(rec.rejected.every((r) => r.code === 'ERR_REPLAY_ROW_INVALID' && r.line > 1)).toBe(true);
    expect(rec.shiftedLocalTimes).toBe(1);
    const a = rec.meters.get(A)!;
    expect(a[0]).toEqual({ ts: Date.UTC(2017, 2, 25, 21), totalLiters: 400_000, line: 2 });
    expect(a.find((r) => r.line === 10)!.totalLiters).toBe(400_040);
    expect(rec.meters.get(B)).toHaveLength(5);
  });

  it('reads the extract of the real trial: three households, no rejected rows', () => {
    const rec = readRecordedFile(fixture('swm_trialA_extract.zip'), { format: 'daiad' });
    expect(rec.rows).toBe(1751);
    expect(rec.rejected).toEqual([]);
    expect([...rec.meters.keys()].map((k) => k.slice(0, 8))).toEqual(['1f8730a9', '05be51c3', '219ffd09']);
    // 01/03/2017 00:03:26 in Madrid (CET, +01:00).
    expect(rec.meters.get('1f8730a9-5d67-4895-9215-6e247087ea00')![0]!.ts).toBe(
      Date.UTC(2017, 1, 28, 23, 3, 26),
    );
  });

  it("recognises both published header styles by the columns' meaning, in any order", () => {
    const rows = ['1f8730a9-5d67-4895-9215-6e247087ea00;01/03/2017 00:03:26;4e+05;0'];
    const positional = parseRecording(Buffer.from(['V1;V2;V3;V4', ...rows].join('\n')), {});
    const named = parseRecording(
      Buffer.from(['user key;datetime;meter reading;diff', ...rows].join('\n')),
      {},
    );
    const reordered = parseRecording(
      Buffer.from(
        '\uFEFF"diff";"meter reading";"datetime";"user key"\r\n0;4e+05;01/03/2017 00:03:26;abc-1\r\n',
      ),
      {},
    );
    for (const rec of [positional, named, reordered]) {
      expect(rec.format).toBe('daiad');
      expect(rec.rejected).toEqual([]);
      expect([...rec.meters.values()][0]).toEqual([
        { ts: Date.UTC(2017, 1, 28, 23, 3, 26), totalLiters: 400_000, line: 2 },
      ]);
    }
  });

  it('refuses a file that is not in the DAIAD format', () => {
    expect(() => parseRecording(Buffer.from('meterId,ts,totalLiters\n'), { format: 'daiad' })).toThrow(
      /not a DAIAD file/,
    );
  });
});

describe('parseRecording (csv) with a real CSV parser', () => {
  it('reads quoted fields with commas, escaped quotes, a BOM and CRLF line ends', () => {
    const text =
      '\uFEFF"meterId","ts","totalLiters","note"\r\n' +
      'm-1,2026-01-05T00:00:00+08:00,100,"kitchen, ""old"" meter"\r\n' +
      '"m-2","2026-01-05T01:00:00+08:00","1,5","quoted number with a comma"\r\n' +
      '"m-3",2026-01-05T02:00:00+08:00,7,"a note\nover two lines"\r\n';
    const rec = parseRecording(Buffer.from(text), {});
    expect(rec.format).toBe('csv');
    expect(rec.rows).toBe(3);
    expect(rec.meters.get('m-1')).toEqual([{ ts: Date.UTC(2026, 0, 4, 16), totalLiters: 100, line: 2 }]);
    // "1,5" is one field (not two columns), and not a number of liters.
    expect(rec.rejected).toMatchObject([{ line: 3, reason: 'bad-number' }]);
    expect(rec.meters.get('m-3')).toEqual([{ ts: Date.UTC(2026, 0, 4, 18), totalLiters: 7, line: 5 }]);
  });

  it('rejects a record with an unclosed quote with its line, keeping the rows before it', () => {
    const rec = parseRecording(
      Buffer.from('meterId,ts,totalLiters\nm-1,1767542400000,5\nm-1,"1767546000000,6\n'),
      {
        format: 'csv',
      },
    );
    expect(rec.meters.get('m-1')).toHaveLength(1);
    expect(rec.rejected).toMatchObject([{ reason: 'columns' }]);
    expect(rec.rows).toBe(rec.readingCount() + rec.rejected.length);
  });
});

describe('parseRecording (csv)', () => {
  const csv = [
    'ts,meterId,totalLiters,note',
    '2026-01-05T00:00:00+08:00,m-1,100,first',
    '1767542400000,m-2,5,epoch ms',
    '2026-01-05 01:00:00,m-1,104.5,local',
    '1767542400,m-2,6,epoch seconds',
    '2026-01-05T02:00:00Z,m 1,7,bad id',
    '2026-01-05T03:00:00Z,m-1,4e+02,ok',
  ].join('\n');

  it('reads ISO, epoch-ms and (with a zone) local times, and gives every bad row a reason', () => {
    const rec = parseRecording(Buffer.from(csv), { format: 'csv', timeZone: 'Asia/Shanghai' });
    expect(rec.meters.get('m-1')!.map((r) => [r.ts, r.totalLiters])).toEqual([
      [Date.UTC(2026, 0, 4, 16), 100],
      [Date.UTC(2026, 0, 4, 17), 104.5],
      [Date.UTC(2026, 0, 5, 3), 400],
    ]);
    expect(rec.meters.get('m-2')!.map((r) => r.ts)).toEqual([1_767_542_400_000]);
    expect(rec.rejected.map((r) => [r.line, r.reason])).toEqual([
      [5, 'bad-datetime'],
      [6, 'bad-meter-id'],
    ]);
  });

  it('refuses local times without --timezone', () => {
    const rec = parseRecording(Buffer.from(csv), { format: 'csv' });
    expect(rec.rejected.find((r) => r.line === 4)).toMatchObject({ reason: 'no-time-zone' });
  });

  it('refuses a header without the three columns', () => {
    expect(() => parseRecording(Buffer.from('meter,ts\n'), { format: 'csv' })).toThrow(
      /lacks meterId, totalLiters/,
    );
  });
});

describe('replayOrder and RecordedMeter', () => {
  it('interleaves meters by time, keeping each meter’s file order, a late row right after its predecessor', () => {
    const rec = readRecordedFile(fixture('synthetic-messy.csv'), { format: 'daiad' });
    const order = replayOrder(rec);
    expect(order).toHaveLength(16);
    for (let i = 1; i < order.length; i++) expect(order[i]!.at).toBeGreaterThanOrEqual(order[i - 1]!.at);
    const aLines = order.filter((r) => r.meterId === A).map((r) => r.line);
    expect(aLines).toEqual([...aLines].sort((x, y) => x - y));
    const meter = new RecordedMeter(rec.meters.get(A)!);
    const firstFive = meter.readingsUntil(Date.UTC(2017, 2, 26, 0, 0));
    expect(firstFive.map((r) => r.totalLiters)).toEqual([400_000, 400_010, 400_010, 400_010, 648_530]);
    expect(meter.readingsUntil(Date.UTC(2017, 2, 26, 1, 50)).map((r) => r.totalLiters)).toEqual([
      400_025, 400_030, 400_028,
    ]);
  });
});
