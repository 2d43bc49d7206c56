import { reactive } from 'vue';
import { api } from './api.ts';
import { session } from './session.ts';

/**
 * Alert events of my grids, live: `GET /api/events` read as a stream with `fetch` (EventSource cannot send
 * the Authorization header, and the token never goes into a URL). After a dropped connection it reconnects
 * with `Last-Event-ID`, so the service first sends what was missed.
 */
export interface AlertEvent {
  id: number;
  kind: string;
  alert: { id: string; grid: string; state: string };
}

export const live = reactive({ connected: false, lastEventId: null as number | null });
const listeners = new Set<(e: AlertEvent) => void>();
let controller: AbortController | null = null;
let running = false;

export function onAlertEvent(fn: (e: AlertEvent) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export async function startLive(): Promise<void> {
  if (running) return;
  running = true;
  if (live.lastEventId === null) {
    try {
      const start = await api<{ lastEventId: number }>('/api/events?follow=false');
      live.lastEventId = start.lastEventId;
    } catch {
      live.lastEventId = null;
    }
  }
  void loop();
}

export function stopLive(): void {
  running = false;
  controller?.abort();
  live.connected = false;
  live.lastEventId = null;
}

async function loop(): Promise<void> {
  let delay = 500;
  while (running && session.token) {
    controller = new AbortController();
    try {
      const headers: Record<string, string> = {
        authorization: `Bearer ${session.token}`,
        accept: 'text/event-stream',
      };
      if (live.lastEventId !== null) headers['last-event-id'] = String(live.lastEventId);
      const res = await fetch('/api/events', { headers, signal: controller.signal, cache: 'no-store' });
      if (res.status === 401) break;
      if (!res.ok || !res.body) throw new Error(String(res.status));
      live.connected = true;
      delay = 500;
      await read(res.body);
    } catch {
      // dropped: reconnect below
    }
    live.connected = false;
    if (!running) break;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}

async function read(body: ReadableStream<BufferSource>): Promise<void> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id: string | undefined;
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (id === undefined || data === '') continue;
      try {
        const event = JSON.parse(data) as AlertEvent;
        live.lastEventId = Number(id);
        for (const fn of listeners) fn(event);
      } catch {
        // a malformed event is skipped
      }
    }
  }
}
