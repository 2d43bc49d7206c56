import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { CareflowError } from './errors.ts';
import type { Logger } from './logger.ts';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/**
 * The certificate and key files of the TLS listeners. `reload()` re-reads them (SIGHUP, or a change seen in
 * their directory, which also catches a renewal tool replacing the files) and hands a valid pair to every
 * listener; a pair that does not load is logged and the listeners keep the previous one.
 */
export class TlsFiles {
  private current: TlsMaterial;
  private readonly listeners: ((m: TlsMaterial) => void)[] = [];
  private readonly watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | undefined;

  constructor(
    readonly certFile: string,
    readonly keyFile: string,
    private readonly logger: Logger,
  ) {
    try {
      this.current = this.read();
    } catch (err) {
      throw new CareflowError(
        'ERR_CONFIG_INVALID',
        `tls.certFile / tls.keyFile could not be loaded: ${(err as Error).message}`,
      );
    }
  }

  material(): TlsMaterial {
    return this.current;
  }

  /** Calls `fn` with each newly loaded pair. */
  onReload(fn: (m: TlsMaterial) => void): void {
    this.listeners.push(fn);
  }

  /** Re-reads both files; true when the new pair is in use. */
  reload(): boolean {
    let next: TlsMaterial;
    try {
      next = this.read();
    } catch (err) {
      this.logger.error(
        { err: (err as Error).message },
        'TLS certificate not reloaded; keeping the previous one',
      );
      return false;
    }
    if (next.cert.equals(this.current.cert) && next.key.equals(this.current.key)) return true;
    this.current = next;
    for (const fn of this.listeners) fn(next);
    this.logger.info({ certFile: this.certFile }, 'TLS certificate reloaded');
    return true;
  }

  /** Reloads shortly after either file changes (a write or a rename into place). */
  watch(debounceMs = 200): void {
    const names = new Set([basename(this.certFile), basename(this.keyFile)]);
    for (const dir of new Set([dirname(this.certFile), dirname(this.keyFile)])) {
      try {
        const w = watch(dir, (_event, filename) => {
          if (filename !== null && !names.has(filename.toString())) return;
          clearTimeout(this.debounce);
          this.debounce = setTimeout(() => this.reload(), debounceMs);
          this.debounce.unref();
        });
        w.on('error', (err) => this.logger.warn({ err: err.message, dir }, 'cannot watch TLS files'));
        w.unref();
        this.watchers.push(w);
      } catch (err) {
        this.logger.warn({ err: (err as Error).message, dir }, 'cannot watch TLS files; reload with SIGHUP');
      }
    }
  }

  close(): void {
    clearTimeout(this.debounce);
    for (const w of this.watchers) w.close();
  }

  private read(): TlsMaterial {
    const m = { cert: readFileSync(this.certFile), key: readFileSync(this.keyFile) };
    createSecureContext(m); // throws on a bad pair (unparsable, or key not matching the certificate)
    return m;
  }
}
