/**
 * Local-time arithmetic for one deployment time zone (IANA), cached per UTC quarter hour.
 * Every real time zone's offset is a multiple of 15 minutes, so a bucket of 15, 30 or 60 local minutes is
 * always a fixed-length UTC interval; only its phase depends on the zone's offset at that moment.
 */
const MINUTE = 60_000;
const QUARTER = 15 * MINUTE;
const DAY = 24 * 60 * MINUTE;

export class LocalTime {
  readonly timeZone: string;
  readonly bucketMs: number;
  private readonly formatter: Intl.DateTimeFormat;
  private readonly offsetCache = new Map<number, number>();

  constructor(timeZone: string, bucketMinutes: number) {
    if (![15, 30, 60].includes(bucketMinutes)) throw new RangeError('bucketMinutes must be 15, 30 or 60');
    this.timeZone = timeZone;
    this.bucketMs = bucketMinutes * MINUTE;
    this.formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** Whether `timeZone` is an IANA zone this runtime knows. */
  static isValidTimeZone(timeZone: string): boolean {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone });
      return true;
    } catch {
      return false;
    }
  }

  /** Offset of local time from UTC at `utcMs`, in ms (Asia/Shanghai: +8 h). */
  offsetMs(utcMs: number): number {
    const key = Math.floor(utcMs / QUARTER);
    let offset = this.offsetCache.get(key);
    if (offset === undefined) {
      offset = this.computeOffset(key * QUARTER);
      if (this.offsetCache.size > 100_000) this.offsetCache.clear();
      this.offsetCache.set(key, offset);
    }
    return offset;
  }

  /** Local wall time expressed as if it were UTC (for reading fields with getUTC*). */
  toLocalMs(utcMs: number): number {
    return utcMs + this.offsetMs(utcMs);
  }

  /** Start (UTC ms) of the local bucket containing `utcMs`. */
  bucketStart(utcMs: number): number {
    const local = this.toLocalMs(utcMs);
    return utcMs - mod(local, this.bucketMs);
  }

  /** Minute of the local day (0..1439) at `utcMs`. */
  minuteOfDay(utcMs: number): number {
    return Math.floor(mod(this.toLocalMs(utcMs), DAY) / MINUTE);
  }

  /** Local calendar day number (days since 1970-01-01 in local time). */
  dayNumber(utcMs: number): number {
    return Math.floor(this.toLocalMs(utcMs) / DAY);
  }

  /** Local day of week, 0 = Sunday. */
  dayOfWeek(utcMs: number): number {
    return new Date(this.toLocalMs(utcMs)).getUTCDay();
  }

  /** `2026-01-05 08:00` in local time. */
  format(utcMs: number): string {
    const d = new Date(this.toLocalMs(utcMs));
    const p = (n: number) => String(n).padStart(2, '0');
    return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
  }

  /** `08:00` in local time. */
  formatTime(utcMs: number): string {
    return this.format(utcMs).slice(11);
  }

  private computeOffset(utcMs: number): number {
    const parts = this.formatter.formatToParts(new Date(utcMs));
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
    const asUtc = Date.UTC(
      get('year'),
      get('month') - 1,
      get('day'),
      get('hour'),
      get('minute'),
      get('second'),
    );
    return Math.round((asUtc - Math.floor(utcMs / 1000) * 1000) / MINUTE) * MINUTE;
  }
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}
