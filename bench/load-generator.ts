/**
 * The ingest benchmark's load generator, run as its own process (`fork`): many raw MQTT 3.1.1 connections
 * (mqtt-packet over net sockets, no client library overhead), one per meter, each publishing its readings at
 * QoS 1 with a window of unacknowledged messages. Measures PUBACK latency per message and reports to the parent.
 */
import { connect, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mqtt from 'mqtt-packet';

export interface LoadPlan {
  host: string;
  port: number;
  /** Meter ids to connect, one connection each. */
  meters: string[];
  secret: string;
  /** Readings each meter sends (a multiple of batchSize). */
  readingsPerMeter: number;
  /** Readings per message: 1 = one reading per PUBLISH, more = `{ "readings": [...] }` batches. */
  batchSize: number;
  /** Unacknowledged PUBLISHes per connection. */
  window: number;
  /** Epoch ms of each meter's first reading; readings are 15 minutes apart. */
  firstTs: number;
  connectConcurrency: number;
  /**
   * Paced: PUBLISHes per second of this process, spread evenly over time and meters (absent: as fast as the
   * window allows). A paced message's latency counts from when it was due, so a backlog shows in it.
   */
  messagesPerSecond?: number;
  /**
   * Paced: the messages due in the first `warmupMs` are sent and acknowledged like every other, but their
   * latency is reported apart (`warmupLatencyMs`): the freshly started generator and the meters' first
   * readings are not the steady state the paced figure is about.
   */
  warmupMs?: number;
}

export interface LoadResult {
  connections: number;
  connectMs: number;
  messages: number;
  readings: number;
  durationMs: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  /** Paced runs with a warm-up: the latency of the messages due during it (not in `latencyMs`). */
  warmupLatencyMs: { count: number; p50: number; p99: number; max: number };
  /** Readings acknowledged per wall second (to see that the rate is sustained). */
  perSecond: number[];
  /**
   * Paced runs: how late each PUBLISH was written after it fell due (the generator's own delay, or a window
   * still full of unacknowledged messages): queueing on the client's side, part of the latency.
   */
  sendLagMs: { p50: number; p99: number; max: number };
  /** The generator's event-loop delay while publishing: when it is large, the client is the bottleneck. */
  loopDelayMs: { p99: number; max: number };
  /** The load generator's own CPU use while publishing, % of one core (it must not be the bottleneck). */
  cpuPercent: number;
  errors: string[];
}

const STEP = 15 * 60_000;
/**
 * `LOADGEN_TIMELINE=1`: each generator also writes to stderr the worst PUBACK latency of the messages due in
 * each 100 ms of the run (by when they fell due): a stall of the broker shows as the same spike in every
 * generator at the same moment, a warm-up as the first seconds.
 */
const TIMELINE = process.env.LOADGEN_TIMELINE === '1';
const timeline: number[] = [];

/**
 * Register of every meter after its k-th reading: water in five of every sixteen quarter hours (2.5–6.5 L), none
 * in the others, so that the detectors see ordinary households (no leak or heavy use in every home).
 */
let registerAt: Float64Array = new Float64Array(0);

function registers(count: number): Float64Array {
  if (registerAt.length >= count) return registerAt;
  registerAt = new Float64Array(count);
  let total = 0;
  for (let k = 0; k < count; k++) {
    if (k % 16 >= 8 && k % 16 < 13) total += 2.5 + ((k * 7) % 5);
    registerAt[k] = total;
  }
  return registerAt;
}

function payloadOf(meterIndex: number, first: number, count: number, firstTs: number): string {
  const reg = registers(first + count);
  const reading = (k: number) =>
    `{"ts":${firstTs + k * STEP},"totalLiters":${10_000 + meterIndex + reg[k]!}}`;
  if (count === 1) return reading(first);
  const parts: string[] = [];
  for (let k = first; k < first + count; k++) parts.push(reading(k));
  return `{"readings":[${parts.join(',')}]}`;
}

export async function runLoad(
  plan: LoadPlan,
  ready: () => Promise<void> = async () => {},
): Promise<LoadResult> {
  const messagesPerMeter = Math.ceil(plan.readingsPerMeter / plan.batchSize);
  const totalMessages = messagesPerMeter * plan.meters.length;
  const latencies = new Float64Array(totalMessages);
  let latencyCount = 0;
  const warmupLatencies = new Float64Array(plan.messagesPerSecond && plan.warmupMs ? totalMessages : 0);
  let warmupCount = 0;
  let acked = 0;
  let ackedReadings = 0;
  const errors: string[] = [];
  const perSecond: number[] = [];
  const sockets: Socket[] = [];

  const connStart = performance.now();
  const connections = await connectAll(plan, sockets, errors);
  const connectMs = performance.now() - connStart;
  // Each connection's send times, by packet id (ids 1…messagesPerMeter, then they wrap), allocated before the
  // start: allocating them after it delayed the first messages of a paced run past their due time.
  const slots = Math.min(65_536, messagesPerMeter + 1);
  const sentAts = connections.map(() => new Float64Array(slots));
  /** How late each paced message was written (client-side queueing: the generator's own delay or a full window). */
  const sendLags = new Float64Array(plan.messagesPerSecond ? totalMessages : 0);
  let sendLagCount = 0;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  await ready();

  loop.enable();
  const started = performance.now();
  const warmupEnds = plan.messagesPerSecond && plan.warmupMs ? started + plan.warmupMs : -Infinity;
  const cpu0 = process.cpuUsage();
  let secondStart = started;
  let secondCount = 0;
  const tick = setInterval(() => {
    perSecond.push(secondCount);
    secondCount = 0;
    secondStart = performance.now();
  }, 1000);

  const rate = plan.messagesPerSecond;
  const n = connections.length;
  /** When message `k` of connection `index` is due (paced runs): message k·n + index of the whole run. */
  const dueAt = (index: number, k: number) => (rate ? started + ((k * n + index) * 1000) / rate : 0);
  const senders: (() => void)[] = [];
  await new Promise<void>((resolve) => {
    let finished = 0;
    if (connections.length === 0) resolve();
    connections.forEach(({ socket, parser }, index) => {
      const sentAt = sentAts[index]!;
      let next = 0; // next message index of this meter
      let inflight = 0;
      let id = 0;
      const send = () => {
        socket.cork();
        const now = performance.now();
        while (inflight < plan.window && next < messagesPerMeter && (!rate || dueAt(index, next) <= now)) {
          const first = next * plan.batchSize;
          const count = plan.batchSize;
          id = (id % (slots - 1)) + 1;
          if (rate) {
            const due = dueAt(index, next);
            sentAt[id] = due;
            if (due >= warmupEnds) sendLags[sendLagCount++] = now - due;
          } else sentAt[id] = now;
          socket.write(
            mqtt.generate({
              cmd: 'publish',
              topic: `meters/${plan.meters[index]}/readings`,
              payload: payloadOf(index, first, count, plan.firstTs),
              qos: 1,
              messageId: id,
              retain: false,
              dup: false,
            }),
          );
          next++;
          inflight++;
        }
        socket.uncork();
      };
      parser.on('packet', (packet) => {
        if (packet.cmd !== 'puback') return;
        const at = performance.now();
        const from = sentAt[packet.messageId!]!;
        if (from < warmupEnds) warmupLatencies[warmupCount++] = at - from;
        else latencies[latencyCount++] = at - from;
        if (TIMELINE) {
          const b = Math.floor((from - started) / 100);
          timeline[b] = Math.max(timeline[b] ?? 0, at - from);
        }
        inflight--;
        acked++;
        ackedReadings += plan.batchSize;
        secondCount += plan.batchSize;
        if (next < messagesPerMeter) send();
        else if (inflight === 0 && ++finished === connections.length) resolve();
      });
      socket.on('close', () => {
        if (next < messagesPerMeter || inflight > 0) {
          errors.push(`${plan.meters[index]}: connection closed with ${inflight} unacknowledged`);
          if (++finished === connections.length) resolve();
        }
      });
      senders.push(send);
      if (!rate) send();
    });
    // Paced: release messages as they fall due (a connection whose window is full sends on its next PUBACK).
    if (rate && n > 0) {
      let due = 0; // the run's next message in due order
      const total = n * messagesPerMeter;
      const release = () => {
        const now = performance.now();
        while (due < total && dueAt(due % n, Math.floor(due / n)) <= now) senders[due++ % n]!();
        if (due < total)
          setTimeout(release, Math.max(1, dueAt(due % n, Math.floor(due / n)) - performance.now()));
      };
      release();
    }
  });
  const durationMs = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  if (TIMELINE)
    process.stderr.write(`timeline ${process.pid} ${timeline.map((x) => Math.round(x ?? 0)).join(' ')}\n`);
  clearInterval(tick);
  if (performance.now() - secondStart > 200) perSecond.push(secondCount);
  for (const s of sockets) s.destroy();

  const sorted = latencies.subarray(0, latencyCount).sort();
  const q = (p: number, s: Float64Array = sorted) =>
    s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const lags = sendLags.subarray(0, sendLagCount).sort();
  const warm = warmupLatencies.subarray(0, warmupCount).sort();
  return {
    connections: connections.length,
    connectMs,
    messages: acked,
    readings: ackedReadings,
    durationMs,
    latencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: sorted.at(-1) ?? 0 },
    perSecond,
    warmupLatencyMs: { count: warmupCount, p50: q(0.5, warm), p99: q(0.99, warm), max: warm.at(-1) ?? 0 },
    sendLagMs: { p50: q(0.5, lags), p99: q(0.99, lags), max: lags.at(-1) ?? 0 },
    loopDelayMs: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    cpuPercent: Math.round((100 * (cpu.user + cpu.system)) / 1000 / durationMs),
    errors: errors.slice(0, 20),
  };
}

/** How long a meter keeps trying to connect while the broker answers "server unavailable" (or hangs up). */
const CONNECT_PATIENCE_MS = 180_000;

async function connectAll(plan: LoadPlan, sockets: Socket[], errors: string[]) {
  const out: { socket: Socket; parser: ReturnType<typeof mqtt.parser> }[] = new Array(plan.meters.length);
  let next = 0;
  const worker = async () => {
    while (next < plan.meters.length) {
      const index = next++;
      const meterId = plan.meters[index]!;
      // A first CONNECT may be answered 3 "server unavailable" while the broker's bounded secret checks for
      // this address are busy (or the connection closed before a CONNACK under load): retried after a pause
      // that grows with each attempt, with jitter, as a real meter does. A refusal (bad secret) is final.
      const giveUpAt = performance.now() + CONNECT_PATIENCE_MS;
      for (let attempt = 0; ; attempt++) {
        const socket = connect({ host: plan.host, port: plan.port, noDelay: true });
        const parser = mqtt.parser();
        let abandoned = false;
        socket.on('data', (chunk: Buffer) => parser.parse(chunk));
        socket.on('error', (err) => {
          if (!abandoned) errors.push(`${meterId}: ${err.message}`);
        });
        const outcome = await new Promise<'connected' | 'busy' | 'closed'>((resolve, reject) => {
          parser.once('packet', (packet) => {
            if (packet.cmd === 'connack' && packet.returnCode === 0) resolve('connected');
            else if (packet.cmd === 'connack' && packet.returnCode === 3) resolve('busy');
            else reject(new Error(`${meterId}: CONNECT refused (${JSON.stringify(packet)})`));
          });
          socket.once('close', () => resolve('closed'));
          socket.write(
            mqtt.generate({
              cmd: 'connect',
              protocolId: 'MQTT',
              protocolVersion: 4,
              clean: true,
              clientId: meterId,
              keepalive: 0,
              username: meterId,
              password: Buffer.from(plan.secret),
            }),
          );
        });
        if (outcome === 'connected') {
          sockets.push(socket);
          out[index] = { socket, parser };
          break;
        }
        abandoned = true;
        socket.destroy();
        if (performance.now() > giveUpAt)
          throw new Error(
            `${meterId}: no CONNACK 0 after ${attempt + 1} attempts in ${CONNECT_PATIENCE_MS / 1000} s (last: ${outcome})`,
          );
        const pause = Math.min(1_000, 20 * 2 ** Math.min(attempt, 6));
        await new Promise((r) => setTimeout(r, pause / 2 + Math.random() * pause));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.connectConcurrency, plan.meters.length) }, worker));
  return out;
}

// As a child process: receive the plan, run it, send the result back.
if (process.send) {
  process.once('message', (plan: LoadPlan) => {
    const ready = () =>
      new Promise<void>((resolve) => {
        process.once('message', () => resolve());
        process.send!({ connected: true });
      });
    runLoad(plan, ready).then(
      (result) => process.send!({ ok: true, result }, () => process.exit(0)),
      (err: Error) => process.send!({ ok: false, error: err.message }, () => process.exit(1)),
    );
  });
  process.send({ ready: true });
}
