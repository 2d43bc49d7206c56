/**
 * bench:reconnect's load generator, one process of it (the benchmark starts `--clients` of them).
 *
 * Connects the meters `from`, `from + stride`, `from + 2·stride`, … of the fixture file, `window` CONNECTs in
 * flight, as lean as a client can be in Node so that it leaves the machine's cores to the service it measures:
 * raw TCP, every CONNECT packet generated before the storm starts, one shared read buffer for all sockets
 * (`onread`: no Buffer per read), no timer or parser per connection. A CONNACK is four bytes. An accepted
 * meter sends DISCONNECT and closes its socket right away ([MQTT-3.14.4-1]), without waiting for the broker's
 * side of the close (with `--hold` it keeps them open until the benchmark has read the CPU figures, as
 * meters stay connected after a storm). CONNACK 3 ("busy") and a connection closed without CONNACK are retried
 * as a meter would, after a random wait that doubles with each try (20–100 ms, 40–200 ms, … up to 0.64–3.2 s):
 * with a fixed 20–100 ms, the first, scrypt-bound connect of 100,000 meters made ~920,000 refused CONNECTs,
 * and a few hundred meters gave up after 50 tries.
 *
 * Every connection names its own source port (`--ports`, split between the processes by `--from`/`--stride`)
 * besides its source address. A source address without a port makes the kernel search the ephemeral range for
 * a free port on that address, and the closed connections of earlier meters (each in TIME_WAIT on this side for
 * a minute, up to the system's limit of such sockets) make that search long: measured on a loopback server that
 * only answers, 160–330 µs of kernel time per connection once the table is full, against ~25 µs with the port
 * given. Real meters each connect from their own address and never meet this; here it made the load generator,
 * not the service, the bound. The service sees the same CONNECTs either way (an address and a port).
 *
 * Protocol with the benchmark (stdin/stdout, one JSON line each): prints `{"ready":true}` once its packets are
 * built, starts on any line on stdin, then prints its result: CONNECT→CONNACK latencies (ms), retries,
 * failures, its own CPU time during the storm and its start and end (epoch ms).
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { benchMeterId } from './bench-registry.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    fixture: { type: 'string' },
    from: { type: 'string', default: '0' },
    stride: { type: 'string', default: '1' },
    window: { type: 'string', default: '256' },
    /** Comma-separated loopback source addresses, used in turn. */
    addresses: { type: 'string', default: '127.0.0.1' },
    /** Keep accepted connections open until told to close them (after the result is printed). */
    hold: { type: 'boolean', default: false },
    /**
     * Source ports `first-last` shared by all load-generator processes (each takes those with its own remainder
     * of `stride`), used in turn with every address. Below the usual ephemeral range (32768–60999), where
     * listeners with a port the system chose do not sit; a port another socket holds fails the CONNECT, which
     * is retried with the next one.
     */
    ports: { type: 'string', default: '10000-32767' },
  },
});

export interface ClientResult {
  latencies: number[];
  retries: number;
  failed: number;
  cpuMicros: number;
  /** The part of it spent in the kernel. */
  systemMicros: number;
  startedAt: number;
  endedAt: number;
}

const PORT = Number(values.port);
const WINDOW = Number(values.window);
const ADDRESSES = values.addresses!.split(',');
const DISCONNECT = mqttPacket.generate({ cmd: 'disconnect' });
const HOLD = values.hold;
const FROM = Number(values.from);
const STRIDE = Number(values.stride);
const [FIRST_PORT, LAST_PORT] = values.ports!.split('-').map(Number) as [number, number];
/** This process's share of the source ports: FIRST_PORT + FROM, + STRIDE, … up to LAST_PORT. */
const PORTS = Math.floor((LAST_PORT - FIRST_PORT - FROM) / STRIDE) + 1;
/** Accepted connections kept open (with `--hold`). */
const held: Socket[] = [];
const MAX_ATTEMPTS = 50;
const TIMEOUT_MS = 30_000;

const secrets = readFileSync(values.fixture!, 'utf8')
  .trim()
  .split('\n')
  .map((line) => line.slice(0, line.indexOf('\t')));
const meters: number[] = [];
for (let i = FROM; i < secrets.length; i += STRIDE) meters.push(i);
const packets = meters.map((i) =>
  mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clientId: benchMeterId(i),
    clean: true,
    keepalive: 60,
    username: benchMeterId(i),
    password: Buffer.from(secrets[i]!),
  }),
);

const epochNow = () => performance.timeOrigin + performance.now();
/** Every socket reads into this one buffer; what a read brought is looked at before the next read. */
const readBuffer = Buffer.alloc(64);

function run(): Promise<ClientResult> {
  const latencies: number[] = [];
  let retries = 0;
  let failed = 0;
  let next = 0;
  let inFlight = 0;
  let lane = 0;
  const open = new Set<{ started: number; abort: () => void }>();
  const cpu0 = process.cpuUsage();
  const startedAt = epochNow();

  return new Promise((resolve) => {
    const sweep = setInterval(() => {
      const now = performance.now();
      for (const o of open) if (now - o.started > TIMEOUT_MS) o.abort();
    }, 1_000);

    const startNext = () => {
      while (inFlight < WINDOW && next < packets.length) attempt(next++, 0);
      if (inFlight === 0 && next >= packets.length) {
        clearInterval(sweep);
        const cpu = process.cpuUsage(cpu0);
        resolve({
          latencies,
          retries,
          failed,
          cpuMicros: cpu.user + cpu.system,
          systemMicros: cpu.system,
          startedAt,
          endedAt: epochNow(),
        });
      }
    };

    /** One CONNECT of meter `k` (an index into `packets`). */
    function attempt(k: number, tries: number): void {
      inFlight++;
      const started = performance.now();
      let got = 0;
      let first = 0;
      let done = false;
      const entry = { started, abort: () => finish(-1) };
      open.add(entry);
      const finish = (code: number) => {
        if (done) return;
        done = true;
        open.delete(entry);
        inFlight--;
        if (code === 0) {
          latencies.push(performance.now() - started);
          if (HOLD) held.push(socket);
          else {
            socket.write(DISCONNECT);
            socket.destroy();
          }
        } else {
          socket.destroy();
          if ((code === 3 || code === -1) && tries < MAX_ATTEMPTS) {
            retries++;
            inFlight++;
            setTimeout(
              () => {
                inFlight--;
                attempt(k, tries + 1);
              },
              (20 + Math.random() * 80) * 2 ** Math.min(tries, 5),
            );
          } else failed++;
        }
        startNext();
      };
      // Every address with one port, then every address with the next: (address, port) pairs repeat only
      // after addresses × ports connections.
      const address = lane % ADDRESSES.length;
      const port = FIRST_PORT + FROM + STRIDE * (Math.floor(lane / ADDRESSES.length) % PORTS);
      lane++;
      const socket = connect({
        port: PORT,
        host: '127.0.0.1',
        localAddress: ADDRESSES[address],
        localPort: port,
        noDelay: true,
        onread: {
          buffer: readBuffer,
          callback(n: number, buf: Uint8Array): boolean {
            // CONNACK: 0x20, remaining length 2, session-present flags, return code (a read may split it).
            for (let j = 0; j < n && got < 4; j++, got++) {
              if (got === 0) first = buf[j]!;
              else if (got === 1 && (first !== 0x20 || buf[j] !== 2)) return (finish(-1), false);
              else if (got === 3) finish(buf[j]!);
            }
            return true;
          },
        },
      });
      socket.on('error', () => finish(-1));
      socket.on('close', () => finish(-1));
      // Queued until the connection is up, then written in one go.
      socket.write(packets[k]!);
    }

    startNext();
  });
}

process.stdout.write(JSON.stringify({ ready: true }) + '\n');
const commands = createInterface({ input: process.stdin });
commands.once('line', () => {
  void run().then((result) => {
    process.stdout.write(JSON.stringify(result) + '\n');
    // With --hold: the next line (or the end of stdin) closes the connections held open.
    const release = () => {
      for (const socket of held.splice(0)) {
        socket.write(DISCONNECT);
        socket.destroy();
      }
      commands.close();
    };
    commands.once('line', release);
    commands.once('close', release);
  });
});
