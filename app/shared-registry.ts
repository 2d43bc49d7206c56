import { join } from 'node:path';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { RegistryFollowerStats } from '../registry/follower.ts';

export interface SharedRegistry {
  stats(): RegistryFollowerStats;
  stop(): Promise<void>;
}

/**
 * A careflow of a cluster that is not a worker (the one answering RabbitMQ's HTTP auth backend, with
 * `cluster.postgresUrl` set) follows the shared registry as the workers do, so that a meter or person imported
 * once (`careflow import --cluster`) can log in. PostgreSQL's client is loaded only then.
 */
export async function followClusterRegistry(config: Config, logger: Logger): Promise<SharedRegistry> {
  const { openPgPool } = await import('../core/postgres.ts');
  const { followSharedRegistry } = await import('../registry/follower.ts');
  const pool = openPgPool(config.cluster.postgresUrl!, { max: 2 });
  try {
    const follower = await followSharedRegistry({
      pool,
      storePath: join(config.dataDir, 'careflow.db'),
      pollMs: config.cluster.registryPollMs,
      logger,
    });
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
