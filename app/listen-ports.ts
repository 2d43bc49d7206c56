import { createServer } from 'node:net';
import { CareflowError } from '../core/errors.ts';

/** Fails with `ERR_START_PORT_UNAVAILABLE` when `host:port` cannot be listened on (port 0 always can). */
export async function assertPortFree(what: string, env: string, host: string, port: number): Promise<void> {
  if (port === 0) return;
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => resolve());
  }).catch((err: unknown) => {
    throw listenError(err, what, env, host, port);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A listen failure as one line for people; other errors pass through unchanged. */
export function listenError(err: unknown, what: string, env: string, host: string, port: number): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE')
    return new CareflowError(
      'ERR_START_PORT_UNAVAILABLE',
      `${what} port ${port} (${host}) is already in use by another program: stop it, or choose another port with ${env}`,
    );
  if (code === 'EACCES')
    return new CareflowError(
      'ERR_START_PORT_UNAVAILABLE',
      `${what} port ${port} (${host}) needs privileges careflow does not have: choose a port above 1023 with ${env}`,
    );
  if (code === 'EADDRNOTAVAIL')
    return new CareflowError(
      'ERR_START_PORT_UNAVAILABLE',
      `${what} address ${host} is not an address of this machine: check ${env.replace('_PORT', '_HOST')}`,
    );
  return err;
}
