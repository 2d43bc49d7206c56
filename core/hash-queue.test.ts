import { describe, expect, it } from 'vitest';
import { HashQueue } from './hash-queue.ts';

/** A task that finishes when told to, recording when it started. */
function gate(log: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { fn: () => (log.push(name), done), release };
}

describe('HashQueue', () => {
  it('runs at most `concurrency` tasks, refuses past the wait list, and serves waiting keys in turn', async () => {
    const q = new HashQueue(1, 4);
    const log: string[] = [];
    const first = gate(log, 'a1');
    const tasks = [
      gate(log, 'a2'),
      gate(log, 'a3'),
      gate(log, 'a4'),
      gate(log, 'b1'), // another address, queued last
    ];
    const running = q.run(first.fn, 'a');
    const waiting = [
      q.run(tasks[0]!.fn, 'a'),
      q.run(tasks[1]!.fn, 'a'),
      q.run(tasks[2]!.fn, 'a'),
      q.run(tasks[3]!.fn, 'b'),
    ];
    expect(q.run(() => Promise.resolve(), 'c')).toBeNull(); // wait list full
    expect(q.refused).toBe(1);
    expect(log).toEqual(['a1']);
    expect(q.queued).toBe(4);

    for (const t of [first, ...tasks]) {
      t.release();
      await new Promise((r) => setTimeout(r, 0));
    }
    await Promise.all([running, ...waiting]);
    // b1 did not wait behind all of a's attempts.
    expect(log).toEqual(['a1', 'a2', 'b1', 'a3', 'a4']);
    expect(q.started).toBe(5);
  });
});
