import { pino, type Logger } from 'pino';

export type { Logger };

/** The one root logger; modules take `logger.child({ module })`. Secrets are redacted by path. */
export function createLogger(level: string = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'careflow' },
      redact: {
        paths: [
          'secret',
          'password',
          '*.secret',
          '*.password',
          'token',
          '*.token',
          'authorization',
          '*.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination as pino.DestinationStream | undefined,
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
