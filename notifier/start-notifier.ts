import type { Observable } from 'rxjs';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import type { LocalTime } from '../core/local-time.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import type { Detection, MqttPublisher } from '../core/streams.ts';
import { AlertService } from './alert-service.ts';
import { OutboxDispatcher } from './outbox-dispatcher.ts';

export interface NotifierDeps {
  store: Store;
  clock: Clock;
  localTime: LocalTime;
  publisher: MqttPublisher;
  detections: Observable<Detection>;
  logger: Logger;
}

export interface Notifier {
  actions: AlertService;
  dispatcher: OutboxDispatcher;
  stop(): void;
}

/** Turns detections into alerts and delivers them to the grid workers responsible. */
export function startNotifier(config: Config, deps: NotifierDeps): Notifier {
  const logger = deps.logger.child({ module: 'notifier' });
  const dispatcher = new OutboxDispatcher(
    deps.store,
    deps.publisher,
    deps.clock,
    logger,
    config.notifier.retryBaseMs,
  );
  const actions = new AlertService(deps.store, deps.clock, deps.localTime, logger, () => dispatcher.kick());
  const sub = deps.detections.subscribe((d) => {
    try {
      actions.applyDetection(d);
    } catch (err) {
      logger.error({ err, detection: d.key }, 'failed to apply detection');
    }
  });
  dispatcher.start();
  return {
    actions,
    dispatcher,
    stop() {
      sub.unsubscribe();
      dispatcher.stop();
    },
  };
}
