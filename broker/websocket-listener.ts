import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';

/**
 * MQTT over WebSocket on an HTTP(S) server: upgrades on `path` (subprotocol `mqtt`) become MQTT connections
 * handed to `serve`; any other upgrade is refused. Frames above `maxPacketBytes` close the connection.
 */
export function attachMqttWebSocket(
  servers: Server[],
  path: string,
  maxPacketBytes: number,
  serve: (stream: Duplex, address: string) => void,
): WebSocketServer {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxPacketBytes + 8,
    handleProtocols: (protocols) =>
      protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false,
  });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.on('error', () => {});
    wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      serve(stream, req.socket.remoteAddress ?? 'unknown');
    });
  };
  for (const server of servers) server.on('upgrade', onUpgrade);
  return wss;
}
