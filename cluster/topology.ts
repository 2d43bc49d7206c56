import type { Channel } from 'amqplib';

/**
 * The partitioned work queue of a careflow cluster on RabbitMQ, declared by every worker at start (declaring is
 * idempotent, so workers that start together agree):
 *
 * ```
 * meters ──MQTT──▶ amq.topic ──(meters.#.readings)──▶ careflow.readings (x-consistent-hash, by routing key)
 *                                                       ├──▶ careflow.readings.0  (quorum, single active consumer)
 *                                                       ├──▶ …
 *                                                       └──▶ careflow.readings.P-1
 * ```
 *
 * RabbitMQ's MQTT plugin publishes a meter's readings to `amq.topic` with the routing key
 * `meters.<meterId>.readings`; the consistent-hash exchange hashes that key, so all readings of one meter (and so
 * of one household) land in one partition, in order. Quorum queues are replicated (Raft) across RabbitMQ nodes;
 * single active consumer makes exactly one worker consume a partition at a time, and hands the partition to the
 * next waiting consumer when that worker's connection goes.
 */
export const READINGS_EXCHANGE = 'careflow.readings';
export const MQTT_EXCHANGE = 'amq.topic';
/** Readings of every meter, also of meter ids that contain dots (the routing key keeps them). */
export const READINGS_BINDING = 'meters.#.readings';

export const partitionQueue = (partition: number) => `${READINGS_EXCHANGE}.${partition}`;

/** The meter of a readings routing key (`meters.<id>.readings`), or null for any other key. */
export function meterOfRoutingKey(key: string): string | null {
  if (!key.startsWith('meters.') || !key.endsWith('.readings')) return null;
  const id = key.slice('meters.'.length, -'.readings'.length);
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id) ? id : null;
}

/** Declares the exchange, the P partition queues and their bindings (idempotent). */
export async function declareTopology(ch: Channel, partitions: number): Promise<void> {
  await ch.assertExchange(READINGS_EXCHANGE, 'x-consistent-hash', { durable: true });
  await ch.bindExchange(READINGS_EXCHANGE, MQTT_EXCHANGE, READINGS_BINDING);
  for (let p = 0; p < partitions; p++) {
    const queue = partitionQueue(p);
    await ch.assertQueue(queue, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-single-active-consumer': true },
    });
    // Equal weights: each partition gets an equal share of the hash ring.
    await ch.bindQueue(queue, READINGS_EXCHANGE, '1');
  }
}

/** `0-3,8` → [0, 1, 2, 3, 8] (within 0..partitions-1); null → every partition. */
export function parsePartitionList(list: string | null, partitions: number): number[] {
  if (list === null) return Array.from({ length: partitions }, (_, i) => i);
  const out = new Set<number>();
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    for (let p = a; p <= (b ?? a); p++) {
      if (p >= partitions)
        throw new Error(`partition ${p} does not exist (there are ${partitions}: 0-${partitions - 1})`);
      out.add(p);
    }
  }
  return [...out].sort((x, y) => x - y);
}

/** How long closing a RabbitMQ connection may wait for the broker's answer. */
const CLOSE_TIMEOUT_MS = 5_000;

/**
 * Closes a RabbitMQ connection without waiting forever: a connection whose socket is gone (or goes while it
 * closes) never gets the broker's close-ok. `gone`: the connection has already closed.
 */
export async function closeConnection(conn: { close(): Promise<void> }, gone: boolean): Promise<void> {
  if (gone) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    conn.close().catch(() => {}),
    new Promise<void>((r) => (timer = setTimeout(r, CLOSE_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
}
