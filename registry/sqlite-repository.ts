import type { Store } from '../core/store/store.ts';
import type { RegistryRepository } from './repository.ts';

/**
 * The embedded store's registry as the repository: `RegistryRepo` already is one (synchronous), so the embedded
 * path reads it directly, with no wrapper and no extra tick.
 */
export function sqliteRegistryRepository(store: Pick<Store, 'registry'>): RegistryRepository<'sync'> {
  return store.registry;
}
