import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { failureAction, toPoint } from '../archive/influx-writer.ts';
import { Wakeup } from '../archive/wakeup.ts';
import { loadConfig } from '../core/config.ts';
import { openStore, type Store } from '../core/store/store.ts';
import { seedRegistry, tempDataDir, testRegistry } from './harness.ts';

/** The archive's parts on their own: line protocol, failure policy, configuration, spool bookkeeping. */
const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  stores.splice(0).forEach((s) => s.close());
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

describe('a reading as a line protocol point', () => {
  it('has meter, household and grid tags, the register as a float and the reading time in ms', () => {
    const row = {
      seq: 7,
      meterId: 'm-1',
      householdId: 'h-1',
      grid: 'g1',
      ts: 1_767_571_200_000,
      totalLiters: 48211.5,
      receivedAt: 0,
    };
    expect(toPoint(row).toLineProtocol({ convertTime: (t) => String(t) })).toBe(
      'water_reading,grid=g1,household=h-1,meter=m-1 total_liters=48211.5 1767571200000',
    );
  });

  it('escapes ids with spaces, commas and equals signs, and leaves out unknown households', () => {
    const row = {
      seq: 1,
      meterId: 'm 1,a=b',
      householdId: null,
      grid: null,
      ts: 5,
      totalLiters: 0,
      receivedAt: 0,
    };
    expect(toPoint(row).toLineProtocol({ convertTime: (t) => String(t) })).toBe(
      'water_reading,meter=m\\ 1\\,a\\=b total_liters=0 5',
    );
  });
});

describe('after a failed write', () => {
  it('moves past a batch only when the database refused it for good (422), and retries anything else', () => {
    expect(failureAction(422)).toBe('skip');
    for (const status of [undefined, 400, 401, 403, 404, 413, 429, 500, 503]) {
      expect(failureAction(status), String(status)).toBe('retry');
    }
  });
});

describe('archive configuration', () => {
  it('is off by default and reads CAREFLOW_INFLUX_* into archive.*', () => {
    expect(loadConfig({}).archive.url).toBeNull();
    const config = loadConfig({
      CAREFLOW_INFLUX_URL: 'http://127.0.0.1:8086',
      CAREFLOW_INFLUX_TOKEN: 'tok',
      CAREFLOW_INFLUX_ORG: 'street-office',
      CAREFLOW_INFLUX_BUCKET: 'water',
    });
    expect(config.archive).toMatchObject({
      url: 'http://127.0.0.1:8086',
      token: 'tok',
      org: 'street-office',
      bucket: 'water',
      batchReadings: 5_000,
      flushIntervalMs: 1_000,
    });
  });

  it('names every missing or bad archive setting at once', () => {
    expect(() => loadConfig({ CAREFLOW_INFLUX_URL: 'influx:8086' })).toThrow(
      /archive\.url: expected an http\(s\) URL.*archive\.org: required.*CAREFLOW_INFLUX_ORG.*archive\.bucket: required/,
    );
  });
});

describe('the archive cursor over the inbox', () => {
  async function store(): Promise<Store> {
    const dir = tempDataDir();
    dirs.push(dir);
    await seedRegistry(dir, testRegistry(1));
    const s = openStore({ path: join(dir, 'careflow.db') });
    stores.push(s);
    return s;
  }

  it('counts the rows after it as the spool and joins each row to its household and grid', async () => {
    const s = await store();
    s.transaction(() => {
      for (let i = 0; i < 5; i++) s.inbox.append(i < 3 ? 'm-g1-1' : 'm-g2-1', 1000 + i, 10 + i, 50 + i);
    });
    expect(s.archive.hasCursor()).toBe(false);
    expect(s.archive.spool(s.archive.cursor())).toBe(5);
    s.archive.setCursor(2);
    expect(s.archive.spool(s.archive.cursor())).toBe(3);
    expect(s.archive.oldestPendingReceivedAt(2)).toBe(52);
    expect(s.archive.pending(2, 2)).toEqual([
      {
        seq: 3,
        meterId: 'm-g1-1',
        householdId: 'h-g1-1',
        grid: 'g1',
        ts: 1002,
        totalLiters: 12,
        receivedAt: 52,
      },
      {
        seq: 4,
        meterId: 'm-g2-1',
        householdId: 'h-g2-1',
        grid: 'g2',
        ts: 1003,
        totalLiters: 13,
        receivedAt: 53,
      },
    ]);
  });

  it('holds inbox retention back to the lower of the processing and archive cursors', async () => {
    const s = await store();
    s.checkpoints.setCursor(40);
    expect(s.archive.pruneLimit()).toBe(40); // no archive ever started on this store
    s.archive.setCursor(25);
    expect(s.archive.pruneLimit()).toBe(25);
    s.archive.setCursor(60);
    expect(s.archive.pruneLimit()).toBe(40);
  });
});

describe('Wakeup', () => {
  it('ends a wait on a signal, a sleep only on interrupt, and every later wait at once', async () => {
    const w = new Wakeup();
    const started = Date.now();
    const waiting = w.wait(10_000);
    const sleeping = w.sleep(10_000);
    let slept = false;
    void sleeping.then(() => (slept = true));
    w.signal();
    await waiting;
    await new Promise((r) => setTimeout(r, 20));
    expect(slept).toBe(false);
    w.interrupt();
    await sleeping;
    await w.wait(10_000);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
