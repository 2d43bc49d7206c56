import { AccessRepo } from './access-repo.ts';
import { AlertRepo } from './alert-repo.ts';
import { ArchiveRepo } from './archive-repo.ts';
import { AuditRepo } from './audit-repo.ts';
import { AwayRepo } from './away-repo.ts';
import { CheckpointRepo } from './checkpoint-repo.ts';
import { ClientIdRepo } from './client-id-repo.ts';
import { ConsoleRepo } from './console-repo.ts';
import { DeadLetterRepo } from './dead-letter-repo.ts';
import { EscalationRepo } from './escalation-repo.ts';
import { InboxRepo } from './inbox-repo.ts';
import { MetricsRepo } from './metrics-repo.ts';
import { openDatabase, type Db, type StoreOptions } from './open-store.ts';
import { OutboxRepo } from './outbox-repo.ts';
import { PersonalDataRepo } from './personal-data-repo.ts';
import { PrivacyRepo } from './privacy-repo.ts';
import { RegistryRepo } from './registry-repo.ts';
import { ReportRepo } from './report-repo.ts';
import { RuleRepo } from './rule-repo.ts';
import { SecretVerifierRepo } from './secret-verifier-repo.ts';
import { StatsRepo } from './stats-repo.ts';
import { UsageRepo } from './usage-repo.ts';
import { WebhookRepo } from './webhook-repo.ts';

/** The embedded store: one SQLite file behind small repositories (a server database can replace it). */
export interface Store {
  readonly db: Db;
  readonly registry: RegistryRepo;
  readonly inbox: InboxRepo;
  readonly usage: UsageRepo;
  readonly deadLetters: DeadLetterRepo;
  readonly checkpoints: CheckpointRepo;
  readonly alerts: AlertRepo;
  readonly outbox: OutboxRepo;
  readonly access: AccessRepo;
  readonly audit: AuditRepo;
  readonly rules: RuleRepo;
  readonly away: AwayRepo;
  readonly escalation: EscalationRepo;
  readonly webhooks: WebhookRepo;
  readonly stats: StatsRepo;
  readonly archive: ArchiveRepo;
  readonly metrics: MetricsRepo;
  readonly clientIds: ClientIdRepo;
  readonly privacy: PrivacyRepo;
  readonly personalData: PersonalDataRepo;
  readonly reports: ReportRepo;
  /** Read-only views for the console (lists with cursors, overview figures). */
  readonly console: ConsoleRepo;
  readonly secretVerifiers: SecretVerifierRepo;
  /** Runs `fn` in one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T;
  close(): void;
}

export function openStore(opts: StoreOptions): Store {
  const db = openDatabase(opts);
  return {
    db,
    registry: new RegistryRepo(db),
    inbox: new InboxRepo(db),
    usage: new UsageRepo(db),
    deadLetters: new DeadLetterRepo(db),
    checkpoints: new CheckpointRepo(db),
    alerts: new AlertRepo(db),
    outbox: new OutboxRepo(db),
    access: new AccessRepo(db),
    audit: new AuditRepo(db),
    rules: new RuleRepo(db),
    away: new AwayRepo(db),
    escalation: new EscalationRepo(db),
    webhooks: new WebhookRepo(db),
    stats: new StatsRepo(db),
    archive: new ArchiveRepo(db),
    metrics: new MetricsRepo(db),
    clientIds: new ClientIdRepo(db),
    privacy: new PrivacyRepo(db),
    personalData: new PersonalDataRepo(db),
    reports: new ReportRepo(db),
    console: new ConsoleRepo(db),
    secretVerifiers: new SecretVerifierRepo(db),
    // IMMEDIATE: the write lock is taken at BEGIN, waiting (busy_timeout) while another connection writes (ingest's
    // writer thread). A deferred transaction that read first could not upgrade after that connection committed
    // (SQLITE_BUSY_SNAPSHOT, no wait). Nested calls join the outer transaction as savepoints.
    transaction: <T>(fn: () => T): T => db.transaction(fn).immediate(),
    close: () => {
      if (db.open) db.close();
    },
  };
}

export type { Db, StoreOptions };
