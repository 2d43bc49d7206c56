import { connect } from 'node:net';
import mqttPacket from 'mqtt-packet';

export interface RawConnectOptions {
  port: number;
  clientId: string;
  clean?: boolean;
  username?: string;
  password?: string;
  /** Source address of the connection (any 127.x.y.z works on Linux): a second "attacker" address. */
  localAddress?: string;
}

/**
 * One MQTT 3.1.1 CONNECT on a raw socket, for what a library client will not send (an empty client id with a
 * persistent session) and for floods from another loopback address. Resolves with the CONNACK return code
 * (-1 when the broker closed without one) and the time to it in ms.
 */
export function rawConnect(opts: RawConnectOptions): Promise<{ returnCode: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ port: opts.port, host: '127.0.0.1', localAddress: opts.localAddress });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let settled = false;
    const finish = (returnCode: number) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve({ returnCode, ms: performance.now() - started });
    };
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connack') finish(packet.returnCode ?? -1);
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('close', () => finish(-1));
    socket.on('error', (err) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    socket.setTimeout(10_000, () => finish(-1));
    socket.on('connect', () => {
      const packet = mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId: opts.clientId,
        clean: true,
        keepalive: 30,
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(opts.password !== undefined ? { password: Buffer.from(opts.password) } : {}),
      });
      // mqtt-packet will not write an empty client id without a clean session: clear the flag by hand.
      if (opts.clean === false) {
        let i = 1;
        while (packet[i]! & 0x80) i++;
        const flags = i + 1 + 6 + 1; // remaining length, protocol name, protocol level
        packet[flags] = packet[flags]! & ~0x02;
      }
      socket.write(packet);
    });
  });
}
