/**
 * The cluster's own tables in the shared PostgreSQL store (see migratePg). Never edit a released migration: add
 * a new one. `cluster_partitions` fences owners (each takeover raises `epoch`; a commit of an older epoch is
 * refused) and keeps the partition's clock (event time); `cluster_partition_meters` says which meters (and so
 * which households' normaliser and detector states) a partition holds, so that a worker taking it over restores
 * them all, silent ones included.
 */
export const CLUSTER_PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE cluster_partitions (
    partition integer PRIMARY KEY, epoch bigint NOT NULL, clock bigint, owner text, taken_at bigint NOT NULL
  );
  CREATE TABLE cluster_partition_meters (
    meter_id text PRIMARY KEY, partition integer NOT NULL, household_id text NOT NULL
  );
  CREATE INDEX cluster_partition_meters_by_partition ON cluster_partition_meters (partition);
  `,
  // When the partition last committed (wall time): a silent partition whose owner went is taken over by the
  // worker that finds this stale, so that its clock keeps following the wall clock (cluster/worker.ts).
  `ALTER TABLE cluster_partitions ADD COLUMN committed_at bigint`,
  // The outage watch across partitions (cluster/grid-shares.ts): each partition's share of each grid (reporting
  // meters, and when its quiet meters stopped), and the outages the grids' deciding partitions found.
  `
  CREATE TABLE cluster_grid_shares (
    grid text NOT NULL, partition integer NOT NULL, reporting integer NOT NULL, quiet bigint[] NOT NULL,
    at bigint NOT NULL, PRIMARY KEY (grid, partition)
  );
  CREATE INDEX cluster_grid_shares_by_time ON cluster_grid_shares (at);
  CREATE TABLE cluster_outages (
    grid text PRIMARY KEY, from_ts bigint NOT NULL, meters integer NOT NULL, partition integer NOT NULL,
    at bigint NOT NULL
  );
  `,
  // The audit log of people's actions through the workers' API (the embedded store's `audit_log`).
  `
  CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at bigint NOT NULL, actor text NOT NULL,
    action text NOT NULL, target text, grid text, detail text NOT NULL, ip text
  );
  CREATE INDEX audit_log_by_time ON audit_log (at);
  `,
  // A secret every worker signs and checks session tokens with, drawn by the first worker: a person logged in
  // through one worker stays logged in through any other.
  `CREATE TABLE cluster_secrets (name text PRIMARY KEY, value bytea NOT NULL)`,
  // Failed logins per account across the workers (cluster/login-failures.ts).
  `
  CREATE TABLE login_failures (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account text NOT NULL, at bigint NOT NULL
  );
  CREATE INDEX login_failures_by_account ON login_failures (account, at);
  `,
  // A household's erasure resets the partitions holding its meters (`resets`): the owner's next commit is refused
  // and it restores the partition from PostgreSQL, without the erased state, once its registry has reached
  // `registry_at_least` (the version without the household), so that no reading of it is processed again.
  `
  ALTER TABLE cluster_partitions ADD COLUMN resets bigint NOT NULL DEFAULT 0;
  ALTER TABLE cluster_partitions ADD COLUMN registry_at_least bigint NOT NULL DEFAULT 0;
  `,
];
