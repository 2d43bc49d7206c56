import type { FleetError } from '../simulators/meter-fleet.ts';
import type { RecordedReadings, RowReason, RowRejection } from '../simulators/recorded-readings.ts';
import type { IngestCounters } from '../ingest/usage-stage.ts';
import { householdMonths, noiseReport, type NoiseReport } from '../notifier/alert-noise.ts';
import type { ReplayAlert, ReplayAlertDetail, ServiceIngestCounts } from './replay-target.ts';

/** Rows of the file listed one by one in the report (all of them are counted). */
const LISTED_ROWS = 1_000;

/**
 * What `careflow replay --report` writes. Counts reconcile:
 * `recording.rows = recording.readings + recording.rejectedRows`;
 * `replay.acknowledged = recording.readings` when the replay completed;
 * the normalizer counts (`accepted` … `rebase`) add up to the acknowledged readings the service stored, i.e.
 * `replay.acknowledged − ingest.refusedByService`.
 */
export interface ReplayReport {
  recording: {
    file: string;
    format: 'daiad' | 'csv';
    timeZone: string | null;
    rows: number;
    readings: number;
    meters: number;
    from: string | null;
    to: string | null;
    rejectedRows: number;
    rejectedRowsByReason: Partial<Record<RowReason, number>>;
    shiftedLocalTimes: number;
  };
  replay: {
    mode: 'embedded' | 'running';
    speed: number | 'max';
    stepMinutes: number;
    durationMs: number;
    readingsPerSecond: number;
    /** Readings the service acknowledged (each counted once). */
    acknowledged: number;
    /** Readings sent again after a lost connection (their first PUBACK never arrived). */
    resent: number;
    reconnects: number;
  };
  ingest: IngestCounters & {
    /** `service`: the service's own counters (embedded); `mirror`: the same normalizer run by the replay. */
    source: 'service' | 'mirror';
    glitch: number;
    /** Readings the service acknowledged but refused, by code (as told on the meters' error topics). */
    refusedByService: Record<string, number>;
    refusedByServiceTotal: number;
    /** Everything rejected, by code: rows of the file (`ERR_REPLAY_ROW_INVALID`) and refusals by the service. */
    rejected: Record<string, number>;
    /** The service's dead letters by code (embedded only: its data dir holds nothing else). */
    deadLetters?: Record<string, number>;
  };
  /**
   * What people received, per rule and audience: alerts opened and re-opened, condition onsets, messages to
   * grid workers, per household-month over the recording's span, and the five noisiest households.
   */
  noise: NoiseReport;
  alerts: ReplayAlert[];
  /** The first rejected rows, with line and reason. */
  rejectedRows: RowRejection[];
}

export interface ReportInput {
  file: string;
  recording: RecordedReadings;
  timeZone: string | null;
  mode: 'embedded' | 'running';
  speed: number | 'max';
  stepMs: number;
  durationMs: number;
  acknowledged: number;
  resent: number;
  reconnects: number;
  serviceErrors: readonly FleetError[];
  normalizer: IngestCounters;
  service: ServiceIngestCounts | null;
  alerts: ReplayAlertDetail[];
  /** Ids of the grid workers among the people the alerts could reach. */
  gridWorkers: ReadonlySet<string>;
}

export function buildReport(i: ReportInput): ReplayReport {
  let from = Infinity;
  let to = -Infinity;
  for (const list of i.recording.meters.values()) {
    for (const r of list) {
      if (r.ts < from) from = r.ts;
      if (r.ts > to) to = r.ts;
    }
  }
  const refused: Record<string, number> = {};
  for (const e of i.serviceErrors) {
    const code = e.code ?? 'unknown';
    refused[code] = (refused[code] ?? 0) + 1;
  }
  const rejected: Record<string, number> = { ...refused };
  if (i.recording.rejected.length > 0) rejected.ERR_REPLAY_ROW_INVALID = i.recording.rejected.length;
  const n = i.normalizer;
  return {
    recording: {
      file: i.file,
      format: i.recording.format,
      timeZone: i.timeZone,
      rows: i.recording.rows,
      readings: i.recording.readingCount(),
      meters: i.recording.meters.size,
      from: Number.isFinite(from) ? new Date(from).toISOString() : null,
      to: Number.isFinite(to) ? new Date(to).toISOString() : null,
      rejectedRows: i.recording.rejected.length,
      rejectedRowsByReason: i.recording.rejectedByReason(),
      shiftedLocalTimes: i.recording.shiftedLocalTimes,
    },
    replay: {
      mode: i.mode,
      speed: i.speed,
      stepMinutes: i.stepMs / 60_000,
      durationMs: Math.round(i.durationMs),
      readingsPerSecond: Math.round((i.acknowledged * 1000) / Math.max(1, i.durationMs)),
      acknowledged: i.acknowledged,
      resent: i.resent,
      reconnects: i.reconnects,
    },
    ingest: {
      source: i.service ? 'service' : 'mirror',
      ...n,
      glitch: n['glitch-flow'] + n['glitch-drop'],
      refusedByService: refused,
      refusedByServiceTotal: i.serviceErrors.length,
      rejected,
      ...(i.service ? { deadLetters: i.service.deadLetters } : {}),
    },
    noise: noiseReport(
      i.alerts.map((a) => ({
        householdId: a.householdId,
        ruleId: a.ruleId,
        audience: a.audience,
        timeline: a.timeline,
      })),
      (id) => i.gridWorkers.has(id),
      i.recording.meters.size,
      Number.isFinite(from) ? householdMonths(i.recording.meters.size, from, to) : 0,
    ),
    alerts: i.alerts
      .map(({ timeline: _t, audience: _a, ...a }) => a)
      .sort((a, b) => a.openedAt.localeCompare(b.openedAt) || a.alertId.localeCompare(b.alertId)),
    rejectedRows: i.recording.rejected.slice(0, LISTED_ROWS),
  };
}
