import { connect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, HOUR, startTestService, T0, testRegistry, type TestService } from './harness.ts';

/**
 * Issue 15, the lean meter path: a meter's PUBLISH on its own readings topic goes straight to ingest and its
 * PUBACKs are written together. What a client sees must not change: a PUBACK per QoS 1 reading, in the order
 * sent, only once the reading is stored; other packets answered as before; the keep-alive kept by publishing;
 * any other topic still refused by the broker's hooks. The store runs with synchronous=FULL here, so the
 * commit's fsync off the main thread is part of what is exercised.
 */
const services: TestService[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of services.splice(0)) await s.dispose();
});

async function service(): Promise<TestService> {
  const svc = await startTestService({
    registry: testRegistry(2),
    config: { store: { synchronous: 'FULL' } },
  });
  services.push(svc);
  return svc;
}

/** A raw MQTT 3.1.1 meter connection (m-g1-1); `send` writes packets in one write, `received` collects. */
function meter(svc: TestService, keepalive = 30) {
  const received: Packet[] = [];
  const socket = connect({ port: svc.cf.mqttPort, host: '127.0.0.1' });
  sockets.push(socket);
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p) => received.push(p));
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  socket.on('error', () => {});
  let closed = false;
  socket.on('close', () => (closed = true));
  const send = (packets: Parameters<typeof mqttPacket.generate>[0][]) =>
    socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p))));
  const ready = new Promise<void>((resolve) =>
    socket.on('connect', () => {
      send([
        {
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clientId: 'm-g1-1',
          clean: true,
          keepalive,
          username: 'm-g1-1',
          password: Buffer.from('secret-m-g1-1'),
        },
      ]);
      resolve();
    }),
  );
  return { received, send, ready, isClosed: () => closed };
}

const reading = (n: number, qos: 0 | 1 = 1, topic = 'meters/m-g1-1/readings') => ({
  cmd: 'publish' as const,
  topic,
  payload: JSON.stringify({ ts: T0 - HOUR + 60_000 * n, totalLiters: 100 + n }),
  qos,
  ...(qos === 1 ? { messageId: n } : {}),
  dup: false,
  retain: false,
});

const acks = (received: Packet[]) =>
  received.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId?: number }).messageId);

describe('the lean PUBLISH path', () => {
  it('acknowledges a window of readings in the order sent, once stored, and answers the packets among them', async () => {
    const svc = await service();
    const m = meter(svc);
    await m.ready;
    await eventually(() => m.received.some((p) => p.cmd === 'connack'), 5_000, 'CONNACK');
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    m.send([
      ...ids.slice(0, 10).map((n) => reading(n)),
      { cmd: 'pingreq' },
      reading(21, 0),
      ...ids.slice(10).map((n) => reading(n)),
    ]);
    await eventually(() => acks(m.received).length === 20, 10_000, 'twenty PUBACKs');
    expect(acks(m.received)).toEqual(ids);
    expect(m.received.filter((p) => p.cmd === 'pingresp')).toHaveLength(1);
    // Every acknowledged reading (and the QoS 0 one, sent before the last ten were acknowledged) is stored.
    expect(svc.cf.store.inbox.countForMeter('m-g1-1')).toBe(21);
    expect(m.isClosed()).toBe(false);
  });

  it('keeps a meter that only publishes connected past one and a half keep-alive periods', async () => {
    const svc = await service();
    const m = meter(svc, 1);
    await m.ready;
    await eventually(() => m.received.some((p) => p.cmd === 'connack'), 5_000, 'CONNACK');
    for (let n = 1; n <= 8; n++) {
      m.send([reading(n)]);
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(m.isClosed()).toBe(false);
    expect(acks(m.received)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // Silent now: the broker closes it after 1.5 s without a packet.
    await eventually(() => m.isClosed(), 5_000, 'keep-alive close');
  });

  it('leaves any other topic to the broker’s hooks: refused, dead-lettered, nothing stored', async () => {
    const svc = await service();
    const m = meter(svc);
    await m.ready;
    await eventually(() => m.received.some((p) => p.cmd === 'connack'), 5_000, 'CONNACK');
    const before = svc.cf.store.inbox.countForMeter('m-g2-1');
    m.send([
      reading(1, 1, 'meters/m-g2-1/readings'),
      reading(2, 1, 'meters/m-g1-1/readings/extra'),
      reading(3),
    ]);
    await eventually(() => acks(m.received).length === 3, 10_000, 'three PUBACKs');
    expect(svc.cf.store.inbox.countForMeter('m-g2-1')).toBe(before);
    expect(svc.cf.store.inbox.countForMeter('m-g1-1')).toBe(1);
    const refused = svc.cf.store.deadLetters.list({ meterId: 'm-g1-1', code: 'ERR_BROKER_TOPIC_FORBIDDEN' });
    expect(refused.map((d) => d.topic).sort()).toEqual([
      'meters/m-g1-1/readings/extra',
      'meters/m-g2-1/readings',
    ]);
  });
});
