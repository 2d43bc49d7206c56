import { connect, type Socket } from 'node:net';
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../broker/start-broker.ts';
import { eventually, startTestService, T0, testRegistry, type TestService } from './harness.ts';
import { rawConnect } from './raw-connect.ts';

/**
 * Issue 15, reconnect storms: a meter's CONNECT (MQTT 3.1.1, clean session, own client id, no will) takes the
 * broker's lean path instead of aedes' session steps. What a client sees must not change: the CONNACK, what
 * follows it in the same segment, a takeover of the client id, keep-alive, refusals, and a clean session
 * discarding what a persistent one of the same id left behind.
 */
const services: TestService[] = [];
const clients: MqttClient[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  for (const s of services.splice(0)) await s.dispose();
});

async function service(): Promise<TestService> {
  const svc = await startTestService({ registry: testRegistry(2) });
  services.push(svc);
  return svc;
}

/** A raw MQTT 3.1.1 connection: writes the given packets in one write and collects what comes back. */
function raw(svc: TestService, packets: Parameters<typeof mqttPacket.generate>[0][]) {
  const received: Packet[] = [];
  const socket = connect({ port: svc.cf.mqttPort, host: '127.0.0.1' });
  sockets.push(socket);
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p) => received.push(p));
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  socket.on('error', () => {});
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('connect', () => socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p)))));
  return { received, socket, isClosed: () => closed };
}

const meterConnect = (keepalive = 30) => ({
  cmd: 'connect' as const,
  protocolId: 'MQTT' as const,
  protocolVersion: 4 as const,
  clientId: 'm-g1-1',
  clean: true,
  keepalive,
  username: 'm-g1-1',
  password: Buffer.from('secret-m-g1-1'),
});

describe('the lean CONNECT path', () => {
  it('answers a CONNECT and the readings sent with it in the same segment: CONNACK, then their PUBACKs', async () => {
    const svc = await service();
    const reading = (n: number) => ({
      cmd: 'publish' as const,
      topic: 'meters/m-g1-1/readings',
      payload: JSON.stringify({ ts: T0 - 60_000 * (3 - n), totalLiters: 100 + n }),
      qos: 1 as const,
      messageId: n,
      dup: false,
      retain: false,
    });
    const c = raw(svc, [meterConnect(), reading(1), reading(2)]);
    await eventually(() => c.received.length >= 3, 5_000, 'CONNACK and two PUBACKs');
    expect(c.received[0]).toMatchObject({ cmd: 'connack', returnCode: 0, sessionPresent: false });
    expect(c.received.slice(1).map((p) => [p.cmd, (p as { messageId?: number }).messageId])).toEqual([
      ['puback', 1],
      ['puback', 2],
    ]);
    expect(svc.cf.store.inbox.countForMeter('m-g1-1')).toBe(2);
  });

  it('a CONNECT recognised by its verifier is answered at once; readings in its segment follow it, each once', async () => {
    const svc = await service();
    const broker = svc.cf.broker as Broker;
    const first = raw(svc, [meterConnect(), { cmd: 'disconnect' }]);
    await eventually(() => first.isClosed(), 5_000, 'first connection (scrypt) closed');
    expect(first.received[0]).toMatchObject({ cmd: 'connack', returnCode: 0 });
    expect(broker.security().secretFastChecks).toBe(0);
    const reading = (n: number) => ({
      cmd: 'publish' as const,
      topic: 'meters/m-g1-1/readings',
      payload: JSON.stringify({ ts: T0 - 60_000 * (3 - n), totalLiters: 100 + n }),
      qos: 1 as const,
      messageId: n,
      dup: false,
      retain: false,
    });
    const again = raw(svc, [meterConnect(), reading(1), reading(2)]);
    await eventually(() => again.received.length >= 3, 5_000, 'CONNACK and two PUBACKs');
    expect(broker.security().secretFastChecks).toBe(1);
    expect(again.received.map((p) => [p.cmd, (p as { messageId?: number }).messageId ?? null])).toEqual([
      ['connack', null],
      ['puback', 1],
      ['puback', 2],
    ]);
    expect(svc.cf.store.inbox.countForMeter('m-g1-1')).toBe(2);
    expect(broker.aedes.connectedClients).toBe(1);
    // Closed without DISCONNECT: the client is gone from the broker all the same.
    again.socket.destroy();
    await eventually(() => broker.aedes.connectedClients === 0, 5_000, 'client unregistered after close');
  });

  it('a DISCONNECT closes the connection and ends the client; what follows it in the segment is ignored', async () => {
    const svc = await service();
    const broker = svc.cf.broker as Broker;
    const reading = (n: number) => ({
      cmd: 'publish' as const,
      topic: 'meters/m-g1-1/readings',
      payload: JSON.stringify({ ts: T0 - 60_000 * (3 - n), totalLiters: 100 + n }),
      qos: 1 as const,
      messageId: n,
      dup: false,
      retain: false,
    });
    const stackTraceLimit = Error.stackTraceLimit;
    const c = raw(svc, [meterConnect(), reading(1)]);
    await eventually(() => c.received.length >= 2, 5_000, 'CONNACK and PUBACK');
    expect(broker.aedes.connectedClients).toBe(1);
    c.socket.write(
      Buffer.concat([mqttPacket.generate({ cmd: 'disconnect' }), mqttPacket.generate(reading(2))]),
    );
    await eventually(() => c.isClosed(), 5_000, 'connection closed by the broker');
    expect(c.received.map((p) => p.cmd)).toEqual(['connack', 'puback']);
    expect(broker.aedes.connectedClients).toBe(0);
    // The close ran without stack traces; errors made after it still have theirs.
    expect(Error.stackTraceLimit).toBe(stackTraceLimit);
    expect(new Error('after the close').stack).toMatch(/\n\s+at /);
    // The same client id connects again at once: nothing of the old connection is left to take over.
    const again = raw(svc, [meterConnect(), reading(3)]);
    await eventually(() => again.received.length >= 2, 5_000, 'CONNACK and PUBACK');
    expect(again.received.map((p) => p.cmd)).toEqual(['connack', 'puback']);
    expect(broker.aedes.connectedClients).toBe(1);
    // Readings 1 and 3; reading 2 came after the DISCONNECT.
    expect(svc.cf.store.inbox.countForMeter('m-g1-1')).toBe(2);
  });

  it('refuses a wrong secret with CONNACK 4 and closes the connection', async () => {
    const svc = await service();
    const c = raw(svc, [{ ...meterConnect(), password: Buffer.from('wrong-secret') }]);
    await eventually(() => c.isClosed(), 5_000, 'connection closed');
    expect(c.received).toEqual([expect.objectContaining({ cmd: 'connack', returnCode: 4 })]);
    expect((svc.cf.broker as Broker).aedes.connectedClients).toBe(0);
  });

  it('a second connection with the same client id takes it over; the first is closed', async () => {
    const svc = await service();
    const first = raw(svc, [meterConnect()]);
    await eventually(() => first.received.length === 1, 5_000, 'first CONNACK');
    const second = raw(svc, [meterConnect()]);
    await eventually(() => first.isClosed() && second.received.length === 1, 5_000, 'takeover');
    expect(second.received[0]).toMatchObject({ cmd: 'connack', returnCode: 0 });
    expect(second.isClosed()).toBe(false);
    expect((svc.cf.broker as Broker).aedes.connectedClients).toBe(1);
  });

  it('closes a connection that stays silent for one and a half keep-alive periods', async () => {
    const svc = await service();
    const c = raw(svc, [meterConnect(1)]);
    await eventually(() => c.received.length === 1, 5_000, 'CONNACK');
    const connackAt = performance.now();
    await eventually(() => c.isClosed(), 5_000, 'keep-alive timeout');
    expect(performance.now() - connackAt).toBeGreaterThan(1_200);
  });

  it('a clean CONNECT discards the persistent session the same client id left', async () => {
    const svc = await service();
    const connectApp = async (clean: boolean) => {
      const client = mqtt.connect(svc.mqttUrl, {
        clientId: 'app-w-g1',
        username: 'w-g1',
        password: 'secret-w-g1',
        clean,
        reconnectPeriod: 0,
      });
      clients.push(client);
      const connack = await new Promise<IConnackPacket>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      return { client, sessionPresent: connack.sessionPresent };
    };
    const persistent = await connectApp(false);
    await persistent.client.subscribeAsync('workers/w-g1/alerts', { qos: 1 });
    await persistent.client.endAsync();
    // The session is kept while the app is away …
    const back = await connectApp(false);
    expect(back.sessionPresent).toBe(true);
    await back.client.endAsync();
    // … until the same id connects with a clean session (this one takes the lean path).
    const clean = await connectApp(true);
    expect(clean.sessionPresent).toBe(false);
    await clean.client.endAsync();
    const after = await connectApp(false);
    expect(after.sessionPresent).toBe(false);
  });

  it('leaves other CONNECTs to aedes: an empty client id with a clean session still gets in', async () => {
    const svc = await service();
    const r = await rawConnect({
      port: svc.cf.mqttPort,
      clientId: '',
      username: 'm-g1-2',
      password: 'secret-m-g1-2',
    });
    expect(r.returnCode).toBe(0);
  });
});
