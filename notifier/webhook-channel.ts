import { createHmac } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { OutboxMessage } from '../core/store/outbox-repo.ts';
import type { Store } from '../core/store/store.ts';

/** Headers of a webhook call (docs/webhooks.md). */
export const WEBHOOK_HEADERS = {
  timestamp: 'x-careflow-timestamp',
  signature: 'x-careflow-signature',
  idempotencyKey: 'x-careflow-idempotency-key',
  attempt: 'x-careflow-attempt',
} as const;

/** `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the endpoint's secret. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return 'v1=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The parts of the embedded store the webhook channel reads: the endpoints. */
export type WebhookTables = Pick<Store, 'webhooks'>;

/** Why a webhook attempt failed (the dispatcher retries, then gives up). */
export class DeliveryError extends Error {
  constructor(
    message: string,
    /** True when retrying cannot help (the endpoint was removed or disabled). */
    readonly permanent = false,
  ) {
    super(message);
  }
}

/**
 * Delivers an outbox message to its webhook endpoint: a JSON POST signed with the endpoint's current secret.
 * Redirects are not followed. A 2xx answer is success; anything else, a timeout or a network error is a
 * failed attempt.
 */
export class WebhookChannel {
  constructor(
    private readonly store: WebhookTables,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  async deliver(m: OutboxMessage): Promise<void> {
    const endpoint = this.store.webhooks.get(m.target);
    if (!endpoint || !endpoint.enabled) {
      throw new DeliveryError(`webhook endpoint ${m.target} was removed or disabled`, true);
    }
    const timestamp = this.clock.now();
    let res: Response;
    try {
      res = await fetch(endpoint.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'careflow-webhook/1',
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhook(endpoint.secret, timestamp, m.payload),
          [WEBHOOK_HEADERS.idempotencyKey]: m.idempotencyKey,
          [WEBHOOK_HEADERS.attempt]: String(m.attempts + 1),
        },
        body: m.payload,
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why =
        e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (e.cause?.code ?? e.message);
      throw new DeliveryError(`webhook ${endpoint.id}: ${why}`);
    }
    await res.body?.cancel().catch(() => {});
    if (res.status < 200 || res.status > 299) {
      throw new DeliveryError(`webhook ${endpoint.id} answered HTTP ${res.status}`);
    }
  }
}
