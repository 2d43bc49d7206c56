import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** One batch of checkpointed household states from the reader thread. */
interface Batch {
  ids: string[];
  /** Which slot of the shared buffer holds the batch's binary states. */
  slot: number;
  /** End offset in the slot of each binary state (a JSON state, of older checkpoints, takes no bytes). */
  ends: Uint32Array;
  /** Index in `ids` and text of each JSON state, flattened. */
  json: (number | string)[];
  /** With the first batch: how many states the checkpoint holds. */
  total?: number;
}

type Message = { batch: Batch } | { done: true } | { error: string };

/** Batches in the shared buffer at a time, and the bytes of each. */
const SLOTS = 3;
const SLOT_BYTES = 2 << 20;

/**
 * The reader thread (plain JavaScript, so that it runs the same from the compiled service and from the
 * sources): reads every household state in one statement (one snapshot) and copies them into the slots of a
 * buffer shared with the main thread, a batch per slot; a slot is written again only once the main thread
 * has restored the batch in it (it says so with a message). Nothing is allocated per batch.
 */
const READER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { shared, slots, slotBytes } = workerData;
let credits = slots;
let wake = null;
parentPort.on('message', () => {
  credits++;
  if (wake) { const w = wake; wake = null; w(); }
});
(async () => {
  const db = new Database(workerData.path, { readonly: true, fileMustExist: true });
  try {
    let total = db.prepare('SELECT count(*) FROM household_state').pluck().get();
    const rows = db.prepare('SELECT household_id, state FROM household_state').raw().iterate();
    let slot = -1, view = null, ids = [], ends = [], json = [], at = 0;
    const begin = async () => {
      if (credits === 0) await new Promise((r) => (wake = r));
      credits--;
      slot = (slot + 1) % slots;
      view = new Uint8Array(shared, slot * slotBytes, slotBytes);
      ids = []; ends = []; json = []; at = 0;
    };
    const flush = () => {
      if (ids.length > 0) parentPort.postMessage({ batch: { ids, slot, ends: Uint32Array.from(ends), json, total } });
      total = undefined;
      view = null;
    };
    for (const [id, state] of rows) {
      if (typeof state !== 'string' && state.length > slotBytes) throw new Error('a household state over ' + slotBytes + ' bytes');
      if (view !== null && (ids.length >= 16384 || (typeof state !== 'string' && at + state.length > slotBytes))) flush();
      if (view === null) await begin();
      if (typeof state === 'string') json.push(ids.length, state);
      else { view.set(state, at); at += state.length; }
      ids.push(id);
      ends.push(at);
    }
    flush();
    parentPort.postMessage({ done: true });
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  } finally {
    db.close();
  }
})();
`;

/** Below this many checkpointed households the states are read on the main thread (a thread costs ~50 ms). */
export const READER_THREAD_FROM = 20_000;

/**
 * Every household's checkpointed state, read by a second thread while the main thread restores the batches
 * already read: a million households' states are ~700 MB of rows, and reading them costs about as much as
 * restoring them. Yields batches; a binary state as a view on shared memory that the next batch may
 * overwrite (restore it before asking for the next), an older one parsed.
 */
export async function* readHouseholdStatesInThread(path: string): AsyncGenerator<StateBatch> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const shared = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
  const worker = new Worker(READER, {
    eval: true,
    workerData: { path, driver, shared, slots: SLOTS, slotBytes: SLOT_BYTES },
  });
  const queue: Message[] = [];
  let waiting: (() => void) | null = null;
  const push = (m: Message) => {
    queue.push(m);
    if (waiting) {
      const w = waiting;
      waiting = null;
      w();
    }
  };
  worker.on('message', push);
  worker.on('error', (err: Error) => push({ error: err.message }));
  worker.on('exit', (code) => push({ error: `reader thread exited with ${code}` }));
  try {
    for (;;) {
      if (queue.length === 0) await new Promise<void>((r) => (waiting = r));
      const m = queue.shift()!;
      if ('done' in m) return;
      if ('error' in m) throw new Error(`reading the household checkpoint failed: ${m.error}`);
      const b = m.batch;
      yield new StateBatch(
        b.ids,
        new Uint8Array(shared, b.slot * SLOT_BYTES, SLOT_BYTES),
        b.ends,
        b.json,
        b.total,
      );
      worker.postMessage('more');
    }
  } finally {
    worker.removeAllListeners();
    await worker.terminate();
  }
}

/**
 * A batch of checkpointed household states as the reader thread hands it over: iterable as rows, and open to
 * a restore that reads the binary states in place (one view over the batch, nothing allocated per row).
 */
export class StateBatch implements Iterable<[string, unknown]> {
  /** Index in `ids` → the parsed JSON state (older checkpoints); every other row's state is binary. */
  readonly json = new Map<number, unknown>();

  constructor(
    readonly ids: readonly string[],
    /** The binary states end to end: a view on shared memory, valid until the next batch is asked for. */
    readonly bytes: Uint8Array,
    /** End offset in `bytes` of each row's binary state (a JSON state takes no bytes). */
    readonly ends: Uint32Array,
    json: readonly (number | string)[],
    /** With the first batch: how many states the whole checkpoint holds (room is made for them at once). */
    readonly total?: number,
  ) {
    for (let k = 0; k < json.length; k += 2)
      this.json.set(json[k] as number, JSON.parse(json[k + 1] as string) as unknown);
  }

  *[Symbol.iterator](): Generator<[string, unknown]> {
    let from = 0;
    for (let k = 0; k < this.ids.length; k++) {
      const end = this.ends[k]!;
      yield [this.ids[k]!, this.json.has(k) ? this.json.get(k) : this.bytes.subarray(from, end)];
      from = end;
    }
  }
}
