import { workerReceiptTopic } from '../core/alerts.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Config } from '../core/config.ts';
import { CareflowError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ServiceMetrics } from '../core/metrics.ts';
import { TOPICS } from '../core/readings.ts';
import { defineRoute, type ApiContext } from '../api/define-route.ts';
import { LoginLimiter } from '../api/login-limiter.ts';
import { createHookAuth, type HookAuthTables, type Who } from './hook-auth.ts';
import type { SecretVerifiers } from './secret-verifiers.ts';

/**
 * RabbitMQ's HTTP auth backend (plugin `rabbitmq_auth_backend_http`), served from careflow's registry, for a
 * cluster whose MQTT tier is RabbitMQ: RabbitMQ asks careflow whether a user may log in (`/hooks/rabbitmq/user`),
 * use a virtual host (`/vhost`), a queue or exchange (`/resource`) and publish or bind with a routing key on a
 * topic exchange (`/topic`). Meters and worker apps are held to the MQTT contract's topics exactly as by the
 * embedded broker and the EMQX hooks (same authenticator, verifier cache and failure limits); careflow's own
 * workers log in as a user of RabbitMQ's internal database and never reach these routes.
 *
 * Only RabbitMQ may call: the routes exist only with `mqtt.rabbitmqHookSecret`, answer only callers from
 * `mqtt.rabbitmqHookSources`, and want the secret as the password of HTTP Basic authentication (RabbitMQ sends
 * the user information of the backend's URLs so) or in `x-careflow-hook-secret`. RabbitMQ posts form fields
 * (`auth_http.http_method = post`, so secrets never appear in a URL) and reads a plain-text `allow` or `deny`.
 *
 * The MQTT plugin maps topics to AMQP routing keys on the exchange `amq.topic`: `/` becomes `.`, `+` becomes
 * `*` (`meters/m-1/readings` → `meters.m-1.readings`), and each subscription is a queue named
 * `mqtt-subscription-<client id>qos<0|1>`. A client may use only the queues of its own client ids (a meter: its
 * meter id; a worker app: the worker id or `app-<worker id>`), so nobody can take over another's session queue.
 * They log in over MQTT only: a login without the client id RabbitMQ's MQTT plugin sends (AMQP, for one) is refused.
 */
const Field = z.string().max(1024);
const UserBody = z.looseObject({
  username: Field.default(''),
  password: Field.default(''),
  client_id: Field.optional(),
});
const VhostBody = z.looseObject({ username: Field, vhost: Field, ip: Field.optional() });
const ResourceBody = z.looseObject({
  username: Field,
  vhost: Field,
  resource: z.enum(['exchange', 'queue', 'topic']),
  name: Field,
  permission: z.enum(['configure', 'write', 'read']),
});
const TopicBody = z.looseObject({
  username: Field,
  vhost: Field,
  resource: z.literal('topic'),
  name: Field,
  permission: z.enum(['write', 'read']),
  routing_key: Field,
});
const Answer = {
  200: {
    description: '`allow` or `deny` (plain text, as RabbitMQ reads it)',
    media: { 'text/plain': z.enum(['allow', 'deny']) },
  },
};
const SECRET_HEADER = 'x-careflow-hook-secret';
/** The exchange RabbitMQ's MQTT plugin publishes to and binds subscriptions on (its default). */
export const MQTT_EXCHANGE = 'amq.topic';

export interface RabbitMqHookDeps {
  config: Config;
  store: HookAuthTables;
  verifiers: SecretVerifiers;
  logger: Logger;
  metrics?: ServiceMetrics;
  /** Real time in ms (limits pass even while a manual service clock stands still). */
  now?: () => number;
}

/** An MQTT topic (or filter) as RabbitMQ's MQTT plugin (3.10) writes it as a routing key. */
export function routingKeyOf(topic: string): string {
  return topic.replaceAll('/', '.').replaceAll('+', '*');
}

/** The client ids (and so subscription queues) a principal may use through RabbitMQ. */
export function mayUseClientId(who: Who, clientId: string): boolean {
  if (who.kind === 'meter') return clientId === who.id;
  if (who.kind === 'worker') return clientId === who.id || clientId === `app-${who.id}`;
  return false;
}

const SUBSCRIPTION_QUEUE = /^mqtt-subscription-(.+)qos[01]$/;

/** May this meter or worker app publish (`write`) or bind (`read`) this routing key on `amq.topic`? */
export function mayUseRoutingKey(who: Who, permission: 'write' | 'read', key: string): boolean {
  switch (who.kind) {
    case 'meter':
      return (
        key === routingKeyOf(permission === 'write' ? TOPICS.readings(who.id) : TOPICS.meterErrors(who.id))
      );
    case 'worker': {
      const alerts = routingKeyOf(TOPICS.workerAlerts(who.id));
      if (permission === 'read') return key === alerts || key === routingKeyOf(TOPICS.workerErrors(who.id));
      // A receipt: workers.<id>.received, exactly.
      if (key === routingKeyOf(workerReceiptTopic(who.id))) return true;
      // An acknowledgement: workers.<id>.alerts.<alertId>.ack, one segment for the alert id, no wildcard.
      const prefix = `${alerts}.`;
      if (!key.startsWith(prefix) || !key.endsWith('.ack')) return false;
      const alertId = key.slice(prefix.length, -'.ack'.length);
      return /^[^.*#]+$/.test(alertId);
    }
    case 'careflow':
      return false;
  }
}

/** May this meter or worker app use this queue or exchange as RabbitMQ's MQTT plugin does for it? */
export function mayUseResource(
  who: Who,
  resource: 'exchange' | 'queue' | 'topic',
  name: string,
  permission: 'configure' | 'write' | 'read',
): boolean {
  if (who.kind === 'careflow') return false;
  if (resource === 'exchange') return name === MQTT_EXCHANGE && permission !== 'configure';
  if (resource === 'queue') {
    const clientId = SUBSCRIPTION_QUEUE.exec(name)?.[1];
    return clientId !== undefined && mayUseClientId(who, clientId);
  }
  // Topic permissions are asked at /topic, with the routing key.
  return false;
}

export function rabbitMqHookRoutes(deps: RabbitMqHookDeps) {
  const m = deps.config.mqtt;
  const secret = m.rabbitmqHookSecret;
  const sources = new Set(m.rabbitmqHookSources.map(normaliseAddress));
  const logger = deps.logger.child({ module: 'rabbitmq-hooks' });
  const now = deps.now ?? Date.now;
  const badSecret = new LoginLimiter(
    deps.config.http.loginMaxFailures,
    deps.config.http.loginWindowMinutes * 60_000,
    now,
  );
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const expected = secret ? digest(secret) : null;
  const auth = createHookAuth({ ...deps, logger }, 'RabbitMQ');

  /** The secret RabbitMQ sent: the password of HTTP Basic authentication, or the header. */
  function givenSecret(request: FastifyRequest): string | null {
    const header = request.headers[SECRET_HEADER];
    if (typeof header === 'string') return header;
    const basic = /^Basic ([A-Za-z0-9+/=]{1,1024})$/.exec(request.headers.authorization ?? '')?.[1];
    if (!basic) return null;
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    // RabbitMQ sends the password of its URL as written there, percent-encoding included.
    try {
      return decodeURIComponent(decoded.slice(colon + 1));
    } catch {
      return decoded.slice(colon + 1);
    }
  }

  function assertRabbitMq(request: FastifyRequest): void {
    if (!sources.has(normaliseAddress(request.ip))) {
      logger.warn(
        { address: request.ip },
        'RabbitMQ hook called from an address not in mqtt.rabbitmqHookSources',
      );
      throw new CareflowError('ERR_API_FORBIDDEN', 'This address may not call the RabbitMQ hooks');
    }
    const given = givenSecret(request);
    if (expected && given !== null && timingSafeEqual(digest(given), expected)) return;
    if (badSecret.reserve(request.ip) === null)
      throw new CareflowError('ERR_API_RATE_LIMITED', 'Too many calls with a wrong hook secret');
    deps.metrics?.countFailedAuthentication('bearer');
    throw new CareflowError('ERR_API_UNAUTHORIZED', 'Missing or wrong hook secret');
  }

  /** A meter or a worker app (careflow's own user lives in RabbitMQ's internal database). */
  function client(username: string): Who | null {
    const who = auth.whoIs(username);
    return who && who.kind !== 'careflow' ? who : null;
  }

  const decide = (reply: { type(t: string): unknown }, ok: boolean) => {
    reply.type('text/plain; charset=utf-8');
    return ok ? 'allow' : 'deny';
  };

  return (root: FastifyInstance, ctx: ApiContext): void => {
    if (!secret) return;
    // RabbitMQ posts form fields; only these routes read them (elsewhere a form post stays 415, see build-app).
    void root.register(async (app) => {
      app.addContentTypeParser(
        'application/x-www-form-urlencoded',
        { parseAs: 'string', bodyLimit: 16_384 },
        (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
      );
      defineRoute(app, ctx, {
        method: 'POST',
        url: '/hooks/rabbitmq/user',
        summary: 'RabbitMQ HTTP auth backend: may this username and password log in?',
        tags: ['mqtt'],
        permission: 'public',
        body: UserBody,
        responses: Answer,
        handler: async ({ request, reply, body }) => {
          assertRabbitMq(request);
          const who = client(body.username);
          const ok =
            who !== null &&
            // Only RabbitMQ's MQTT plugin sends a client id: without one the login is over AMQP (or another
            // protocol), which a meter or worker app never needs and which would open more than the MQTT
            // contract (declaring and binding its own queues, publishing with AMQP properties).
            body.client_id !== undefined &&
            mayUseClientId(who, body.client_id) &&
            // 3.10 does not say where the client connects from at login, so failures are limited per username
            // only (one shared allowance for RabbitMQ's address would let one attacker lock everybody out).
            (await auth.authenticate(body.username, body.password, `rabbitmq/${body.username}`));
          if (!ok) deps.metrics?.countFailedAuthentication('mqtt');
          return decide(reply, ok);
        },
      });
      defineRoute(app, ctx, {
        method: 'POST',
        url: '/hooks/rabbitmq/vhost',
        summary: 'RabbitMQ HTTP auth backend: may this user use the virtual host?',
        tags: ['mqtt'],
        permission: 'public',
        body: VhostBody,
        responses: Answer,
        handler: ({ request, reply, body }) => {
          assertRabbitMq(request);
          return decide(reply, client(body.username) !== null && body.vhost === m.rabbitmqVhost);
        },
      });
      defineRoute(app, ctx, {
        method: 'POST',
        url: '/hooks/rabbitmq/resource',
        summary: 'RabbitMQ HTTP auth backend: may this user configure, write or read the queue or exchange?',
        tags: ['mqtt'],
        permission: 'public',
        body: ResourceBody,
        responses: Answer,
        handler: ({ request, reply, body }) => {
          assertRabbitMq(request);
          const who = client(body.username);
          const ok =
            who !== null &&
            body.vhost === m.rabbitmqVhost &&
            mayUseResource(who, body.resource, body.name, body.permission);
          if (!ok) logger.info({ ...pick(body), routing_key: undefined }, 'RabbitMQ resource denied');
          return decide(reply, ok);
        },
      });
      defineRoute(app, ctx, {
        method: 'POST',
        url: '/hooks/rabbitmq/topic',
        summary: 'RabbitMQ HTTP auth backend: may this user publish (write) or bind (read) the routing key?',
        tags: ['mqtt'],
        permission: 'public',
        body: TopicBody,
        responses: Answer,
        handler: ({ request, reply, body }) => {
          assertRabbitMq(request);
          const who = client(body.username);
          const ok =
            who !== null &&
            body.vhost === m.rabbitmqVhost &&
            body.name === MQTT_EXCHANGE &&
            mayUseRoutingKey(who, body.permission, body.routing_key);
          if (!ok) logger.info(pick(body), 'RabbitMQ topic denied');
          return decide(reply, ok);
        },
      });
    });
  };
}

function pick(body: {
  username: string;
  resource: string;
  name: string;
  permission: string;
  routing_key?: string;
}) {
  return {
    username: body.username,
    resource: body.resource,
    name: body.name,
    permission: body.permission,
    routing_key: body.routing_key,
  };
}

/** `::ffff:127.0.0.1` (an IPv4 client on a dual-stack socket) is `127.0.0.1`. */
function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}
