/**
 * The archive's tables in the shared PostgreSQL store, migrated in order (see migratePg). Never edit a released
 * migration: add a new one.
 */
export const ARCHIVE_PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE archive_cursor (name text PRIMARY KEY, tx xid8 NOT NULL, seq bigint NOT NULL);
  `,
];
