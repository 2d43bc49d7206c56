import { afterEach, expect, it } from 'vitest';
import type { Mode } from '../core/repository.ts';
import { eachBackend, type Backend } from '../test/repositories/backends.ts';
import { sqliteOutbox, type NewOutboxMessage, type OutboxRepository } from './outbox-repository.ts';
import { PgOutboxRepository } from './postgres-outbox.ts';

/** One behavioural suite for the notifier's outbox, run against the embedded SQLite store and PostgreSQL. */
eachBackend("the notifier's outbox repository", (fresh) => {
  let backend: Backend | undefined;
  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });
  async function open(): Promise<OutboxRepository<Mode>> {
    backend = await fresh();
    return backend.store ? sqliteOutbox(backend.store) : await PgOutboxRepository.open(backend.pool!);
  }
  const T = 1_767_225_600_000;
  const msg = (key: string, over: Partial<NewOutboxMessage> = {}): NewOutboxMessage => ({
    channel: 'mqtt',
    target: 'w-g1',
    topic: 'workers/w-g1/alerts',
    payload: JSON.stringify({ event: 'opened', text: '独居老人家中长时间无用水' }),
    idempotencyKey: key,
    alertId: 'a1',
    level: 0,
    recipient: 'w-g1',
    ...over,
  });

  it('queues a message once per idempotency key and finds it by key', async () => {
    const repo = await open();
    expect(await repo.enqueue(msg('k1'), T)).toBe(true);
    expect(await repo.enqueue(msg('k1', { payload: '{"event":"other"}' }), T + 5)).toBe(false);
    expect(await repo.byKey('k1')).toEqual({
      id: expect.any(Number),
      channel: 'mqtt',
      target: 'w-g1',
      topic: 'workers/w-g1/alerts',
      payload: msg('k1').payload,
      idempotencyKey: 'k1',
      attempts: 0,
      createdAt: T,
      alertId: 'a1',
      level: 0,
      recipient: 'w-g1',
    });
    expect(await repo.byKey('nope')).toBeUndefined();
    expect(await repo.pendingCount()).toBe(1);
  });

  it('hands out due messages by due time, then id, and says when the next one falls due', async () => {
    const repo = await open();
    await repo.enqueue(msg('late'), T, T + 60_000);
    await repo.enqueue(msg('b'), T + 2, T);
    await repo.enqueue(msg('a'), T + 1, T - 10);
    await repo.enqueue(msg('c'), T + 3, T);
    expect((await repo.due(T)).map((m) => m.idempotencyKey)).toEqual(['a', 'b', 'c']);
    expect((await repo.due(T, 2)).map((m) => m.idempotencyKey)).toEqual(['a', 'b']);
    expect(await repo.nextAttemptAfter(T)).toBe(T + 60_000);
    expect(await repo.nextAttemptAfter(T + 60_000)).toBeUndefined();
  });

  it('moves a message through its delivery states only forwards', async () => {
    const repo = await open();
    await repo.enqueue(msg('m'), T);
    await repo.enqueue(msg('w', { channel: 'webhook', target: 'hook-1', recipient: null }), T);
    await repo.enqueue(msg('f'), T);
    const id = async (k: string) => (await repo.byKey(k))!.id;
    await repo.markRetry(await id('f'), T + 1_000, 'broker down');
    expect((await repo.byKey('f'))!.attempts).toBe(1);
    expect((await repo.due(T)).map((m) => m.idempotencyKey)).toEqual(['m', 'w']);
    expect(await repo.markSent(await id('m'), T + 1)).toBe(true);
    expect(await repo.markSent(await id('m'), T + 2)).toBe(false);
    expect(await repo.markReceived('m', T + 3)).toBe(true);
    expect(await repo.markReceived('m', T + 4)).toBe(false);
    expect(await repo.markDelivered(await id('w'), T + 1)).toBe(true);
    expect(await repo.markFailed(await id('w'), T + 2, 'late')).toBe(false);
    expect(await repo.markFailed(await id('f'), T + 2, 'gave up after 1 attempt')).toBe(true);
    expect(await repo.countsByState()).toEqual({ received: 1, delivered: 1, failed: 1 });
    expect(await repo.pendingCount()).toBe(0);
    expect(await repo.byAlert('a1')).toEqual([
      expect.objectContaining({ idempotencyKey: 'm', state: 'received', attempts: 1, lastError: null }),
      expect.objectContaining({ idempotencyKey: 'w', state: 'delivered', attempts: 1, lastError: null }),
      expect.objectContaining({
        idempotencyKey: 'f',
        state: 'failed',
        attempts: 2,
        lastError: 'gave up after 1 attempt',
      }),
    ]);
  });

  it('keeps a grouped message waiting for its window, rewritable until it goes', async () => {
    const repo = await open();
    await repo.enqueue(msg('group:w-g1:1', { payload: '{"event":"grouped","n":1}' }), T, T + 300_000);
    await repo.enqueue(msg('single', { payload: '{"event":"opened"}' }), T, T + 300_000);
    const waiting = await repo.waitingGroup('w-g1', 'mqtt', 'w-g1', T + 1);
    expect(waiting?.idempotencyKey).toBe('group:w-g1:1');
    expect(await repo.waitingGroup('w-g1', 'webhook', 'w-g1', T + 1)).toBeUndefined();
    expect(await repo.waitingGroup('w-g1', 'mqtt', 'w-g1', T + 300_000)).toBeUndefined();
    await repo.setPayload(waiting!.id, '{"event":"grouped","n":2}');
    expect((await repo.byKey('group:w-g1:1'))!.payload).toBe('{"event":"grouped","n":2}');
    await repo.markSent(waiting!.id, T + 300_001);
    await repo.setPayload(waiting!.id, '{"event":"grouped","n":3}');
    expect((await repo.byKey('group:w-g1:1'))!.payload).toBe('{"event":"grouped","n":2}');
  });

  it('tells when a person last heard of a new alert (openings and groups only)', async () => {
    const repo = await open();
    await repo.enqueue(msg('o1', { payload: '{"event":"opened"}' }), T);
    await repo.enqueue(msg('g1', { payload: '{"event":"grouped"}' }), T + 10);
    await repo.enqueue(msg('r1', { payload: '{"event":"reminder"}' }), T + 20);
    await repo.enqueue(msg('o2', { payload: '{"event":"opened"}', recipient: 'w-other' }), T + 30);
    expect(await repo.lastOpeningAt('w-g1', 'mqtt', 'w-g1', T - 1)).toBe(T + 10);
    expect(await repo.lastOpeningAt('w-g1', 'mqtt', 'w-g1', T + 10)).toBeUndefined();
  });

  it("lists a worker's unacknowledged messages and an alert's recipients", async () => {
    const repo = await open();
    for (const [key, target, alertId] of [
      ['x1', 'w-b', 'a1'],
      ['x2', 'w-a', 'a1'],
      ['x3', 'w-a', 'a2'],
      ['x4', 'w-a', 'a1'],
    ] as const)
      await repo.enqueue(msg(key, { target, alertId, topic: `workers/${target}/alerts` }), T);
    await repo.enqueue(msg('hook', { channel: 'webhook', target: 'w-z', alertId: 'a1' }), T);
    for (const key of ['x2', 'x3', 'x4']) await repo.markSent((await repo.byKey(key))!.id, T + 1);
    await repo.markReceived('x4', T + 2);
    expect((await repo.unreceived('w-a', T)).map((m) => m.idempotencyKey)).toEqual(['x2', 'x3']);
    expect(await repo.unreceived('w-a', T + 1)).toEqual([]);
    expect(await repo.recipientsOf('a1')).toEqual(['w-a', 'w-b']);
    expect(await repo.recipientsOf('a9')).toEqual([]);
  });

  it('lets exactly one of concurrent receipts of a message count', async () => {
    const repo = await open();
    await repo.enqueue(msg('dup'), T);
    await repo.markSent((await repo.byKey('dup'))!.id, T + 1);
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => repo.markReceived('dup', T + 2 + i)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
