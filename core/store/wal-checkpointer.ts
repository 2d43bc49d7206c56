import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Db } from './open-store.ts';

/** The checkpointer thread: its own connection to the file, a PASSIVE checkpoint every `everyMs`. */
const CHECKPOINTER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = ' + workerData.synchronous);
db.pragma('wal_autocheckpoint = 0');
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
parentPort.postMessage({ ready: true });
`;

export interface WalCheckpointer {
  /** Stops the thread after a last checkpoint (before the main connection closes). */
  stop(): Promise<void>;
}

/**
 * Moves the WAL checkpoints of a store off the main thread. By default SQLite checkpoints inside whichever
 * commit grows the WAL past 1,000 pages: with a steady stream of readings that is a commit on the event loop
 * about once a second, copying megabytes into the database file and fsyncing it (13 ms on average, up to 50 ms
 * measured on a loaded VM), while every PUBACK waits. Here the main connection never checkpoints and a second
 * thread runs a PASSIVE checkpoint (it never blocks a writer or a reader) every `everyMs` on a connection of its
 * own. Durability does not change: a commit is durable once it is in the WAL; a checkpoint only copies it into
 * the database file (and fsyncs both around that, as before). Should the thread fail, the main connection
 * checkpoints by itself again (`onError` is told), so the WAL never grows without bound.
 */
export async function startWalCheckpointer(
  db: Db,
  opts: { everyMs?: number; synchronous: 'FULL' | 'NORMAL'; onError?: (message: string) => void },
): Promise<WalCheckpointer | null> {
  if (db.memory || String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return null;
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(CHECKPOINTER, {
    eval: true,
    workerData: { path: db.name, driver, synchronous: opts.synchronous, everyMs: opts.everyMs ?? 500 },
  });
  // Never what keeps the process alive: when it exits without `stop`, the WAL is simply checkpointed later.
  worker.unref();
  let stopping = false;
  let fellBack = false;
  const fallBack = (message: string) => {
    if (stopping || fellBack) return;
    fellBack = true;
    if (db.open) db.pragma('wal_autocheckpoint = 1000');
    opts.onError?.(message);
  };
  const ready = new Promise<boolean>((resolve) => {
    worker.once('message', (m: { ready?: boolean }) => resolve(m.ready === true));
    worker.once('error', () => resolve(false));
    worker.once('exit', () => resolve(false));
  });
  worker.on('message', (m: { error?: string }) => {
    // A checkpoint that could not run now (busy) is retried on the next tick; the thread itself is fine.
    if (m.error && !/busy|locked/i.test(m.error)) opts.onError?.(`WAL checkpoint failed: ${m.error}`);
  });
  worker.on('error', (err: Error) => fallBack(`WAL checkpointer thread failed: ${err.message}`));
  worker.on('exit', (code) => code !== 0 && fallBack(`WAL checkpointer thread exited with ${code}`));
  if (!(await ready)) {
    fallBack('WAL checkpointer thread did not start');
    await worker.terminate();
    return null;
  }
  // Only now: until the thread runs, the main connection keeps checkpointing by itself.
  db.pragma('wal_autocheckpoint = 0');
  return {
    async stop() {
      if (stopping) return;
      stopping = true;
      if (db.open) db.pragma('wal_autocheckpoint = 1000');
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      // Kept alive again until its last checkpoint is done (else the process could end while waiting for it).
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
