import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { packageRoot } from '../core/package-root.ts';

/**
 * The real households the model is calibrated against: the DAIAD smart water meter trial (Alicante, Spain;
 * CC BY-SA 4.0, credit "DAIAD project"), shipped outside the repository in `../shared/data/daiad`.
 * A minimal zip reader (stored or deflated entries, no zip64) and the trial's CSV format:
 * `V1;V2;V3;V4` = user key; `dd/mm/YYYY HH:MM:SS` (local wall clock); cumulative liters; diff.
 */
export const DAIAD_ZIP = 'swm_trialA_extended.zip';

/** One register reading; `localMs` is the local wall-clock time written as if it were UTC. */
export interface RegisterReading {
  localMs: number;
  totalLiters: number;
}

/** Where the DAIAD zip is expected: `<repo>/../shared/data/daiad/swm_trialA_extended.zip`. */
export function defaultDaiadPath(): string {
  return join(packageRoot(), '..', 'shared', 'data', 'daiad', DAIAD_ZIP);
}

export function daiadAvailable(path = defaultDaiadPath()): boolean {
  return existsSync(path);
}

/** The bytes of the first entry of `zip` whose name ends with `suffix`. */
export function readZipEntry(zip: Buffer, suffix: string): Buffer {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localOffset = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (!name.endsWith(suffix)) continue;
    if (zip.readUInt32LE(localOffset) !== 0x04034b50) throw new Error(`corrupt zip local header for ${name}`);
    const dataStart =
      localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    if (method === 0) return Buffer.from(data);
    if (method === 8) return inflateRawSync(data);
    throw new Error(`zip entry ${name} uses unsupported compression method ${method}`);
  }
  throw new Error(`no entry ending in ${suffix} in the zip file`);
}

const DATE = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2})$/;

/**
 * Parses the trial's CSV into each household's readings, sorted by time. Rows that do not parse (header,
 * bad dates, non-numeric registers) are skipped; register glitches are kept (the statistics drop them).
 */
export function parseDaiadCsv(text: string): Map<string, RegisterReading[]> {
  const byUser = new Map<string, RegisterReading[]>();
  for (const line of text.split(/\r?\n/)) {
    const [user, when, register] = line.split(';');
    if (!user || !when || register === undefined) continue;
    const m = DATE.exec(when.trim());
    if (!m) continue;
    const totalLiters = Number(register.trim());
    if (!Number.isFinite(totalLiters)) continue;
    const localMs = Date.UTC(+m[3]!, +m[2]! - 1, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
    let list = byUser.get(user);
    if (!list) byUser.set(user, (list = []));
    list.push({ localMs, totalLiters });
  }
  for (const list of byUser.values()) list.sort((a, b) => a.localMs - b.localMs);
  return byUser;
}

/** Reads the DAIAD trial from its zip: readings per household key. */
export function loadDaiad(path = defaultDaiadPath()): Map<string, RegisterReading[]> {
  return parseDaiadCsv(readZipEntry(readFileSync(path), '.csv').toString('utf8'));
}
