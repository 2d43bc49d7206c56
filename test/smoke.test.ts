import { afterEach, describe, expect, it } from 'vitest';
import {
  connectClient,
  connectWorker,
  eventually,
  HOUR,
  startTestService,
  T0,
  testRegistry,
  type TestService,
} from './harness.ts';

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.dispose();
  svc = undefined;
});

describe('smoke', () => {
  it('a household using no water for 26 h raises no-water-at-peak to its own worker; the dry day joins it', async () => {
    svc = await startTestService({ registry: testRegistry(1) });
    const worker = await connectWorker(svc.mqttUrl, 'w-g1', 'secret-w-g1');
    const meter = await connectClient(svc.mqttUrl, 'm-g1-1', 'secret-m-g1-1');
    for (let h = 0; h <= 26; h++) {
      svc.clock.advanceTo(T0 + h * HOUR);
      await meter.publishAsync(
        'meters/m-g1-1/readings',
        JSON.stringify({ ts: T0 + h * HOUR, totalLiters: 1000 }),
        { qos: 1 },
      );
    }
    const opened = () => worker.messages.filter((m) => m.event === 'opened');
    const [alert] = svc.cf.store.alerts.list({ householdId: 'h-g1-1' });
    await eventually(
      () => svc!.cf.store.alerts.timeline(alert!.id).some((e) => e.detail.joined === 'low-use'),
      5000,
      'the dry day joining the dry morning',
    );
    // Unacknowledged alerts also bring reminders (event `updated`); the openings are what this checks.
    expect(opened().map((m) => [m.event, m.ruleId, m.householdId])).toEqual([
      ['opened', 'no-water-at-peak', 'h-g1-1'],
    ]);
    expect(svc.cf.store.alerts.list({ householdId: 'h-g1-1' })).toHaveLength(1);
    await meter.endAsync();
    await worker.client.endAsync();
  });
});
