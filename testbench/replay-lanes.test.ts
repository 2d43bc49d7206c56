import { afterEach, describe, expect, it } from 'vitest';
import { startTestService, testRegistry, type TestService } from '../test/harness.ts';
import type { Broker } from '../broker/start-broker.ts';
import { ReplayLanes } from './replay-lanes.ts';

describe('replay lanes', () => {
  let svc: TestService | undefined;
  let lanes: ReplayLanes | undefined;
  afterEach(async () => {
    await lanes?.close();
    await svc?.dispose();
    svc = lanes = undefined;
  });

  it('connect again when the broker answers "server unavailable" to a burst of new secrets', async () => {
    const registry = testRegistry(12);
    // One secret check at a time and one waiting: a burst of 24 first CONNECTs is mostly answered CONNACK 3.
    svc = await startTestService({
      registry,
      config: { mqtt: { host: '127.0.0.1', port: 0, hashConcurrency: 1, hashQueueMax: 1 } },
    });
    const secrets = new Map(registry.meters!.map((m) => [m.id, m.secret!]));
    lanes = new ReplayLanes({ url: svc.mqttUrl, secrets, connectConcurrency: 24 });
    await lanes.connect([...secrets.keys()]);
    expect(lanes.allOpen()).toBe(true);
    // The burst was refused in part ("busy", CONNACK 3) and every meter got in on a later try.
    const security = (svc.cf.broker as Broker).security();
    expect(security.refusedConnects.busy).toBeGreaterThan(0);
    const acked = await Promise.all(
      [...secrets.keys()].map((id) =>
        lanes!.publish(
          id,
          JSON.stringify({ ts: new Date(svc!.clock.now()).toISOString(), totalLiters: 1.5 }),
        ),
      ),
    );
    expect(acked).toEqual(Array(24).fill(true));
    for (const id of secrets.keys()) expect(svc.cf.store.inbox.countForMeter(id), id).toBe(1);
  });

  it('does not retry a refused secret', async () => {
    svc = await startTestService({ registry: testRegistry(1) });
    lanes = new ReplayLanes({ url: svc.mqttUrl, secrets: new Map([['m-g1-1', 'not-the-secret']]) });
    await expect(lanes.connect(['m-g1-1'])).rejects.toThrow(/Not authorized|Bad username/i);
  });
});
