import { crc32, inflateRawSync } from 'node:zlib';
import { CareflowError } from '../core/errors.ts';

export interface ZipEntry {
  name: string;
  data: Buffer;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * Reads one entry of a zip archive (stored or deflated) without a zip library: the end-of-central-directory
 * record → the central directory (which holds the sizes even when the entry used a data descriptor) → the
 * local header → `inflateRawSync`, checked against the CRC-32 and size. Without `name`, the archive's only
 * entry (or its only `.csv` entry). Zip64 and encrypted archives are refused with ERR_REPLAY_FILE_INVALID.
 */
export function readZipEntry(zip: Buffer, name?: string): ZipEntry {
  const bad = (why: string) =>
    new CareflowError('ERR_REPLAY_FILE_INVALID', `not a readable zip archive: ${why}`);
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || p === 0xffffffff) throw bad('zip64 archives are not supported');
  const entries: {
    name: string;
    method: number;
    flags: number;
    crc: number;
    size: number;
    csize: number;
    at: number;
  }[] = [];
  for (let i = 0; i < count; i++) {
    if (p + 46 > zip.length || zip.readUInt32LE(p) !== CENTRAL) throw bad('damaged central directory');
    const nameLen = zip.readUInt16LE(p + 28);
    entries.push({
      flags: zip.readUInt16LE(p + 8),
      method: zip.readUInt16LE(p + 10),
      crc: zip.readUInt32LE(p + 16),
      csize: zip.readUInt32LE(p + 20),
      size: zip.readUInt32LE(p + 24),
      at: zip.readUInt32LE(p + 42),
      name: zip.toString('utf8', p + 46, p + 46 + nameLen),
    });
    p += 46 + nameLen + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  const files = entries.filter((e) => !e.name.endsWith('/'));
  const csv = files.filter((e) => e.name.toLowerCase().endsWith('.csv'));
  const entry =
    name !== undefined
      ? files.find((e) => e.name === name)
      : files.length === 1
        ? files[0]
        : csv.length === 1
          ? csv[0]
          : undefined;
  if (!entry) {
    const names = files.map((e) => e.name).join(', ');
    throw bad(
      name !== undefined ? `no entry "${name}" (entries: ${names})` : `several entries (${names}); name one`,
    );
  }
  if (entry.flags & 1) throw bad(`${entry.name} is encrypted`);
  if (entry.at + 30 > zip.length || zip.readUInt32LE(entry.at) !== LOCAL) throw bad('damaged local header');
  const start = entry.at + 30 + zip.readUInt16LE(entry.at + 26) + zip.readUInt16LE(entry.at + 28);
  const raw = zip.subarray(start, start + entry.csize);
  if (raw.length !== entry.csize) throw bad(`${entry.name} is truncated`);
  let data: Buffer;
  if (entry.method === 0) data = Buffer.from(raw);
  else if (entry.method === 8) {
    try {
      data = inflateRawSync(raw);
    } catch (err) {
      throw bad(`${entry.name} does not inflate: ${(err as Error).message}`);
    }
  } else
    throw bad(`${entry.name} uses compression method ${entry.method}; only stored and deflate are supported`);
  if (data.length !== entry.size || crc32(data) !== entry.crc)
    throw bad(`${entry.name} fails its CRC-32 check`);
  return { name: entry.name, data };
}
