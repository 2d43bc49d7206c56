import type { Observable } from 'rxjs';
import type { AlertFeed, WorkerPort } from '../core/alerts.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { Detection, MqttPublisher } from '../core/streams.ts';
import { AlertEventHub, type EventHubTables } from './alert-event-hub.ts';
import { AlertService, type AlertServiceTables } from './alert-service.ts';
import { OutboxDispatcher, type DispatcherStore } from './outbox-dispatcher.ts';
import { WebhookChannel, type WebhookTables } from './webhook-channel.ts';
import { WorkerInbox, type WorkerInboxTables } from './worker-inbox.ts';

/** The parts of the embedded store the notifier uses: those of each of its parts. */
export type NotifierTables = AlertServiceTables &
  EventHubTables &
  DispatcherStore &
  WebhookTables &
  WorkerInboxTables;

export interface NotifierDeps {
  store: NotifierTables;
  clock: Clock;
  localTime: LocalTime;
  publisher: MqttPublisher;
  detections: Observable<Detection>;
  logger: Logger;
}

export interface Notifier {
  actions: AlertService;
  dispatcher: OutboxDispatcher;
  /** The committed alert timeline as a live feed (server-sent events). */
  events: AlertFeed;
  /** Worker-app acknowledgements, receipts and resubscriptions, for the broker. */
  workers: WorkerPort;
  /** Starts deliveries and escalation timers (once the broker can take messages). */
  startDelivery(): void;
  /** Stops deliveries and escalation timers (before the broker closes); detections are still applied. */
  stopDelivery(): void;
  stop(): void;
}

/**
 * Turns detections into alerts, delivers them to the people responsible on every channel (MQTT, webhooks)
 * and escalates them up the organisation while nobody acknowledges.
 */
export function startNotifier(config: Config, deps: NotifierDeps): Notifier {
  const logger = deps.logger.child({ module: 'notifier' });
  const c = config.notifier;
  const hub = new AlertEventHub(deps.store, logger);
  const slot: { dispatcher?: OutboxDispatcher } = {};
  const actions = new AlertService(deps.store, deps.clock, deps.localTime, logger, {
    onQueued: () => slot.dispatcher?.kick(),
    onChanged: hub.wake,
    groupWindowMs: c.groupWindowMs,
  });
  const dispatcher = new OutboxDispatcher(
    deps.store,
    deps.publisher,
    new WebhookChannel(deps.store, deps.clock, c.webhookTimeoutMs),
    deps.clock,
    logger,
    c,
    (m) => {
      if (m.alertId) actions.escalation.escalateNow(m.alertId, m.level);
    },
    hub.wake,
  );
  slot.dispatcher = dispatcher;
  const workers = new WorkerInbox(
    deps.store,
    deps.clock,
    actions,
    deps.publisher,
    logger,
    c.redeliverMaxAgeMinutes,
    hub.wake,
  );
  const sub = deps.detections.subscribe((d) => {
    try {
      actions.applyDetection(d);
    } catch (err) {
      logger.error({ err, detection: d.key }, 'failed to apply detection');
    }
  });
  let delivering = false;
  return {
    actions,
    dispatcher,
    events: hub,
    workers,
    startDelivery() {
      if (delivering) return;
      delivering = true;
      dispatcher.start();
      actions.escalation.start();
    },
    stopDelivery() {
      dispatcher.stop();
      actions.escalation.stop();
    },
    stop() {
      sub.unsubscribe();
      dispatcher.stop();
      actions.escalation.stop();
    },
  };
}
