import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { CareflowError } from './errors.ts';

function configError(env: NodeJS.ProcessEnv): CareflowError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(CareflowError);
    return err as CareflowError;
  }
  throw new Error('expected loadConfig to throw');
}

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'careflow-config-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function configFile(content: string): string {
  const file = join(dir, 'careflow.json');
  writeFileSync(file, content);
  return file;
}

describe('loadConfig', () => {
  it('uses the documented defaults when the environment is empty', () => {
    const config = loadConfig({});

    expect(config.dataDir).toBe('./data');
    expect(config.timezone).toBe('Asia/Shanghai');
    expect(config.bucketMinutes).toBe(60);
    expect(config.logLevel).toBe('info');
    expect(config.adminToken).toBeUndefined();
    expect(config.mqtt).toEqual({
      host: '0.0.0.0',
      port: 1883,
      maxPayloadBytes: 65_536,
      maxPacketBytes: 1_048_576,
      plain: true,
      tlsPort: 8883,
      websocketPath: '/mqtt',
      authFailuresPerAddress: 10,
      authFailuresPerId: 5,
      authBackoffMaxMs: 60_000,
      hashConcurrency: 2,
      hashQueueMax: 64,
      url: null,
      username: null,
      password: null,
      clientId: 'careflow',
      emqxHookSecret: null,
      rabbitmqHookSecret: null,
      rabbitmqHookSources: ['127.0.0.1', '::1'],
      rabbitmqVhost: '/',
      shareGroup: 'careflow',
    });
    expect(config.tls).toEqual({ certFile: null, keyFile: null });
    expect(config.http).toEqual({
      host: '0.0.0.0',
      port: 3000,
      bodyLimitBytes: 1_048_576,
      sessionTtlMinutes: 60,
      loginMaxFailures: 5,
      loginWindowMinutes: 15,
      passwordHashConcurrency: 1,
      rateLimitPerMinute: 600,
      rateLimitExemptLoopback: true,
      plain: true,
      tlsPort: 3443,
    });
    expect(config.store).toEqual({ synchronous: 'FULL', bucketRetentionDays: 400 });
    expect(config.ingest.maxGapMinutes).toBe(360);
    expect(config.detectors.rules).toEqual({});
  });

  it('takes each environment variable into its field, converting numbers', () => {
    const config = loadConfig({
      CAREFLOW_DATA_DIR: '/var/lib/careflow',
      CAREFLOW_TIMEZONE: 'Asia/Kolkata',
      CAREFLOW_BUCKET_MINUTES: '15',
      CAREFLOW_ADMIN_TOKEN: 'a-long-enough-admin-token',
      CAREFLOW_MQTT_PORT: '18830',
      CAREFLOW_HTTP_PORT: '8080',
      CAREFLOW_SQLITE_SYNCHRONOUS: 'NORMAL',
      CAREFLOW_MAX_FLOW_LITERS_PER_HOUR: '1500.5',
      CAREFLOW_TICK_INTERVAL_MS: '500',
    });

    expect(config).toMatchObject({
      dataDir: '/var/lib/careflow',
      timezone: 'Asia/Kolkata',
      bucketMinutes: 15,
      adminToken: 'a-long-enough-admin-token',
      mqtt: { port: 18830, host: '0.0.0.0' },
      http: { port: 8080 },
      store: { synchronous: 'NORMAL', bucketRetentionDays: 400 },
      ingest: { maxFlowLitersPerHour: 1500.5 },
      detectors: { tickIntervalMs: 500 },
    });
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ CAREFLOW_MQTT_PORT: '', CAREFLOW_TIMEZONE: '' })).toMatchObject({
      timezone: 'Asia/Shanghai',
      mqtt: { port: 1883 },
    });
  });

  it('names every bad field in one ERR_CONFIG_INVALID', () => {
    const err = configError({
      CAREFLOW_MQTT_PORT: 'abc',
      CAREFLOW_BUCKET_MINUTES: '45',
      CAREFLOW_TIMEZONE: 'Mars/Base',
    });

    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.status).toBe(500);
    expect(err.issues.map((i) => i.path).sort()).toEqual(['CAREFLOW_MQTT_PORT', 'bucketMinutes', 'timezone']);
    expect(err.issues.find((i) => i.path === 'CAREFLOW_MQTT_PORT')!.message).toBe(
      'expected an integer, got "abc"',
    );
    expect(err.issues.find((i) => i.path === 'timezone')!.message).toContain('not an IANA time zone');
    expect(err.message).toContain('CAREFLOW_MQTT_PORT');
    expect(err.message).toContain('bucketMinutes');
    expect(err.message).toContain('timezone');
  });

  it('refuses a plain listener switched off without TLS, and a certificate without its key', () => {
    expect(() => loadConfig({}, { mqtt: { plain: false } })).toThrow(
      /mqtt\.plain: false needs tls\.certFile and tls\.keyFile/,
    );
    expect(() => loadConfig({ CAREFLOW_TLS_CERT_FILE: 'cert.pem' })).toThrow(
      /certFile and keyFile must be set together/,
    );
    const tlsOnly = loadConfig(
      {
        CAREFLOW_TLS_CERT_FILE: 'cert.pem',
        CAREFLOW_TLS_KEY_FILE: 'key.pem',
        CAREFLOW_MQTT_TLS_PORT: '8884',
      },
      { mqtt: { plain: false }, http: { plain: false } },
    );
    expect(tlsOnly.tls).toEqual({ certFile: 'cert.pem', keyFile: 'key.pem' });
    expect(tlsOnly.mqtt.tlsPort).toBe(8884);
  });

  it('rejects out-of-range, fractional and blank numbers', () => {
    const err = configError({
      CAREFLOW_HTTP_PORT: '70000',
      CAREFLOW_TICK_INTERVAL_MS: '2.5',
      CAREFLOW_MQTT_PORT: ' ',
    });

    expect(err.issues.map((i) => i.path).sort()).toEqual([
      'CAREFLOW_MQTT_PORT',
      'CAREFLOW_TICK_INTERVAL_MS',
      'http.port',
    ]);
  });

  it('reads the JSON file named by CAREFLOW_CONFIG, and the environment wins over it', () => {
    const file = configFile(
      JSON.stringify({
        timezone: 'Europe/Madrid',
        mqtt: { port: 2883, host: '127.0.0.1' },
        http: { port: 4000 },
      }),
    );

    const config = loadConfig({ CAREFLOW_CONFIG: file, CAREFLOW_MQTT_PORT: '3883' });

    expect(config.timezone).toBe('Europe/Madrid');
    expect(config.mqtt).toMatchObject({ host: '127.0.0.1', port: 3883 });
    expect(config.http.port).toBe(4000);
  });

  it('names unknown and invalid fields from the JSON file', () => {
    const file = configFile(JSON.stringify({ mqtt: { prot: 1883 }, bucketMinutes: 20 }));

    const err = configError({ CAREFLOW_CONFIG: file });

    expect(err.issues.map((i) => i.path).sort()).toEqual(['bucketMinutes', 'mqtt']);
    expect(err.issues.find((i) => i.path === 'mqtt')!.message).toContain('prot');
  });

  it('reports a config file that is not valid JSON clearly, naming the file', () => {
    const file = configFile('{ "timezone": "Asia/Shanghai", }');

    const err = configError({ CAREFLOW_CONFIG: file });

    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.message).toContain(`CAREFLOW_CONFIG (${file}) could not be read as JSON`);
    expect(err.message).not.toMatch(/\n\s+at /);
  });

  it('reports a missing config file clearly', () => {
    const file = join(dir, 'missing.json');

    const err = configError({ CAREFLOW_CONFIG: file });

    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.message).toContain(file);
    expect(err.message).toContain('ENOENT');
  });
});
