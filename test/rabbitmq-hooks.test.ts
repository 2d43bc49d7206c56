import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mayUseResource, mayUseRoutingKey } from '../broker/rabbitmq-hooks.ts';
import { startTestService, testRegistry, type TestService } from './harness.ts';

/**
 * The rules of careflow's RabbitMQ auth backend routes, and who may call them, over real HTTP (the real
 * RabbitMQ runs in rabbitmq-auth.test.ts).
 */
const SECRET = 'rabbitmq-hook-secret-0123456789abcdef';
const meter = { kind: 'meter', id: 'm.1' } as const;
const worker = { kind: 'worker', id: 'w-1' } as const;

describe('RabbitMQ routing keys and resources', () => {
  it('holds meters and worker apps to their own routing keys, also with dots in their ids', () => {
    expect(mayUseRoutingKey(meter, 'write', 'meters.m.1.readings')).toBe(true);
    expect(mayUseRoutingKey(meter, 'write', 'meters.m.2.readings')).toBe(false);
    expect(mayUseRoutingKey(meter, 'write', 'meters.*.readings')).toBe(false);
    expect(mayUseRoutingKey(meter, 'read', 'meters.m.1.errors')).toBe(true);
    expect(mayUseRoutingKey(meter, 'read', 'meters.#')).toBe(false);
    expect(mayUseRoutingKey(worker, 'read', 'workers.w-1.alerts')).toBe(true);
    expect(mayUseRoutingKey(worker, 'read', 'workers.w-1.errors')).toBe(true);
    expect(mayUseRoutingKey(worker, 'read', 'workers.w-2.errors')).toBe(false);
    expect(mayUseRoutingKey(worker, 'write', 'workers.w-1.errors')).toBe(false);
    expect(mayUseRoutingKey(worker, 'read', 'workers.*.alerts')).toBe(false);
    expect(mayUseRoutingKey(worker, 'read', 'workers.w-1.alerts.#')).toBe(false);
    expect(mayUseRoutingKey(worker, 'write', 'workers.w-1.alerts.a-7.ack')).toBe(true);
    expect(mayUseRoutingKey(worker, 'write', 'workers.w-1.alerts.*.ack')).toBe(false);
    expect(mayUseRoutingKey(worker, 'write', 'workers.w-1.alerts.x.y.ack')).toBe(false);
    expect(mayUseRoutingKey(worker, 'write', 'workers.w-2.alerts.a-7.ack')).toBe(false);
    expect(mayUseRoutingKey(worker, 'write', 'workers.w-1.alerts')).toBe(false);
    // Receipts: on its own topic only, exactly.
    expect(mayUseRoutingKey(worker, 'write', 'workers.w-1.received')).toBe(true);
    expect(mayUseRoutingKey(worker, 'write', 'workers.w-2.received')).toBe(false);
    expect(mayUseRoutingKey(worker, 'write', 'workers.*.received')).toBe(false);
    expect(mayUseRoutingKey(worker, 'write', 'workers.#.received')).toBe(false);
    expect(mayUseRoutingKey(worker, 'read', 'workers.w-1.received')).toBe(false);
    expect(mayUseRoutingKey(meter, 'write', 'workers.m.1.received')).toBe(false);
  });

  it('lets a client use amq.topic and only the session queues of its own client ids', () => {
    expect(mayUseResource(meter, 'exchange', 'amq.topic', 'write')).toBe(true);
    expect(mayUseResource(meter, 'exchange', 'amq.topic', 'configure')).toBe(false);
    expect(mayUseResource(meter, 'exchange', 'careflow.readings', 'write')).toBe(false);
    expect(mayUseResource(meter, 'queue', 'mqtt-subscription-m.1qos1', 'configure')).toBe(true);
    expect(mayUseResource(meter, 'queue', 'mqtt-subscription-m.2qos1', 'read')).toBe(false);
    expect(mayUseResource(meter, 'queue', 'careflow.readings.0', 'read')).toBe(false);
    expect(mayUseResource(worker, 'queue', 'mqtt-subscription-app-w-1qos1', 'read')).toBe(true);
    expect(mayUseResource(worker, 'queue', 'mqtt-subscription-app-w-2qos1', 'read')).toBe(false);
    expect(mayUseResource({ kind: 'careflow', id: 'careflow' }, 'exchange', 'amq.topic', 'write')).toBe(
      false,
    );
  });
});

describe('who may call the RabbitMQ hooks', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({
      registry: testRegistry(1),
      config: {
        mqtt: {
          host: '127.0.0.1',
          port: 0,
          rabbitmqHookSecret: SECRET,
          rabbitmqHookSources: ['10.1.2.3'],
          emqxHookSecret: SECRET,
        },
        http: { host: '127.0.0.1', port: 0 },
      },
    });
  });
  afterAll(async () => svc?.dispose());

  it('refuses an address outside mqtt.rabbitmqHookSources, even with the secret', async () => {
    const res = await fetch(`http://127.0.0.1:${svc.cf.httpPort}/hooks/rabbitmq/user`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`rabbitmq:${SECRET}`).toString('base64')}`,
      },
      body: 'username=m-g1-1&password=secret-m-g1-1',
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'ERR_API_FORBIDDEN' });
  });

  it('keeps form posts off the other routes (415), also its neighbours at the root', async () => {
    for (const [path, headers] of [
      ['/api/login', {}],
      ['/hooks/emqx/authn', { 'x-careflow-hook-secret': SECRET }],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${svc.cf.httpPort}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: 'username=m-g1-1&password=secret-m-g1-1',
      });
      expect(res.status, path).toBe(415);
    }
  });
});
