import type { SimulationProgress } from './simulate.ts';

/** A one-line progress bar on a terminal (redrawn at most 5 times a second); nothing when not a TTY. */
export function progressBar(stream: NodeJS.WriteStream): {
  update(p: SimulationProgress): void;
  done(): void;
} {
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      if (!stream.isTTY || (Date.now() - last < 200 && p.done < p.total)) return;
      last = Date.now();
      const width = 30;
      const filled = Math.round((p.done / p.total) * width);
      const day = new Date(p.now).toISOString().slice(0, 16).replace('T', ' ');
      const eta = p.done > 0 ? ((p.elapsedMs / p.done) * (p.total - p.done)) / 1000 : 0;
      stream.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${((p.done / p.total) * 100).toFixed(0).padStart(3)}% ` +
          `${day} UTC · ${p.readings.toLocaleString('en')} readings · ${p.alerts} alerts · ` +
          `${(p.elapsedMs / 1000).toFixed(0)} s, ~${eta.toFixed(0)} s left `,
      );
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}
