import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../cli/main.ts';
import { EmbeddedTarget } from '../testbench/replay-embedded.ts';
import { normalizeRecording, sumCounters } from '../testbench/replay-mirror.ts';
import { autoRegistry } from '../testbench/replay-registry.ts';
import type { ReplayReport } from '../testbench/replay-report.ts';
import { runReplay } from '../testbench/replay.ts';
import { LocalTime } from '../core/local-time.ts';
import type { NormalizerParams } from '../ingest/normalizer.ts';
import { readRecordedFile } from '../simulators/recorded-file.ts';
import { RecordedReadings } from '../simulators/recorded-readings.ts';

/** `careflow replay` into an embedded service: the real MQTT path, simulated time, and a report that reconciles. */
const EXTRACT = fileURLToPath(new URL('./fixtures/daiad/swm_trialA_extract.zip', import.meta.url));
const SYNTHETIC = fileURLToPath(new URL('./fixtures/daiad/synthetic-messy.csv', import.meta.url));
const H = 3_600_000;

const params: NormalizerParams = {
  localTime: new LocalTime('Europe/Madrid', 60),
  maxGapMs: 6 * H,
  maxFlowLitersPerHour: 3000,
  resetNearZeroLiters: 100,
  rolloverLiters: null,
};

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A recording's first `days` days (the service's timers run in simulated time: keep the test short). */
function firstDays(rec: RecordedReadings, days: number): RecordedReadings {
  const first = Math.min(...[...rec.meters.values()].map((l) => l[0]!.ts));
  const out = new RecordedReadings(rec.format);
  for (const [id, list] of rec.meters) {
    for (const r of list) if (r.ts < first + days * 86_400_000) out.add(id, r);
  }
  out.rows = out.readingCount();
  return out;
}

async function replayEmbedded(file: string, days: number, stepMinutes = 60) {
  const recording = firstDays(readRecordedFile(file, { format: 'daiad' }), days);
  const creds = autoRegistry([...recording.meters.keys()]);
  const first = Math.min(...[...recording.meters.values()].map((l) => l[0]!.ts));
  const target = await EmbeddedTarget.start({
    startAt: Math.floor(first / H) * H,
    tickIntervalMs: stepMinutes * 60_000,
    timeZone: 'Europe/Madrid',
    registry: creds.registry,
    env: {},
  });
  cleanup.push(() => target.stop());
  const report = await runReplay({
    file,
    recording,
    timeZone: 'Europe/Madrid',
    target,
    credentials: creds,
    speed: 'max',
    stepMs: stepMinutes * 60_000,
    maxInflight: 500,
    waitMs: 5_000,
    normalizer: params,
  });
  return { recording, target, report };
}

describe('careflow replay into an embedded service', () => {
  it('stores every reading of two weeks of the extract through MQTT, with the buckets the pure normalizer computes', async () => {
    const { recording, target, report } = await replayEmbedded(EXTRACT, 14);
    const n = recording.readingCount();
    const mirror = normalizeRecording(recording, params, { keepBuckets: true });

    expect(n).toBeGreaterThan(850);
    expect(report.recording).toMatchObject({ rows: n, readings: n, meters: 3, rejectedRows: 0 });
    expect(report.replay).toMatchObject({ mode: 'embedded', acknowledged: n, resent: 0, reconnects: 0 });
    const counters = sumCounters([...mirror.values()].map((a) => a.counters));
    expect(report.ingest).toMatchObject({ source: 'service', ...counters, refusedByServiceTotal: 0 });
    expect(target.cf.store.inbox.maxSeq()).toBe(n);

    for (const [meterId, account] of mirror) {
      const stored = target.cf.store.usage.range(meterId, 0, Number.MAX_SAFE_INTEGER);
      expect(
        stored.map((b) => [b.start, b.liters]),
        meterId,
      ).toEqual(account.buckets.map((b) => [b.start, b.liters]));
    }

    // Simulated time ran with the data: a silence of more than 6 h opened the meter's maintenance ticket
    // (at the silence deadline, in event time, at most one 1-hour step late; no reading stamped before it was
    // missing), and the ticket closed only once readings had kept coming for its 3-day clear-hold.
    const silent = report.alerts.filter((a) => a.ruleId === 'meter-silent');
    // What people received: every alert counted once per rule, maintenance tickets reach no grid worker.
    expect(report.noise.total.alertsOpened).toBe(report.alerts.length);
    expect(report.noise.households).toBe(recording.meters.size);
    const maintenance = report.noise.rules.find((r) => r.ruleId === 'meter-silent');
    expect(maintenance).toMatchObject({ audience: 'maintenance', gridWorkerAlerts: 0 });
    expect(maintenance!.messagesToGridWorkers.total).toBe(0);
    expect(silent.length).toBeGreaterThanOrEqual(1);
    for (const a of silent) {
      const readings = recording.meters.get(a.householdId)!;
      const opened = Date.parse(a.openedAt);
      const before = readings.filter((r) => r.ts < opened).at(-1)!;
      const after = readings.find((r) => r.ts >= opened)!;
      expect(opened - before.ts).toBeGreaterThanOrEqual(6 * H);
      expect(opened - before.ts).toBeLessThan(7 * H);
      if (a.clearedAt !== null) expect(Date.parse(a.clearedAt)).toBeGreaterThanOrEqual(after.ts + 72 * H);
    }
    const gaps = [...mirror.values()].reduce((n, m) => n + m.counters.gap, 0);
    // Every gap (> 6 h between readings) is a silence: each opened its meter's ticket or was written to the
    // ticket still open (one ticket per meter), never a second ticket within the re-open window.
    expect(gaps).toBeGreaterThanOrEqual(silent.length);
    expect(new Set(silent.map((a) => a.householdId)).size).toBe(silent.length);
  });

  it('reconciles the report of a messy file with the file, row by row', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careflow-replay-cli-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'report.json');
    const code = await main(['replay', SYNTHETIC, '--format', 'daiad', '--auto-register', '--report', out]);
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8')) as ReplayReport;

    const recording = readRecordedFile(SYNTHETIC, { format: 'daiad' });
    expect(report.recording.rows).toBe(21);
    expect(report.recording.readings + report.recording.rejectedRows).toBe(report.recording.rows);
    expect(report.recording.rejectedRowsByReason).toEqual(recording.rejectedByReason());
    expect(report.rejectedRows.map((r) => r.line)).toEqual(recording.rejected.map((r) => r.line));
    expect(report.replay.acknowledged).toBe(report.recording.readings);
    const { source, accepted, duplicate, late, gap, reset, rollover, rebase } = report.ingest;
    expect({ source, accepted, duplicate, late, gap, reset, rollover, rebase }).toEqual({
      source: 'service',
      accepted: 9,
      duplicate: 1,
      late: 1,
      gap: 1,
      reset: 1,
      rollover: 0,
      rebase: 1,
    });
    expect(report.ingest.glitch).toBe(2);
    const kinds = accepted + duplicate + late + gap + reset + rollover + rebase + report.ingest.glitch;
    expect(kinds).toBe(report.replay.acknowledged - report.ingest.refusedByServiceTotal);
    expect(report.ingest.rejected).toEqual({ ERR_REPLAY_ROW_INVALID: 5 });
    for (const a of report.alerts)
      expect(a).toMatchObject({ householdId: expect.any(String), ruleId: expect.any(String) });
  });

  it('writes the registry for a running service instead of replaying, and refuses a replay without credentials', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careflow-replay-cli-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'registry.json');
    const running = ['--url', 'mqtt://127.0.0.1:9', '--http', 'http://127.0.0.1:9'];
    expect(await main(['replay', SYNTHETIC, ...running, '--auto-register', '--registry', path])).toBe(3);
    const registry = JSON.parse(readFileSync(path, 'utf8')) as { meters: { id: string; secret: string }[] };
    expect(registry.meters.map((m) => m.id).sort()).toEqual([
      '00000000-0000-4000-8000-00000000000a',
      '00000000-0000-4000-8000-00000000000b',
    ]);
    expect(registry.meters.every((m) => m.secret.length >= 16)).toBe(true);
    expect(await main(['replay', SYNTHETIC, ...running])).toBe(2);
  });
});
