import { describe, expect, it } from 'vitest';
import { progressPrinter } from './replay-progress.ts';
import type { ReplayProgress } from './replay.ts';

/** The replay's progress shows the time left at the pace so far, on a terminal and in the JSON lines. */
function stream(isTTY: boolean) {
  const chunks: string[] = [];
  return {
    chunks,
    out: Object.assign({ write: (c: string) => (chunks.push(c), true) } as unknown as NodeJS.WritableStream, {
      isTTY,
    }),
  };
}
const progress = (acknowledged: number, elapsedMs: number, state: ReplayProgress['state'] = 'running') => ({
  acknowledged,
  total: 4_000,
  eventTime: Date.UTC(2017, 2, 1),
  resent: 0,
  reconnects: 0,
  elapsedMs,
  state,
});

describe('replay progress', () => {
  it('shows the time left on a terminal', () => {
    const { out, chunks } = stream(true);
    const print = progressPrinter(out);
    print(progress(0, 0));
    expect(chunks.at(-1)).toContain('estimating…');
    print(progress(1_000, 60_000)); // a quarter in a minute: three minutes to go
    expect(chunks.at(-1)).toContain('~3 min left');
    print(progress(4_000, 240_000, 'done'));
    expect(chunks.join('')).toContain('done');
  });

  it('writes secondsLeft in the JSON lines', () => {
    const { out, chunks } = stream(false);
    const print = progressPrinter(out, 0);
    print(progress(0, 0));
    print(progress(2_000, 30_000));
    print(progress(4_000, 60_000, 'done'));
    const lines = chunks.map((c) => JSON.parse(c) as { secondsLeft: number | null });
    expect(lines.map((l) => l.secondsLeft)).toEqual([null, 30, 0]);
  });
});
