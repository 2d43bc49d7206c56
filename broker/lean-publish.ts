import type { Writable } from 'node:stream';
import type { Client, PublishPacket } from 'aedes';

/**
 * The parts of an aedes 1.x connection (lib/client.js, lib/handlers/index.js) the lean PUBLISH path reads and
 * sets: the same ones aedes' own `enqueue` and `handle` use for a packet.
 */
interface AedesConnection {
  connackSent: boolean;
  connected: boolean;
  closed: boolean;
  _parsingBatch: number;
  _keepaliveInterval: number;
  _keepaliveTimer: NodeJS.Timeout | null;
  _nextBatch: (err?: Error) => void;
  conn: Writable;
}

export type PacketListener = (this: unknown, packet: unknown) => void;

export interface LeanPublishDeps {
  /** The meter id the connection logged in with (undefined: not a meter). */
  meterOf(client: Client): string | undefined;
  /** The only topic a meter may publish its readings on. */
  readingsTopic(meterId: string): string;
  /**
   * Stores a meter's payload, as the broker's `authorizePublish` does for it; `done(null)` once it is committed
   * (the PUBACK may go), or with the error that kept it from being stored (the connection is closed, no PUBACK).
   */
  accept(meterId: string, topic: string, payload: Buffer, done: (err: Error | null) => void): void;
}

/**
 * A lean path for the PUBLISH every meter sends: QoS 0 or 1, on its own readings topic, after its CONNACK. aedes
 * runs its series of publish steps for it (topic checks, `authorizePublish`, a PUBACK written in three corked
 * pieces and then a timer, routing to nobody); here the reading goes straight to ingest, and the PUBACKs of a
 * connection released in one tick go out in one write. Flow control is aedes': the connection reads no further
 * while a packet is handled, and not while the socket's buffer is full.
 *
 * Authorization is exactly as strict: only a meter's publish on its own readings topic (a fixed string) is
 * taken here; every other packet, and any publish to another topic, goes to aedes (`enqueue`) and its hooks.
 */
export function leanPublishListener(
  client: Client,
  enqueue: PacketListener,
  deps: LeanPublishDeps,
): PacketListener {
  const c = client as unknown as AedesConnection;
  /** The meter's readings topic; null: this connection takes aedes' path (not a meter, or an odd topic). */
  let ownTopic: string | null | undefined;
  let meterId = '';
  /** Message ids committed and waiting for their PUBACK, in order. */
  const acks: number[] = [];
  let flushQueued = false;

  const writeAcks = () => {
    flushQueued = false;
    const n = acks.length;
    if (n === 0) return;
    if (!c.connected || c.closed) {
      // Gone while its readings were committed: nobody to answer (aedes' write fails the same way).
      acks.length = 0;
      return;
    }
    const buf = Buffer.allocUnsafe(4 * n);
    for (let i = 0; i < n; i++) {
      const id = acks[i]!;
      const at = 4 * i;
      buf[at] = 0x40; // PUBACK
      buf[at + 1] = 2;
      buf[at + 2] = id >> 8;
      buf[at + 3] = id & 0xff;
    }
    acks.length = 0;
    if (c.conn.write(buf)) release(n);
    else c.conn.once('drain', () => release(n));
  };
  /** As aedes once a packet is handled: one `_nextBatch` each; the last one reads on. */
  const release = (n: number) => {
    for (let i = 0; i < n; i++) c._nextBatch();
  };

  return function dispatch(this: unknown, raw: unknown) {
    const packet = raw as PublishPacket;
    if (packet.cmd !== 'publish' || packet.qos === 2 || !c.connackSent || c.closed)
      return enqueue.call(this, raw);
    if (ownTopic === undefined) {
      const id = deps.meterOf(client);
      const topic = id === undefined ? null : deps.readingsTopic(id);
      // A topic aedes would refuse before any hook (wildcards) never takes this path.
      ownTopic = topic && !/[#+]/.test(topic) ? topic : null;
      meterId = id ?? '';
    }
    if (ownTopic === null || packet.topic !== ownTopic) return enqueue.call(this, raw);
    // As aedes' enqueue and handle: one more packet in hand; the keep-alive restarts.
    c._parsingBatch++;
    if (c._keepaliveInterval > 0) c._keepaliveTimer?.refresh();
    const qos = packet.qos;
    const messageId = packet.messageId;
    deps.accept(meterId, ownTopic, packet.payload as Buffer, (err) => {
      if (err) return c._nextBatch(err);
      if (qos === 0) return c._nextBatch();
      acks.push(messageId!);
      if (!flushQueued) {
        flushQueued = true;
        process.nextTick(writeAcks);
      }
    });
  };
}

/** Whether a connection has what the lean PUBLISH path uses (else every packet goes to aedes). */
export function supportsLeanPublish(client: Client): boolean {
  const c = client as unknown as Partial<AedesConnection>;
  return (
    typeof c._nextBatch === 'function' &&
    typeof c._parsingBatch === 'number' &&
    '_keepaliveInterval' in c &&
    typeof c.conn?.write === 'function'
  );
}
