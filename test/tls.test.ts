import { rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerAlertMessage } from '../core/alerts.ts';
import { escalationRegistry, raiseHeavyUse } from './delivery-harness.ts';
import {
  ADMIN_TOKEN,
  eventually,
  HOUR,
  startTestService,
  T0,
  tempDataDir,
  type TestService,
} from './harness.ts';
import { spawnService } from './service-process.ts';
import { selfSignedCert, type TestCert } from './tls-certs.ts';

/**
 * Issue 12, TLS: meters over MQTT/TLS and `wss`, a worker app over `wss`, the API over HTTPS, each verifying
 * the server certificate; a client that does not trust it is refused; the certificate is reloaded when its
 * files change; the plain listeners can be switched off.
 */
let cert: TestCert;
const services: TestService[] = [];
const clients: MqttClient[] = [];
beforeAll(() => {
  cert = selfSignedCert();
});
afterAll(() => rmSync(cert.dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  for (const s of services.splice(0).reverse()) await s.dispose();
});

async function service(plain = true, files: TestCert = cert) {
  const svc = await startTestService({
    registry: escalationRegistry(),
    config: {
      mqtt: { host: '127.0.0.1', port: 0, tlsPort: 0, plain },
      http: { host: '127.0.0.1', port: 0, tlsPort: 0, plain },
      tls: { certFile: files.certFile, keyFile: files.keyFile },
    },
  });
  services.push(svc);
  svc.clock.advanceTo(T0 + 10 * HOUR);
  return svc;
}

async function meterOver(url: string, meterId: string, trust: boolean) {
  const client = await mqtt.connectAsync(url, {
    clientId: meterId,
    username: meterId,
    password: `secret-${meterId}`,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    rejectUnauthorized: true,
    ...(trust ? { ca: cert.cert } : {}),
  });
  clients.push(client);
  return client;
}

function httpsGet(port: number, path: string, ca?: Buffer) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        rejectUnauthorized: true,
        ...(ca ? { ca } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The SHA-256 fingerprint of the certificate a TLS listener presents now. */
function presented(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('TLS', () => {
  it('a meter publishes over MQTT/TLS and over wss, verifying the server certificate, and gets its PUBACK', async () => {
    const svc = await service();
    const reading = (ts: number, liters: number) =>
      JSON.stringify({ readings: [{ ts, totalLiters: liters }] });
    const before = svc.cf.ingest.stats().committedReadings;

    const overTls = await meterOver(`mqtts://127.0.0.1:${svc.cf.mqttTlsPort}`, 'm-h-g1-1', true);
    await overTls.publishAsync('meters/m-h-g1-1/readings', reading(T0 + HOUR, 100), { qos: 1 });
    const overWss = await meterOver(`wss://127.0.0.1:${svc.cf.httpsPort}/mqtt`, 'm-h-g1-2', true);
    await overWss.publishAsync('meters/m-h-g1-2/readings', reading(T0 + HOUR, 200), { qos: 1 });

    expect(svc.cf.ingest.stats().committedReadings - before).toBe(2);
  });

  it('a worker app receives its alert over wss; the API answers over HTTPS', async () => {
    const svc = await service();
    const messages: WorkerAlertMessage[] = [];
    const app = await mqtt.connectAsync(`wss://127.0.0.1:${svc.cf.httpsPort}/mqtt`, {
      clientId: 'app-w-g1',
      username: 'w-g1',
      password: 'secret-w-g1',
      clean: false,
      ca: cert.cert,
      rejectUnauthorized: true,
      reconnectPeriod: 0,
    });
    clients.push(app);
    app.on('message', (_t, p) => messages.push(JSON.parse(p.toString()) as WorkerAlertMessage));
    await app.subscribeAsync('workers/w-g1/alerts', { qos: 1 });
    const alert = await raiseHeavyUse(svc, 'h-g1-1');
    await eventually(() => messages.length === 1, 5_000, 'the alert over wss');
    expect(messages[0]).toMatchObject({ alertId: alert.id });

    const health = await httpsGet(svc.cf.httpsPort!, '/healthz', cert.cert);
    expect(health.status).toBe(200);
    const alerts = await httpsGet(svc.cf.httpsPort!, `/api/alerts/${alert.id}`, cert.cert);
    expect(alerts.status).toBe(200);
    expect(JSON.parse(alerts.body)).toMatchObject({ alert: { id: alert.id } });
  });

  it('refuses a client that does not trust the certificate, on every TLS listener', async () => {
    const svc = await service();
    await expect(meterOver(`mqtts://127.0.0.1:${svc.cf.mqttTlsPort}`, 'm-h-g1-1', false)).rejects.toThrow(
      /self[- ]signed/i,
    );
    await expect(meterOver(`wss://127.0.0.1:${svc.cf.httpsPort}/mqtt`, 'm-h-g1-1', false)).rejects.toThrow(
      /self[- ]signed/i,
    );
    await expect(httpsGet(svc.cf.httpsPort!, '/healthz')).rejects.toThrow(/self[- ]signed/i);
  });

  it('reloads the certificate when its files change (and on request, as on SIGHUP)', async () => {
    const own = selfSignedCert(); // the service's files, replaced below
    try {
      const svc = await service(true, own);
      expect(await presented(svc.cf.mqttTlsPort!)).toBe(own.fingerprint);
      const next = selfSignedCert();
      writeFileSync(own.keyFile, next.key);
      writeFileSync(own.certFile, next.cert);
      for (const port of [svc.cf.mqttTlsPort!, svc.cf.httpsPort!]) {
        const until = Date.now() + 5_000;
        while ((await presented(port)) !== next.fingerprint && Date.now() < until)
          await new Promise((r) => setTimeout(r, 50));
        expect(await presented(port)).toBe(next.fingerprint);
      }
      // A broken pair is refused and the working certificate stays.
      writeFileSync(own.certFile, 'not a certificate');
      expect(svc.cf.reloadTls()).toBe(false);
      expect(await presented(svc.cf.mqttTlsPort!)).toBe(next.fingerprint);
      rmSync(next.dir, { recursive: true, force: true });
    } finally {
      rmSync(own.dir, { recursive: true, force: true });
    }
  });

  it('careflow start re-reads the certificate on SIGHUP and keeps running', async () => {
    const own = selfSignedCert();
    const dataDir = tempDataDir();
    const svc = await spawnService(dataDir, {
      CAREFLOW_TLS_CERT_FILE: own.certFile,
      CAREFLOW_TLS_KEY_FILE: own.keyFile,
      CAREFLOW_MQTT_TLS_PORT: '0',
      CAREFLOW_HTTP_TLS_PORT: '0',
    });
    try {
      let stderr = '';
      svc.proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      svc.proc.kill('SIGHUP');
      await eventually(() => stderr.includes('TLS certificate reloaded'), 5_000, 'the reload message');
      expect(svc.proc.exitCode).toBeNull();
      expect(await svc.stop()).toBe(0);
    } finally {
      if (svc.proc.exitCode === null) await svc.kill();
      rmSync(own.dir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('serves TLS only when the plain listeners are switched off', async () => {
    const svc = await service(false);
    expect(svc.cf.mqttPort).toBe(0);
    expect(svc.cf.httpPort).toBe(0);
    const meter = await meterOver(`mqtts://127.0.0.1:${svc.cf.mqttTlsPort}`, 'm-h-g1-1', true);
    expect(meter.connected).toBe(true);
    expect((await httpsGet(svc.cf.httpsPort!, '/healthz', cert.cert)).status).toBe(200);
  });
});
