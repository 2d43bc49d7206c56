import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { guardPacketSize } from './packet-size-guard.ts';

/** MQTT "remaining length": 7 bits per byte, least significant first, high bit = more bytes follow. */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** A frame: fixed-header type byte, remaining length, then a body of that length. */
function frame(type: number, bodyLength: number, fill = 0x61): Buffer {
  return Buffer.concat([Buffer.from([type, ...varint(bodyLength)]), Buffer.alloc(bodyLength, fill)]);
}

const PUBLISH = 0x30;
const CONNECT = 0x10;
const PINGREQ = 0xc0;

interface ServerSide {
  received: Buffer[];
  oversize: number[];
  closed: Promise<void>;
}

interface Rig {
  client: net.Socket;
  server: ServerSide;
  clientClosed: Promise<void>;
  /** Writes one piece and waits until the guard has passed on everything written so far. */
  send(piece: Buffer | number[]): Promise<void>;
  receivedBytes(): Buffer;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Polls a condition until it holds; fails with `what` after two seconds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * A real TCP server on 127.0.0.1:0 whose connections feed what they read to a guarded parser (as the broker's
 * connections feed aedes' parser), and one real client. `received` is what reached the parser.
 */
async function rig(maxPacketBytes: number): Promise<Rig> {
  let resolveServerSide!: (s: ServerSide) => void;
  const serverSide = new Promise<ServerSide>((r) => (resolveServerSide = r));
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const oversize: number[] = [];
    const received: Buffer[] = [];
    const parser = { parse: (chunk: Buffer) => received.push(Buffer.from(chunk)) };
    guardPacketSize(parser, socket, maxPacketBytes, (n) => oversize.push(n));
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    resolveServerSide({ received, oversize, closed });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  client.setNoDelay(true);
  client.on('error', () => {});
  const clientClosed = new Promise<void>((r) => client.once('close', () => r()));
  await new Promise<void>((r) => client.once('connect', () => r()));
  const side = await serverSide;
  cleanups.push(async () => {
    client.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  let written = 0;
  const receivedBytes = () => Buffer.concat(side.received);
  return {
    client,
    server: side,
    clientClosed,
    receivedBytes,
    async send(piece) {
      const buf = Buffer.isBuffer(piece) ? piece : Buffer.from(piece);
      written += buf.length;
      client.write(buf);
      await until(() => receivedBytes().length === written, `${written} bytes to pass the guard`);
    },
  };
}

describe('guardPacketSize', () => {
  it('passes frames under the limit through byte for byte', async () => {
    const r = await rig(1000);
    const traffic = Buffer.concat([
      frame(CONNECT, 20),
      frame(PUBLISH, 300, 0x7f),
      Buffer.from([PINGREQ, 0x00]),
    ]);
    await r.send(traffic);
    expect(r.receivedBytes().equals(traffic)).toBe(true);
    expect(r.server.oversize).toEqual([]);
    expect(r.client.destroyed).toBe(false);
  });

  it('passes a frame of exactly the limit', async () => {
    const r = await rig(1000);
    const f = frame(PUBLISH, 1000);
    await r.send(f);
    expect(r.receivedBytes().equals(f)).toBe(true);
    expect(r.server.oversize).toEqual([]);
  });

  it('passes a large frame under the limit that TCP delivers in many pieces', async () => {
    const r = await rig(1_000_000);
    const f = frame(PUBLISH, 700_000, 0xff);
    await r.send(f);
    expect(r.receivedBytes().equals(f)).toBe(true);
    expect(r.server.oversize).toEqual([]);
  });

  it('follows frames split across writes at awkward offsets, including inside the remaining length', async () => {
    const r = await rig(1000);
    const a = frame(PUBLISH, 200); // remaining length 200 = 0xc8 0x01
    const b = frame(PUBLISH, 900, 0x30); // body bytes that look like PUBLISH headers
    const c = Buffer.from([PUBLISH, 0xff, 0xff, 0x7f]); // looks like a 2 MB header, but is body of d
    const d = Buffer.concat([Buffer.from([PUBLISH, ...varint(c.length)]), c]);
    const pieces = [
      a.subarray(0, 2), // type + first varint byte
      a.subarray(2, 3), // last varint byte
      a.subarray(3, 100),
      Buffer.concat([a.subarray(100), b.subarray(0, 1)]), // end of a + type byte of b
      b.subarray(1, 2), // first varint byte of b
      b.subarray(2, 500),
      Buffer.concat([b.subarray(500), d.subarray(0, 2)]),
      d.subarray(2),
    ];
    for (const p of pieces) await r.send(p);
    expect(r.receivedBytes().equals(Buffer.concat([a, b, d]))).toBe(true);
    expect(r.server.oversize).toEqual([]);
    expect(r.client.destroyed).toBe(false);
  });

  it('follows several frames in one write, the last one cut inside its header', async () => {
    const r = await rig(1000);
    const frames = [frame(CONNECT, 12), Buffer.from([PINGREQ, 0]), frame(PUBLISH, 130), frame(PUBLISH, 999)];
    const all = Buffer.concat(frames);
    const cut = all.length - 999 - 1; // one varint byte of the last frame still to come
    await r.send(all.subarray(0, cut));
    await r.send(all.subarray(cut));
    expect(r.receivedBytes().equals(all)).toBe(true);
    expect(r.server.oversize).toEqual([]);
  });

  it('closes the connection on an oversize frame and reports the size it announced', async () => {
    const r = await rig(1000);
    await r.send(frame(CONNECT, 10));
    r.client.write(Buffer.from([PUBLISH, ...varint(1001)]));
    await r.clientClosed;
    await r.server.closed;
    expect(r.server.oversize).toEqual([1001]);
  });

  it('reports an oversize frame whose remaining length is split across writes', async () => {
    const r = await rig(1000);
    await r.send([PUBLISH, 0x80]);
    r.client.write(Buffer.from([0x80, 0x01])); // 0x80 0x80 0x01 = 16384
    await r.clientClosed;
    expect(r.server.oversize).toEqual([16384]);
  });

  it('reports the largest length MQTT can announce', async () => {
    const r = await rig(1000);
    r.client.write(Buffer.from([PUBLISH, 0xff, 0xff, 0xff, 0x7f]));
    await r.clientClosed;
    expect(r.server.oversize).toEqual([268_435_455]);
  });

  it('catches an oversize frame that follows good frames in the same write', async () => {
    const r = await rig(1000);
    r.client.write(
      Buffer.concat([frame(CONNECT, 10), frame(PUBLISH, 50), Buffer.from([PUBLISH, ...varint(5000)])]),
    );
    await r.clientClosed;
    expect(r.server.oversize).toEqual([5000]);
  });

  it('catches an oversize frame after a split under-limit frame', async () => {
    const r = await rig(1000);
    const f = frame(PUBLISH, 600);
    await r.send(f.subarray(0, 2));
    await r.send(f.subarray(2, 301));
    await r.send(f.subarray(301));
    r.client.write(Buffer.from([CONNECT, ...varint(1200)]));
    await r.clientClosed;
    expect(r.server.oversize).toEqual([1200]);
    expect(r.receivedBytes().equals(f)).toBe(true);
  });

  it('hands nothing of an oversize packet, or of what follows it, to the parser', async () => {
    const r = await rig(1000);
    const good = frame(PUBLISH, 100);
    r.client.write(Buffer.concat([good, Buffer.from([PUBLISH, ...varint(4000)]), Buffer.alloc(500, 0x62)]));
    await r.clientClosed;
    await r.server.closed;
    expect(r.server.oversize).toEqual([4000]);
    // The whole chunk holding the oversize header is withheld (its good packets were never acknowledged).
    expect(r.receivedBytes().length).toBe(0);
    r.client.write(good);
    expect(r.receivedBytes().length).toBe(0);
  });
});
