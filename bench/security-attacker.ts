/**
 * The attacker of bench/security.bench.ts, in its own process: argv[2] is a JSON plan. Reports its result
 * over IPC and exits. It reports `{ ready }` first and starts on any message.
 *
 * - `{ kind: 'login-burst', httpPort, attempts, id }`: that many concurrent wrong logins; the statuses.
 * - `{ kind: 'connect-flood', mqttPort, rate, seconds, knownIds }`: wrong CONNECTs at `rate` a second from
 *   127.0.0.2, alternating known and unknown ids; the CONNACK codes.
 */
import { rawConnect } from '../test/raw-connect.ts';

type Plan =
  | { kind: 'login-burst'; httpPort: number; attempts: number; id: string }
  | { kind: 'connect-flood'; mqttPort: number; rate: number; seconds: number; knownIds: string[] };

const plan = JSON.parse(process.argv[2]!) as Plan;
// Started (and compiled) before the measurement: wait for the go.
await new Promise<void>((resolve) => {
  process.once('message', () => resolve());
  process.send?.({ ready: true });
});

if (plan.kind === 'login-burst') {
  const statuses = await Promise.all(
    Array.from({ length: plan.attempts }, (_, i) =>
      fetch(`http://127.0.0.1:${plan.httpPort}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: plan.id, password: `wrong-${i}` }),
      }).then(
        (r) => r.status,
        () => -1,
      ),
    ),
  );
  process.send?.({ statuses });
} else {
  const codes: Record<string, number> = {};
  const attempts: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = (performance.now() - started) / 1000;
      const due = Math.floor(Math.min(elapsed, plan.seconds) * plan.rate);
      while (sent < due) {
        const n = sent++;
        const username = n % 2 === 0 ? plan.knownIds[n % plan.knownIds.length]! : `unknown-${n}`;
        attempts.push(
          rawConnect({
            port: plan.mqttPort,
            clientId: `x-${n}`,
            username,
            password: `guess-${n}`,
            localAddress: '127.0.0.2',
          }).then(
            (r) => void (codes[r.returnCode] = (codes[r.returnCode] ?? 0) + 1),
            () => void (codes.error = (codes.error ?? 0) + 1),
          ),
        );
      }
      if (elapsed >= plan.seconds) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  await Promise.all(attempts);
  process.send?.({ codes, sent, seconds: (performance.now() - started) / 1000 });
}
process.disconnect?.();
