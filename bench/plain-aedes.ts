/**
 * The peer benchmark's lower bound: plain Aedes on TCP with its in-memory defaults, every client accepted, no
 * validation and no storage. It counts the PUBLISHes it received so that the parent can check that every
 * acknowledged message arrived. Run as a child process (`fork`): the parent sends `{ readingsPerMessage }`,
 * gets `{ port }` back, then asks `'count'`.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

process.once('message', async () => {
  let received = 0;
  const aedes = await Aedes.createBroker({
    authorizePublish(client, _packet, done) {
      if (client) received++;
      done(null);
    },
  });
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    aedes.handle(socket);
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send!({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('message', (m: string) => {
    if (m === 'count') process.send!({ received });
    if (m === 'stop') aedes.close(() => server.close(() => process.exit(0)));
  });
});
process.send!({ ready: true });
