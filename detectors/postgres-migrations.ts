/**
 * The detectors' tables in the shared PostgreSQL store (see migratePg). Never edit a released migration: add a
 * new one. A household's state is binary (`bytes`) or, from earlier releases, JSON text (`json`): one of them.
 */
export const DETECTORS_PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE household_state (
    household_id text PRIMARY KEY, bytes bytea, json text,
    CONSTRAINT household_state_one_form CHECK ((bytes IS NULL) <> (json IS NULL))
  );
  `,
];
