import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalTime } from '../core/local-time.ts';

/**
 * What a service's stored data means, kept beside its store (`service-settings.json` in the data dir): the
 * time zone and bucket size its usage buckets were made in. Tools that read the store later (`careflow
 * backtest`) take them from here, not from the shell they happen to run in.
 */
export interface ServiceSettings {
  timezone: string;
  bucketMinutes: number;
}

const FILE = 'service-settings.json';

export function writeServiceSettings(dataDir: string, s: ServiceSettings): void {
  writeFileSync(join(dataDir, FILE), JSON.stringify(s, null, 2) + '\n');
}

/** The settings the service wrote, or null (a data dir from before they were kept, or none). */
export function readServiceSettings(dataDir: string): ServiceSettings | null {
  try {
    const v = JSON.parse(readFileSync(join(dataDir, FILE), 'utf8')) as Partial<ServiceSettings>;
    if (typeof v.timezone !== 'string' || !LocalTime.isValidTimeZone(v.timezone)) return null;
    if (typeof v.bucketMinutes !== 'number' || ![15, 30, 60].includes(v.bucketMinutes)) return null;
    return { timezone: v.timezone, bucketMinutes: v.bucketMinutes };
  } catch {
    return null;
  }
}
