import { locale, t } from './i18n.ts';
import { session } from './session.ts';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const formatters = new Map<string, Intl.DateTimeFormat>();
const fullFormatters = new Map<string, Intl.DateTimeFormat>();

/** The deployment's time zone (the service's, not the browser's): every time the console shows or takes is in it. */
export function timeZone(): string {
  return session.me?.timeZone ?? 'Asia/Shanghai';
}

function parts(ms: number): { month: number; day: number; hour: string; minute: string } {
  const zone = timeZone();
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      month: 'numeric',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, x.value]));
  return { month: Number(p.month), day: Number(p.day), hour: p.hour ?? '00', minute: p.minute ?? '00' };
}

/** `12月2日 08:30` / `2 Dec 08:30`, in the deployment's time zone. */
export function when(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const p = parts(ms);
  return locale.value === 'zh-CN'
    ? `${p.month}月${p.day}日 ${p.hour}:${p.minute}`
    : `${p.day} ${MONTHS[p.month - 1]} ${p.hour}:${p.minute}`;
}

/** `12月2日` / `2 Dec`. */
export function day(ms: number): string {
  const p = parts(ms);
  return locale.value === 'zh-CN' ? `${p.month}月${p.day}日` : `${p.day} ${MONTHS[p.month - 1]}`;
}

/** `08:30`. */
export function hourMinute(ms: number): string {
  const p = parts(ms);
  return `${p.hour}:${p.minute}`;
}

/** "5 分钟前" / "5 min ago", from the service's clock. */
export function ago(ms: number, now: number): string {
  const m = Math.max(0, Math.floor((now - ms) / 60_000));
  if (m < 1) return t('ago.now');
  if (m < 60) return t('ago.minutes', { n: m });
  if (m < 48 * 60) return t('ago.hours', { n: Math.floor(m / 60) });
  return t('ago.days', { n: Math.floor(m / 1440) });
}

export function duration(ms: number | null): string {
  if (ms === null) return '—';
  const m = ms / 60_000;
  return m < 120
    ? t('duration.minutes', { n: Math.round(m) })
    : t('duration.hours', { n: Math.round(m / 6) / 10 });
}

/** A configured wait in the largest whole unit: 4320 → "3 天" / "3 d", 90 → "90 分钟" / "90 min". */
export function waitMinutes(minutes: number): string {
  if (minutes >= 1440 && minutes % 1440 === 0) return t('duration.days', { n: minutes / 1440 });
  if (minutes >= 120 && minutes % 60 === 0) return t('duration.hours', { n: minutes / 60 });
  return t('duration.minutes', { n: minutes });
}

/** How far the deployment's wall clock is ahead of UTC at `ms` (whole minutes). */
function offsetMs(ms: number): number {
  const zone = timeZone();
  let f = fullFormatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      hourCycle: 'h23',
    });
    fullFormatters.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, Number(x.value)]));
  const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!);
  return wall - Math.floor(ms / 60_000) * 60_000;
}

/**
 * A `datetime-local` input's value (`2026-12-05T08:00`) read as wall-clock time in the deployment's time zone,
 * as epoch milliseconds; NaN when it is not such a value. The browser would read it in its own zone, which is
 * wrong for a staff member whose laptop is set to another one.
 */
export function fromWallTime(value: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return NaN;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0)) as number[];
  const asUtc = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
  // The zone's offset at the instant, guessed twice: the second guess settles an offset change in between.
  const first = asUtc - offsetMs(asUtc);
  return asUtc - offsetMs(first);
}
