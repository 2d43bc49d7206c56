import type { Config } from '../core/config.ts';
import type { ConsentPurpose } from '../core/registry.ts';
import type { RuleAudience } from '../core/rules.ts';
import type { Rule } from './rules/index.ts';
import type { Store } from '../core/store/store.ts';

/** The parts of the embedded store the consent gate reads: the residents' consent. */
export type ConsentTables = Pick<Store, 'privacy'>;

/**
 * Which rules may watch a household, from the resident's consent in force: welfare rules only with consent
 * to `welfare`; leak rules by `privacy.leakBasis` (without consent by default, a burst pipe harms the home);
 * maintenance rules (`meter-silent`) watch the meter, not the person, and always run. A rule the household
 * has not consented to is handed to the detectors disabled: it neither opens nor updates from the next
 * bucket on. A household with no record at all follows `privacy.unrecordedConsent`.
 *
 * Live like away marks: the API tells the gate of a change at once (`reload`), and a change written by
 * another process (`careflow import`) is picked up at the next detector tick (`followStore`).
 */
export class ConsentGate {
  private purposes = new Map<string, ReadonlySet<ConsentPurpose>>();
  private revision: string | undefined;
  /** The rule arrays handed out, per input array and what was withheld (rule arrays are shared per grid). */
  private readonly gated = new WeakMap<readonly Rule[], Map<string, readonly Rule[]>>();

  constructor(
    private readonly store: ConsentTables,
    private readonly policy: Config['privacy'],
  ) {
    this.load();
  }

  /** The household's rules with those it has not consented to disabled. */
  apply(householdId: string, rules: readonly Rule[]): readonly Rule[] {
    const withheld = this.withheld(householdId);
    if (withheld.length === 0) return rules;
    const key = withheld.join();
    let byKey = this.gated.get(rules);
    if (!byKey) this.gated.set(rules, (byKey = new Map()));
    let out = byKey.get(key);
    if (!out) {
      out = rules.map((r) => (withheld.includes(r.audience) && r.enabled ? { ...r, enabled: false } : r));
      byKey.set(key, out);
    }
    return out;
  }

  /** The audiences whose rules may not run for the household. */
  withheld(householdId: string): RuleAudience[] {
    const p = this.purposes.get(householdId);
    if (p === undefined && this.policy.unrecordedConsent === 'assume') return [];
    const out: RuleAudience[] = [];
    if (!p?.has('welfare')) out.push('welfare');
    if (this.policy.leakBasis === 'consent' && !p?.has('leak')) out.push('leak');
    return out;
  }

  /** Re-reads one household's consent (after `PUT /api/households/:id/consent`). */
  reload(householdId: string): void {
    const c = this.store.privacy.consent(householdId);
    if (c) this.purposes.set(householdId, new Set(c.purposes));
    else this.purposes.delete(householdId);
  }

  /** Re-reads everything if the store changed since; returns whether it did. */
  followStore(): boolean {
    if (this.store.privacy.revision() === this.revision) return false;
    this.load();
    return true;
  }

  private load(): void {
    this.revision = this.store.privacy.revision();
    this.purposes = new Map(
      this.store.privacy.allConsents().map((c) => [c.householdId, new Set(c.purposes)]),
    );
  }
}
