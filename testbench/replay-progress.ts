import { etaText } from '../core/eta.ts';
import type { ReplayProgress } from './replay.ts';

/**
 * Shows a replay's progress: a bar redrawn in place on a terminal, with the time left at the pace so far;
 * otherwise one quiet JSON line per `everyMs` (and at the end), for logs and CI, with `secondsLeft`.
 */
export function progressPrinter(
  out: NodeJS.WritableStream & { isTTY?: boolean },
  everyMs = 5_000,
): (p: ReplayProgress) => void {
  let lastLine = 0;
  return (p) => {
    const pct = p.total === 0 ? 100 : (100 * p.acknowledged) / p.total;
    const rate = Math.round((p.acknowledged * 1000) / Math.max(1, p.elapsedMs));
    const at = new Date(p.eventTime).toISOString().slice(0, 16).replace('T', ' ');
    const known = p.acknowledged > 0 && p.elapsedMs > 0;
    const secondsLeft = known
      ? Math.round(((p.total - p.acknowledged) * p.elapsedMs) / p.acknowledged / 1000)
      : null;
    if (out.isTTY) {
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
      const extra =
        p.state === 'reconnecting'
          ? ' · service lost, waiting for it…'
          : p.reconnects > 0
            ? ` · ${p.reconnects} reconnects, ${p.resent} resent`
            : '';
      out.write(
        `\r[${bar}] ${pct.toFixed(1).padStart(5)}% ${p.acknowledged}/${p.total} · ${at} UTC · ${rate}/s · ` +
          `${etaText(p.acknowledged, p.total, p.elapsedMs)}${extra}\x1b[K`,
      );
      if (p.state === 'done') out.write('\n');
      return;
    }
    const now = Date.now();
    if (p.state === 'running' && now - lastLine < everyMs) return;
    lastLine = now;
    out.write(
      JSON.stringify({
        event: 'replay-progress',
        state: p.state,
        acknowledged: p.acknowledged,
        total: p.total,
        eventTime: new Date(p.eventTime).toISOString(),
        readingsPerSecond: rate,
        secondsLeft: p.state === 'done' ? 0 : secondsLeft,
        reconnects: p.reconnects,
        resent: p.resent,
      }) + '\n',
    );
  };
}
