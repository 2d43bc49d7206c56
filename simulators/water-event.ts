/** One use of water: `liters` drawn evenly over [start, end) (epoch ms UTC). */
export interface WaterEvent {
  readonly start: number;
  readonly end: number;
  readonly liters: number;
  readonly kind: string;
}

/** A half-open time span [start, end) in epoch ms; `end` may be Infinity. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** Liters of `event` that fall in [from, to), spreading the event's volume evenly over its duration. */
export function litersOverlapping(event: WaterEvent, from: number, to: number): number {
  const lo = Math.max(event.start, from);
  const hi = Math.min(event.end, to);
  if (hi <= lo) return 0;
  if (event.end <= event.start) return event.liters;
  return (event.liters * (hi - lo)) / (event.end - event.start);
}

/** Total liters drawn in [from, to) by `events`. */
export function litersInRange(events: readonly WaterEvent[], from: number, to: number): number {
  let total = 0;
  for (const e of events) total += litersOverlapping(e, from, to);
  return total;
}

export function overlaps(event: WaterEvent, from: number, to: number): boolean {
  return event.start < to && event.end > from;
}

/** What is left of `event` outside `span`: zero, one or two pieces, each with its share of the liters. */
export function cutSpan(event: WaterEvent, span: Span): WaterEvent[] {
  if (!overlaps(event, span.start, span.end)) return [event];
  const pieces: WaterEvent[] = [];
  if (event.start < span.start) pieces.push(piece(event, event.start, span.start));
  if (event.end > span.end) pieces.push(piece(event, span.end, event.end));
  return pieces;
}

function piece(event: WaterEvent, start: number, end: number): WaterEvent {
  return { start, end, liters: litersOverlapping(event, start, end), kind: event.kind };
}

/** Sorts by start, then end, then kind: a stable, seed-independent order. */
export function byStart(a: WaterEvent, b: WaterEvent): number {
  return a.start - b.start || a.end - b.end || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0);
}
