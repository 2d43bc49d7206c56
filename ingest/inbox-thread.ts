import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { INSERT_DEAD_LETTER_SQL } from '../core/store/dead-letter-repo.ts';
import { INBOX_ROWS_PER_INSERT, insertInboxRowsSql } from '../core/store/inbox-repo.ts';
import type { InboxCommitter, InboxSubmission, NewDeadLetter, ThreadCommitted } from './repository.ts';

/**
 * One group commit as the thread receives it: a handful of typed arrays and one string, whatever the number
 * of readings (structured cloning costs per object, so nothing is cloned per reading).
 */
interface EncodedBatch {
  /** The submissions' meter ids end to end; `idEnds` says where each ends. */
  ids: string;
  idEnds: Uint32Array;
  /** Readings of each submission. */
  counts: Uint32Array;
  receivedAt: Float64Array;
  /** ts, totalLiters of every reading, in submission and reading order. */
  values: Float64Array;
  /** Rare: the dead letters of the batch. */
  deadLetters: NewDeadLetter[] | null;
}

type Reply = { seqs: Float64Array; syncError: string | null } | { error: string };

/** How long shutdown waits for the thread's last commit before it gives up on it (not acknowledged). */
const DRAIN_TIMEOUT_MS = 30_000;

/**
 * The writer thread (plain JavaScript, so that it runs the same from the compiled service and from the
 * sources). Its connection commits with synchronous=NORMAL, so the store's write lock is held only while the
 * rows are inserted; with `syncWal` the WAL file is then fsynced, outside the lock (what FULL would do inside
 * it). A commit that is answered with its sequence numbers and no error is as durable as the store's setting
 * promises. After each answer the shared counter moves, so that shutdown can wait for answers synchronously.
 */
const WRITER = `
const { workerData } = require('node:worker_threads');
const { closeSync, fsyncSync, openSync } = require('node:fs');
const Database = require(workerData.driver);
const { path, port, signal, syncWal, insertReadings, insertDeadLetter } = workerData;
const db = new Database(path, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
// insertReadings[n - 1] inserts n rows; the rows of one statement are numbered last - n + 1 ... last.
const rowsPerInsert = insertReadings.length;
const readings = [];
const args = new Array(4 * rowsPerInsert);
const insert = (n, a, seqs, j) => {
  const stmt = (readings[n - 1] ??= db.prepare(insertReadings[n - 1]));
  const last = Number(stmt.run(a).lastInsertRowid);
  for (let i = 0; i < n; i++) seqs[j - n + i] = last - n + 1 + i;
};
const deadLetter = db.prepare(insertDeadLetter);
let walFd = -1;
const commit = db.transaction((b) => {
  const seqs = new Float64Array(b.values.length / 2);
  let from = 0, j = 0, n = 0;
  for (let i = 0; i < b.counts.length; i++) {
    const meterId = b.ids.slice(from, b.idEnds[i]);
    from = b.idEnds[i];
    const receivedAt = b.receivedAt[i];
    for (let k = b.counts[i]; k > 0; k--, j++) {
      const at = 4 * n;
      args[at] = meterId;
      args[at + 1] = b.values[2 * j];
      args[at + 2] = b.values[2 * j + 1];
      args[at + 3] = receivedAt;
      if (++n === rowsPerInsert) {
        insert(n, args, seqs, j + 1);
        n = 0;
      }
    }
  }
  if (n > 0) insert(n, args.slice(0, 4 * n), seqs, j);
  if (b.deadLetters)
    for (const d of b.deadLetters)
      deadLetter.run(d.receivedAt, d.meterId, d.topic, d.code, d.message, d.field, d.excerpt);
  return seqs;
});
const answer = (reply, transfer) => {
  port.postMessage(reply, transfer);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
};
port.on('message', (b) => {
  let seqs;
  try {
    seqs = commit(b);
  } catch (err) {
    return answer({ error: String((err && err.message) || err) });
  }
  let syncError = null;
  if (syncWal) {
    try {
      if (walFd < 0) walFd = openSync(path + '-wal', 'r');
      fsyncSync(walFd);
    } catch (err) {
      syncError = String((err && err.message) || err);
    }
  }
  answer({ seqs, syncError }, [seqs.buffer]);
});
port.on('close', () => {
  if (walFd >= 0) closeSync(walFd);
  db.close();
});
`;

function encode(submissions: readonly InboxSubmission[]): { batch: EncodedBatch; transfer: ArrayBuffer[] } {
  const n = submissions.length;
  let readings = 0;
  for (const s of submissions) readings += s.readings.length;
  const idEnds = new Uint32Array(n);
  const counts = new Uint32Array(n);
  const receivedAt = new Float64Array(n);
  const values = new Float64Array(2 * readings);
  let ids = '';
  let deadLetters: NewDeadLetter[] | null = null;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const s = submissions[i]!;
    ids += s.meterId;
    idEnds[i] = ids.length;
    counts[i] = s.readings.length;
    receivedAt[i] = s.receivedAt;
    for (const r of s.readings) {
      values[j++] = r.ts;
      values[j++] = r.totalLiters;
    }
    if (s.deadLetters.length > 0) (deadLetters ??= []).push(...s.deadLetters);
  }
  return {
    batch: { ids, idEnds, counts, receivedAt, values, deadLetters },
    transfer: [idEnds.buffer, counts.buffer, receivedAt.buffer, values.buffer],
  };
}

/**
 * The main thread's side of the writer thread: one message per group commit, answered in order. Should the
 * thread fail (it stops, or does not answer at shutdown), every commit waiting for it and every later one is
 * refused with that error (nothing of them is acknowledged) and `onFailure` is told: the inbox then takes no
 * more readings until the service is restarted, whose recovery re-processes whatever the thread committed.
 */
export class InboxThread implements InboxCommitter {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly waiting: ThreadCommitted[] = [];
  private failure: Error | undefined;
  private released = false;

  constructor(
    path: string,
    syncWal: boolean,
    private readonly onFailure: (err: Error) => void,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WRITER, {
      eval: true,
      workerData: {
        path,
        port: port2,
        signal: this.signal,
        syncWal,
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        insertReadings: Array.from({ length: INBOX_ROWS_PER_INSERT }, (_, i) => insertInboxRowsSql(i + 1)),
        insertDeadLetter: INSERT_DEAD_LETTER_SQL,
      },
      transferList: [port2],
    });
    this.port.on('message', (reply: Reply) => this.answered(reply));
    this.worker.on('error', (err: Error) =>
      this.fail(new Error(`inbox writer thread failed: ${err.message}`)),
    );
    this.worker.on('exit', (code) => {
      if (!this.released) this.fail(new Error(`inbox writer thread exited with code ${code}`));
    });
    // An idle thread does not keep the process alive; a commit waiting for its answer does (see `commit`).
    this.worker.unref();
    this.port.unref();
  }

  commit(submissions: readonly InboxSubmission[], done: ThreadCommitted): void {
    if (this.failure || this.released) {
      done(this.failure ?? new Error('inbox writer thread is closed'));
      return;
    }
    const { batch, transfer } = encode(submissions);
    if (this.waiting.push(done) === 1) this.port.ref();
    this.port.postMessage(batch, transfer);
  }

  drain(): void {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (this.waiting.length > 0 && !this.failure) {
      // Read the counter before looking at the port: an answer posted in between moves it, so the wait returns.
      const seen = Atomics.load(this.signal, 0);
      const m = receiveMessageOnPort(this.port);
      if (m) {
        this.answered(m.message as Reply);
        continue;
      }
      if (Date.now() > deadline) {
        this.fail(new Error(`inbox writer thread did not answer within ${DRAIN_TIMEOUT_MS} ms`));
        break;
      }
      Atomics.wait(this.signal, 0, seen, 100);
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    // Closing the channel lets the thread close its connection and end.
    this.port.close();
  }

  private answered(reply: Reply): void {
    const done = this.waiting.shift();
    if (!done) return;
    if (this.waiting.length === 0) this.port.unref();
    if ('error' in reply) done(new Error(`inbox commit failed: ${reply.error}`));
    else if (reply.syncError !== null) done(new Error(`inbox fsync failed: ${reply.syncError}`), reply.seqs);
    else done(null, reply.seqs);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.port.unref();
    for (const done of this.waiting.splice(0)) done(err);
    this.onFailure(err);
    void this.worker.terminate();
  }
}
