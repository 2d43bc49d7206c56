import { join } from 'node:path';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { PgPool } from '../core/postgres.ts';
import type { SharedFollower, SharedSetStats, SharedTableSet } from '../core/shared-follower.ts';

/**
 * What every careflow of a cluster follows from PostgreSQL: the registry, the rule hierarchy, the escalation
 * chains, the away marks and the API keys.
 */
export async function clusterSharedSets(): Promise<SharedTableSet[]> {
  const [{ REGISTRY_SET }, { RULES_SET }, { ESCALATION_SET }, { AWAY_SET }, { API_KEYS_SET }] =
    await Promise.all([
      import('../registry/tables.ts'),
      import('../detectors/rule-tables.ts'),
      import('../notifier/escalation-tables.ts'),
      import('../detectors/away-tables.ts'),
      import('../registry/api-key-tables.ts'),
    ]);
  return [REGISTRY_SET, RULES_SET, ESCALATION_SET, AWAY_SET, API_KEYS_SET];
}

/** Follows the cluster's shared registry, rules, escalation chains and away marks into the embedded store in `config.dataDir`. */
export async function followClusterTables(
  config: Config,
  pool: PgPool,
  logger: Logger,
): Promise<SharedFollower> {
  const { followSharedTables } = await import('../core/shared-follower.ts');
  return followSharedTables({
    pool,
    storePath: join(config.dataDir, 'careflow.db'),
    sets: await clusterSharedSets(),
    pollMs: config.cluster.registryPollMs,
    logger,
  });
}

export interface SharedRegistry {
  stats(): Record<string, SharedSetStats>;
  stop(): Promise<void>;
}

/**
 * A careflow of a cluster that is not a worker (the one answering RabbitMQ's HTTP auth backend, with
 * `cluster.postgresUrl` set) follows the shared registry and rules as the workers do, so that a meter or person
 * imported once (`careflow import --cluster`) can log in. PostgreSQL's client is loaded only then.
 */
export async function followClusterRegistry(config: Config, logger: Logger): Promise<SharedRegistry> {
  const { openPgPool } = await import('../core/postgres.ts');
  const pool = openPgPool(config.cluster.postgresUrl!, { max: 2 });
  try {
    const follower = await followClusterTables(config, pool, logger);
    return {
      stats: () => follower.stats(),
      async stop() {
        await follower.stop();
        await pool.end();
      },
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}
