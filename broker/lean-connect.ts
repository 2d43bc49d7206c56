import type { Duplex } from 'node:stream';
import type { Aedes, AuthenticateError, Client, ConnectPacket, ConnackPacket } from 'aedes';
import type { PacketParser } from './packet-size-guard.ts';

/**
 * The parts of an aedes 1.x connection (lib/client.js, lib/handlers/connect.js) the lean CONNECT path reads and
 * sets. `installLeanConnect` checks they are there and leaves the connection to aedes when they are not.
 */
interface AedesConnection {
  id: string | null;
  clean: boolean;
  version: number | null;
  connecting: boolean;
  connected: boolean;
  connackSent: boolean;
  closed: boolean;
  will: unknown;
  _will: unknown;
  _authorized: boolean;
  _disconnected: boolean;
  _paused: boolean;
  _parsingBatch: number;
  _connectTimer: NodeJS.Timeout | null;
  _keepaliveTimer: NodeJS.Timeout | null;
  _keepaliveInterval: number;
  _nextBatch: (err?: Error) => void;
  _parser: PacketParser & {
    listeners(event: 'packet'): ((packet: unknown) => void)[];
    removeAllListeners(event: 'packet'): unknown;
    on(event: 'packet', listener: (packet: unknown) => void): unknown;
    once(event: 'packet', listener: (packet: unknown) => void): unknown;
  };
  conn: Duplex;
  pause(): void;
  resume(): void;
  close(done?: () => void): void;
  emit(event: string, ...args: unknown[]): boolean;
}

export interface LeanConnectDeps {
  aedes: Aedes;
  /** The broker's `authenticate` hook (the same one aedes calls on its own path). */
  authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (err: AuthenticateError | null, ok: boolean) => void,
  ): void;
  /**
   * Client ids that may have session state in aedes' persistence (a persistent session, a will): their clean
   * CONNECT discards that state first, as aedes' own path does.
   */
  mayHaveSession(clientId: string): boolean;
  /**
   * What takes the packets after the CONNECT: a wrapper around aedes' own listener (`enqueue`), such as the
   * lean PUBLISH path (lean-publish.ts); none: aedes' listener.
   */
  packetListener?(
    client: Client,
    enqueue: (this: unknown, packet: unknown) => void,
  ): (packet: unknown) => void;
}

const CONNACK_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const MQTT_3_1_1 = 4;

/**
 * A lean path for the CONNECT every meter sends: MQTT 3.1.1, a clean session, a client id, no will. aedes
 * runs nine steps for each CONNECT (session and subscription lookups, will bookkeeping, a stream pipeline over
 * the stored outgoing queue, two `$SYS` announcements) that have nothing to do for such a client; in a
 * reconnect storm they cost more CPU than the authentication itself. This path authenticates with the same
 * hook, registers the client with aedes (a second connection with the same id still takes over the first),
 * writes the CONNACK in one write and hands the connection back to aedes for everything after it: PUBLISH,
 * SUBSCRIBE, keep-alive, DISCONNECT and close run as before. Any other CONNECT (persistent session, will, an
 * empty client id, MQTT 3.1 or 5) goes through aedes' own steps unchanged.
 *
 * Returns false (and changes nothing) when the connection does not look as this code expects: a different
 * aedes version then simply runs aedes' path for every CONNECT.
 */
export function installLeanConnect(client: Client, deps: LeanConnectDeps): boolean {
  const c = client as unknown as AedesConnection;
  const parser = c._parser;
  if (
    typeof parser?.listeners !== 'function' ||
    typeof c._nextBatch !== 'function' ||
    typeof c.pause !== 'function' ||
    typeof c.resume !== 'function' ||
    typeof c.close !== 'function' ||
    !('_connectTimer' in c) ||
    !('_disconnected' in c) ||
    !('_parsingBatch' in c) ||
    typeof (deps.aedes as { registerClient?: unknown }).registerClient !== 'function'
  )
    return false;
  const aedesListeners = parser.listeners('packet');
  if (aedesListeners.length !== 1) return false;
  const enqueue = aedesListeners[0]!;
  parser.removeAllListeners('packet');
  parser.once('packet', function first(this: unknown, raw: unknown) {
    // Every later packet goes to aedes as before (or through the given wrapper around it), but a DISCONNECT.
    const next = deps.packetListener ? deps.packetListener(client, enqueue) : enqueue;
    parser.on('packet', function later(this: unknown, p: unknown) {
      if ((p as { cmd?: string }).cmd === 'disconnect' && c.connackSent && !c.closed) return disconnect(c);
      next.call(this, p);
    });
    const packet = raw as ConnectPacket;
    if (!isLean(packet, c)) return enqueue.call(this, raw);
    leanConnect(c, packet, deps);
  });
  return true;
}

/**
 * DISCONNECT ([MQTT-3.14.4-1..3]): no will, and the connection closes. aedes destroys the socket and leaves the
 * client's cleanup to its end-of-stream watch, which on every such close first builds an
 * `ERR_STREAM_PREMATURE_CLOSE` error with a stack trace (the socket was destroyed before its readable side
 * ended) only to drop it; closing the client directly runs the same cleanup (unregister, remove the watch,
 * destroy the socket) without it. Every meter of a reconnect storm that disconnects in order goes this way.
 */
function disconnect(c: AedesConnection): void {
  c._disconnected = true;
  closeWithoutStack(c);
}

/**
 * `client.close()` without stack traces: aedes' close builds an `Error('connection closed')` on every call for
 * the write callbacks still waiting for a drain, and a connection that disconnects in order has none; capturing
 * its stack was 3–4 % of the service's CPU in a reconnect storm. The error still reaches any such callback, just
 * without a stack (nothing of it reaches a client or the log).
 */
function closeWithoutStack(c: AedesConnection, done?: () => void): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    c.close(done);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function isLean(packet: ConnectPacket, c: AedesConnection): boolean {
  return (
    packet.cmd === 'connect' &&
    packet.protocolVersion === MQTT_3_1_1 &&
    packet.clean === true &&
    !packet.will &&
    typeof packet.clientId === 'string' &&
    packet.clientId.length > 0 &&
    // The first packet of a connection that is still waiting for it (aedes' enqueue would handle it now).
    c._parsingBatch === 0 &&
    !c.connecting &&
    !c.connected &&
    !c.closed
  );
}

function leanConnect(c: AedesConnection, packet: ConnectPacket, deps: LeanConnectDeps): void {
  const broker = deps.aedes as Aedes & {
    registerClient(client: Client): void;
    emit(event: string, ...args: unknown[]): boolean;
  };
  const client = c as unknown as Client;
  // As aedes' enqueue: one packet being handled until `_nextBatch` runs.
  c._parsingBatch++;
  clearTimeout(c._connectTimer ?? undefined);
  c._connectTimer = null;
  c.connecting = true;
  c.id = packet.clientId;
  c.clean = true;
  c.version = MQTT_3_1_1;
  c._will = undefined;
  c.pause();
  let sync = true;
  deps.authenticate(client, packet.username, packet.password, (err, ok) => {
    // Answered at once (a secret recognised by its verifier): continue once the parser, which is still
    // emitting this CONNECT, has returned; `_nextBatch` (below) may read and parse more, which must not
    // happen inside the parser's own emit.
    if (sync) return queueMicrotask(() => authenticated(err, ok));
    authenticated(err, ok);
  });
  sync = false;

  function authenticated(err: AuthenticateError | null, ok: boolean): void {
    // The connection (or the broker) closed while the credentials were checked: nothing to answer.
    if (c.closed || deps.aedes.closed) return;
    if (err || !ok) return refuse(err);
    c._authorized = true;
    if (deps.mayHaveSession(packet.clientId)) return discardSession(accept);
    accept();
  }

  function accept(): void {
    if (c.closed || deps.aedes.closed) return;
    const keepalive = packet.keepalive ?? 0;
    if (keepalive > 0) {
      // [MQTT-3.1.2-24], as aedes: one and a half keep-alive periods without a packet close the connection.
      c._keepaliveInterval = keepalive * 1500 + 1;
      c._keepaliveTimer = setTimeout(() => {
        broker.emit('keepaliveTimeout', client);
        c.emit('error', new Error('keep alive timeout'));
      }, c._keepaliveInterval);
    }
    c.will = undefined;
    broker.registerClient(client);
    c.conn.write(CONNACK_ACCEPTED);
    const connack: ConnackPacket = { cmd: 'connack', returnCode: 0, sessionPresent: false };
    c.connackSent = true;
    broker.emit('connackSent', connack, client);
    c.resume();
    c.connecting = false;
    c.connected = true;
    broker.emit('clientReady', client);
    c.emit('connected');
    c._nextBatch();
  }

  /** A clean session discards what a persistent one of the same client id left (aedes' steps for it). */
  function discardSession(then: () => void): void {
    const persistence = (deps.aedes as unknown as { persistence: unknown }).persistence as {
      cleanSubscriptions(client: Client): Promise<unknown>;
      delWill(client: Client): Promise<unknown>;
      cleanIncoming?(client: Client): Promise<unknown>;
    };
    Promise.all([
      persistence.cleanSubscriptions(client),
      persistence.delWill(client),
      persistence.cleanIncoming?.(client),
      new Promise<void>((resolve, reject) =>
        (client as unknown as { emptyOutgoingQueue(done: (err?: Error) => void): void }).emptyOutgoingQueue(
          (e) => (e ? reject(e) : resolve()),
        ),
      ),
    ]).then(then, (e: Error) => {
      c.connecting = false;
      c._nextBatch(e);
    });
  }

  /** As aedes: CONNACK with the refusal's return code ([MQTT-3.2.2-5]), then the connection is closed. */
  function refuse(err: AuthenticateError | null): void {
    const code = err?.returnCode && err.returnCode >= 2 && err.returnCode <= 5 ? err.returnCode : 5;
    const error = err ?? (new Error('not authorized') as AuthenticateError);
    (error as AuthenticateError & { errorCode?: number }).errorCode = code;
    c.conn.write(Buffer.from([0x20, 0x02, 0x00, code]), () =>
      c.close(() => {
        c.connecting = false;
        c._nextBatch(error);
      }),
    );
  }
}
