/**
 * How long a task that did `done` of `total` in `elapsedMs` still needs at the same pace, for progress lines:
 * `~40 s left`, `~3 min left`, `~1.5 h left`; `estimating…` before there is anything to go on.
 */
export function etaText(done: number, total: number, elapsedMs: number): string {
  if (done >= total) return 'done';
  if (done <= 0 || elapsedMs <= 0) return 'estimating…';
  const leftSeconds = ((total - done) * elapsedMs) / done / 1000;
  if (leftSeconds < 90) return `~${Math.max(1, Math.round(leftSeconds))} s left`;
  if (leftSeconds < 90 * 60) return `~${Math.round(leftSeconds / 60)} min left`;
  return `~${(leftSeconds / 3600).toFixed(1)} h left`;
}
