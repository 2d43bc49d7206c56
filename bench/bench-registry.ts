import { hashSecret } from '../core/secrets.ts';
import { openStore } from '../core/store/store.ts';

/** The benchmarks' meter ids: `m-000001`, `m-000002`, … */
export const benchMeterId = (n: number): string => `m-${String(n + 1).padStart(6, '0')}`;

/**
 * Writes a benchmark registry straight into a store file: one street, one community, 300 households per grid,
 * one meter per household, every meter with the same secret (hashed once: scrypt for 300,000 meters would take
 * minutes). Returns the milliseconds it took. With `hashes` (one per meter, in order), each meter gets its own
 * (bench:reconnect).
 */
export async function registerBenchMeters(
  dbPath: string,
  households: number,
  secret: string,
  hashes?: readonly string[],
): Promise<number> {
  const started = performance.now();
  const hash = hashes ? '' : await hashSecret(secret);
  const store = openStore({ path: dbPath, synchronous: 'NORMAL' });
  try {
    const grids = Math.ceil(households / 300);
    store.transaction(() => {
      store.registry.upsertStreet('s-01', 'Benchmark street');
      store.registry.upsertCommunity('c-01', 's-01', 'Benchmark community');
      for (let g = 0; g < grids; g++) store.registry.upsertGrid(`g-${g + 1}`, 'c-01', `Grid ${g + 1}`);
    });
    for (let from = 0; from < households; from += 10_000) {
      store.transaction(() => {
        for (let n = from; n < Math.min(households, from + 10_000); n++) {
          const id = `h-${String(n + 1).padStart(6, '0')}`;
          store.registry.upsertHousehold({
            id,
            gridCode: `g-${Math.floor(n / 300) + 1}`,
            address: `Benchmark ${n + 1}`,
            livesAlone: false,
            elderly: false,
            awayUntil: null,
            notes: null,
          });
          store.registry.upsertMeter({
            id: benchMeterId(n),
            householdId: id,
            secretHash: hashes?.[n] ?? hash,
          });
        }
      });
    }
  } finally {
    store.close();
  }
  return performance.now() - started;
}
