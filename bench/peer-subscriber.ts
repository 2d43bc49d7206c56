/**
 * The peer benchmark's "obvious alternative" to careflow's ingest: a minimal Node subscriber behind Mosquitto.
 * It does the least work that still stores every reading: one MQTT client with a persistent session subscribed
 * at QoS 1 to `meters/+/readings`, a JSON parse with a type check per reading, and inserts into SQLite (WAL,
 * the same `synchronous` as careflow) in batched transactions. Run as a child process (`fork`): the parent
 * sends `{ url, dbPath, synchronous }`, then asks `'count'` for the number of readings stored.
 */
import Database from 'better-sqlite3';
import mqtt from 'mqtt';

interface Plan {
  url: string;
  dbPath: string;
  synchronous: 'FULL' | 'NORMAL';
}

type Row = [string, number, number];

function readingsOf(meterId: string, payload: Buffer): Row[] {
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return [];
  }
  const list = (body as { readings?: unknown }).readings;
  const items = Array.isArray(list) ? list : [body];
  const rows: Row[] = [];
  for (const item of items) {
    const { ts, totalLiters } = item as { ts?: unknown; totalLiters?: unknown };
    if (typeof ts === 'number' && typeof totalLiters === 'number') rows.push([meterId, ts, totalLiters]);
  }
  return rows;
}

process.once('message', (plan: Plan) => {
  const db = new Database(plan.dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${plan.synchronous}`);
  db.exec(
    'CREATE TABLE IF NOT EXISTS readings (meter_id TEXT NOT NULL, ts INTEGER NOT NULL, total_liters REAL NOT NULL, PRIMARY KEY (meter_id, ts))',
  );
  const insert = db.prepare('INSERT OR IGNORE INTO readings VALUES (?, ?, ?)');
  // Counts the readings stored, not the messages seen: a message redelivered after a reconnect is stored once.
  const insertAll = db.transaction((rows: Row[]) => {
    let added = 0;
    for (const r of rows) added += insert.run(r[0], r[1], r[2]).changes;
    return added;
  });
  let pending: Row[] = [];
  let scheduled = false;
  let stored = 0;
  const flush = () => {
    scheduled = false;
    const rows = pending;
    pending = [];
    stored += insertAll(rows);
  };

  const client = mqtt.connect(plan.url, {
    clientId: 'peer-subscriber',
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 500,
    // Under a heavily loaded machine a 60 s keepalive can lapse while the subscriber commits; the broker would
    // then drop it and redeliver. The benchmark measures throughput, not keepalive tuning.
    keepalive: 600,
  });
  client.on('message', (topic, payload) => {
    const meterId = topic.split('/')[1] ?? '';
    for (const row of readingsOf(meterId, payload)) pending.push(row);
    if (pending.length >= 2_000) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  client.on('connect', () => {
    client.subscribe('meters/+/readings', { qos: 1 }, (err) => {
      if (err) process.send!({ error: err.message });
      else process.send!({ subscribed: true });
    });
  });
  process.on('message', (m: string) => {
    if (m === 'count') process.send!({ stored });
    if (m === 'stop') client.end(false, {}, () => process.exit(0));
  });
});
process.send!({ ready: true });
