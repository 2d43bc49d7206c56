import type { Store } from '../core/store/store.ts';
import type { Principal } from './principal.ts';

/** Client ids one principal may hold; past this its oldest binding is forgotten. */
const MAX_CLIENT_IDS_PER_PRINCIPAL = 32;

/** The parts of the embedded store client id ownership uses: the bindings, and the registry's ids. */
export type ClientIdTables = Pick<Store, 'clientIds' | 'registry' | 'transaction'>;

/**
 * Who may use an MQTT client id (and so its session):
 *
 * 1. A client id belongs to the principal that first connected with it; the binding is stored, so it holds
 *    across restarts. Nobody else may use it.
 * 2. An id not yet bound is reserved for the principals whose id it carries: equal to a meter or worker id,
 *    or that id followed or preceded by `-` (`m-17`, `m-17-a`, `app-w-b`). A principal whose id is not among
 *    them may not take it, so a worker app's id cannot be claimed before the app first connects.
 *
 * Meters should connect with their meter id, worker apps with `app-<workerId>`.
 */
export class ClientIdOwnership {
  /** Bindings decided but not yet written: written together shortly after (one commit, not one per CONNECT). */
  private readonly pending = new Map<string, Principal & { at: number }>();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: ClientIdTables,
    private readonly onError: (err: Error) => void = () => {},
    private readonly flushDelayMs = 20,
  ) {}

  /** True when `principal` may use `clientId` (binding it on first use); false = refuse the CONNECT. */
  claim(clientId: string, principal: Principal, at: number): boolean {
    const owner = this.pending.get(clientId) ?? this.store.clientIds.owner(clientId);
    if (owner) return owner.kind === principal.kind && owner.id === principal.id;
    const reserved = this.reservedFor(clientId);
    if (reserved.length > 0 && !reserved.some((p) => p.kind === principal.kind && p.id === principal.id))
      return false;
    // Decided synchronously: a concurrent CONNECT of another principal for the same id sees this binding.
    this.pending.set(clientId, { ...principal, at });
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), this.flushDelayMs);
      this.flushTimer.unref();
    }
    return true;
  }

  /** Writes the pending bindings (also called when the broker stops). */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    try {
      this.store.transaction(() => {
        for (const [clientId, p] of batch)
          this.store.clientIds.bind(clientId, { kind: p.kind, id: p.id }, p.at, MAX_CLIENT_IDS_PER_PRINCIPAL);
      });
    } catch (err) {
      this.onError(err as Error);
    } finally {
      for (const [clientId] of batch) this.pending.delete(clientId);
    }
  }

  /** Registered principals whose id `clientId` carries (whole, or as a `-`-separated prefix or suffix). */
  reservedFor(clientId: string): Principal[] {
    const candidates = new Set([clientId]);
    for (let i = clientId.indexOf('-'); i >= 0; i = clientId.indexOf('-', i + 1)) {
      if (i > 0) candidates.add(clientId.slice(0, i));
      if (i < clientId.length - 1) candidates.add(clientId.slice(i + 1));
    }
    const found: Principal[] = [];
    for (const id of candidates) {
      if (this.store.registry.meter(id)) found.push({ kind: 'meter', id });
      if (this.store.registry.workerSecretHash(id)) found.push({ kind: 'worker', id });
    }
    return found;
  }
}
