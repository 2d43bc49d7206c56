import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { RABBITMQ_PLUGINS, SKIP_RABBITMQ, startRabbitMq } from './rabbitmq.ts';

/** The private RabbitMQ node of the cluster tests starts, serves, and stops without a trace — twice in a row. */
describe.skipIf(SKIP_RABBITMQ)('test RabbitMQ node', () => {
  it('starts with its plugins on its own ports, and stops with its epmd, twice in a row', async () => {
    const seen: string[] = [];
    for (let round = 0; round < 2; round++) {
      const rabbit = await startRabbitMq();
      try {
        expect(seen).not.toContain(rabbit.nodeName);
        seen.push(rabbit.nodeName);
        expect(rabbit.nodeName).toMatch(/^careflow-test-\d+@localhost$/);
        const plugins = rabbit.ctl('eval', 'rabbit_plugins:active().');
        for (const p of RABBITMQ_PLUGINS) expect(plugins).toContain(p);
        // careflow's own user exists; anonymous MQTT is refused.
        expect(rabbit.ctl('list_users', '--silent')).toContain(rabbit.user.username);
        const refused = await new Promise<string>((resolve) => {
          const c = mqtt.connect(rabbit.mqttUrl, { reconnectPeriod: 0, connectTimeout: 5000 });
          c.once('connect', () => (c.end(true), resolve('connected')));
          c.once('error', (e) => (c.end(true), resolve(e.message)));
        });
        expect(refused).not.toBe('connected');
        expect(await listening(rabbit.ports.epmd)).toBe(true);
        await rabbit.dispose();
        for (const port of Object.values(rabbit.ports)) expect(await listening(port)).toBe(false);
        expect(beams(rabbit.nodeName)).toEqual([]);
      } finally {
        await rabbit.dispose();
      }
    }
  }, 120_000);
});

function beams(nodeName: string): string[] {
  if (!existsSync('/proc')) return [];
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(nodeName) && !l.includes('ps -eo'));
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.connect(port, '127.0.0.1');
  });
}
