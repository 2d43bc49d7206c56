import { existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../core/config.ts';
import { LocalTime } from '../../core/local-time.ts';
import { defaultRecordingZone, readRecordedFile } from '../../simulators/recorded-file.ts';
import { progressPrinter } from '../../testbench/replay-progress.ts';
import { EmbeddedTarget } from '../../testbench/replay-embedded.ts';
import {
  assertCredentials,
  autoRegistry,
  readRegistryCredentials,
  writeRegistryFile,
  type ReplayCredentials,
} from '../../testbench/replay-registry.ts';
import { RemoteTarget, type ReplayTarget } from '../../testbench/replay-target.ts';
import { runReplay } from '../../testbench/replay.ts';
import { formatNoise } from '../../notifier/alert-noise.ts';
import type { Command } from './command.ts';

const USAGE = `careflow replay <file> [--format daiad|csv] [--timezone Europe/Madrid] [--speed N|max] [--step-minutes 15]
    [--url mqtt://host:1883 --http http://host:3000 --token T] [--registry file.json] [--auto-register]
    [--elderly-alone] [--report out.json] [--data-dir dir] [--wait-seconds 60] [--max-inflight 1000]`;

export const replayCommand: Command = {
  name: 'replay',
  usage: 'replay <file> --format daiad|csv [options]',
  summary: 'Replay recorded meter readings through the real MQTT path (embedded service, or --url/--http)',
  help: USAGE,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        format: { type: 'string' },
        timezone: { type: 'string' },
        speed: { type: 'string', default: 'max' },
        'step-minutes': { type: 'string', default: '15' },
        url: { type: 'string' },
        http: { type: 'string' },
        token: { type: 'string' },
        registry: { type: 'string' },
        'auto-register': { type: 'boolean', default: false },
        'elderly-alone': { type: 'boolean', default: false },
        report: { type: 'string' },
        'data-dir': { type: 'string' },
        'wait-seconds': { type: 'string', default: '60' },
        'max-inflight': { type: 'string', default: '1000' },
      },
    });
    const usage = (why: string) => {
      process.stderr.write(`careflow replay: ${why}\n\nUsage:\n  ${USAGE}\n`);
      return 2;
    };
    const file = positionals[0];
    if (!file) return usage('name the recording to replay');
    const format = values.format;
    if (format !== undefined && format !== 'daiad' && format !== 'csv')
      return usage('--format is daiad or csv');
    const speed = values.speed === 'max' ? 'max' : Number(values.speed);
    if (speed !== 'max' && !(speed > 0)) return usage('--speed is a positive multiple of real time, or max');
    const stepMinutes = Number(values['step-minutes']);
    if (!Number.isInteger(stepMinutes) || stepMinutes < 1 || stepMinutes > 60)
      return usage('--step-minutes is a whole number from 1 to 60');
    const waitSeconds = Number(values['wait-seconds']);
    const maxInflight = Number(values['max-inflight']);
    if (!(waitSeconds >= 0) || !Number.isInteger(maxInflight) || maxInflight < 1)
      return usage('--wait-seconds and --max-inflight are positive numbers');
    const running = values.url !== undefined || values.http !== undefined;
    if (running && (values.url === undefined || values.http === undefined))
      return usage('a running service needs both --url (MQTT) and --http');
    if (values.timezone !== undefined && !LocalTime.isValidTimeZone(values.timezone))
      return usage(`--timezone "${values.timezone}" is not an IANA time zone`);

    const recording = readRecordedFile(file, {
      ...(format === undefined ? {} : { format }),
      ...(values.timezone === undefined ? {} : { timeZone: values.timezone }),
    });
    const timeZone = values.timezone ?? defaultRecordingZone(recording.format) ?? null;
    const meterIds = [...recording.meters.keys()];
    const config = loadConfig(process.env, running ? {} : { clock: 'manual' });

    let credentials: ReplayCredentials;
    if (values.registry !== undefined && (existsSync(values.registry) || !values['auto-register'])) {
      credentials = readRegistryCredentials(values.registry);
    } else if (values['auto-register']) {
      credentials = autoRegistry(meterIds, { elderlyAlone: values['elderly-alone'] });
      if (running) {
        const path = values.registry ?? 'careflow-replay-registry.json';
        writeRegistryFile(path, credentials.registry!);
        process.stderr.write(
          `careflow replay: a running service has no registry API, so the ${meterIds.length} meters were written to ${path}.\n` +
            `Import them into the service's data dir, then replay with the same secrets:\n` +
            `  CAREFLOW_DATA_DIR=<the service's data dir> careflow import ${path}\n` +
            `  careflow replay ${file} --url ${values.url} --http ${values.http} --registry ${path}\n`,
        );
        return 3;
      }
    } else {
      return usage('the meters need credentials: --registry <file.json> (as imported), or --auto-register');
    }
    assertCredentials(
      meterIds,
      credentials,
      running ? 'add them to the registry file and import it' : 'use --auto-register',
    );

    const first = Math.min(...[...recording.meters.values()].map((l) => l[0]?.ts ?? Infinity));
    const stepMs = stepMinutes * 60_000;
    const target: ReplayTarget = running
      ? new RemoteTarget(values.url!, values.http!, values.token ?? process.env.CAREFLOW_ADMIN_TOKEN ?? '')
      : await EmbeddedTarget.start({
          startAt: Number.isFinite(first) ? Math.floor(first / stepMs) * stepMs : Date.now(),
          tickIntervalMs: stepMs,
          ...(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] }),
          ...(timeZone === null ? {} : { timeZone }),
          ...(credentials.registry === undefined ? {} : { registry: credentials.registry }),
        });
    try {
      const report = await runReplay({
        file,
        recording,
        timeZone,
        target,
        credentials,
        speed,
        stepMs,
        maxInflight,
        waitMs: waitSeconds * 1000,
        normalizer: {
          localTime: new LocalTime(config.timezone, config.bucketMinutes),
          maxGapMs: config.ingest.maxGapMinutes * 60_000,
          maxFlowLitersPerHour: config.ingest.maxFlowLitersPerHour,
          resetNearZeroLiters: config.ingest.resetNearZeroLiters,
          rolloverLiters: config.ingest.rolloverLiters,
        },
        onProgress: progressPrinter(process.stderr),
      });
      if (values.report !== undefined) writeFileSync(values.report, JSON.stringify(report, null, 2) + '\n');
      const summary = {
        rows: report.recording.rows,
        readings: report.recording.readings,
        acknowledged: report.replay.acknowledged,
        rejected: report.ingest.rejected,
        alerts: report.alerts.length,
        gridWorkerAlertsPerHouseholdMonth: report.noise.total.perHouseholdMonth.gridWorkerAlerts,
        seconds: Math.round(report.replay.durationMs / 100) / 10,
      };
      // The per-rule summary: on the terminal, or beside the JSON progress lines when piped.
      (process.stdout.isTTY ? process.stdout : process.stderr).write(formatNoise(report.noise));
      process.stdout.write(
        process.stdout.isTTY
          ? `replayed ${summary.acknowledged}/${summary.readings} readings of ${report.recording.meters} meters ` +
              `(${summary.rows} rows) in ${summary.seconds} s; ${summary.alerts} alerts` +
              (values.report ? `; report in ${values.report}` : '') +
              '\n'
          : JSON.stringify({ event: 'replay-done', ...summary }) + '\n',
      );
      return 0;
    } finally {
      await target.stop();
    }
  },
};
