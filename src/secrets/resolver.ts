import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import { SecretHandle } from './handle.js';
import { parseSecretRef } from './ref.js';
import { SECRET_STORES } from './registry.js';

export interface SecretResolverOptions {
  baseDir: string;
  defaultIntervalMs: number;
  scrubber: SecretScrubber;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Owns every SecretHandle of a running gateway: creates them from references, reads them all
 * before serving, refreshes each on its interval, and registers every value with the log
 * scrubber (and forgets replaced values).
 */
export class SecretResolver {
  readonly #handles = new Map<string, SecretHandle>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #options: SecretResolverOptions;

  constructor(options: SecretResolverOptions) {
    this.#options = options;
  }

  /** A handle for `reference` (validated by the config schema), shared by equal references. */
  handle(reference: string, intervalMs = this.#options.defaultIntervalMs): SecretHandle {
    const key = `${intervalMs}\u0000${reference}`;
    let h = this.#handles.get(key);
    if (h) return h;
    const ref = parseSecretRef(reference);
    const store = ref && SECRET_STORES.get(ref.scheme);
    if (!ref || !store) throw new Error(`not a usable secret reference: ${reference}`);
    const { scrubber } = this.#options;
    h = new SecretHandle(ref, store, this.#options.baseDir, intervalMs, scrubber);
    h.onChange((value, previous) => {
      scrubber.add(value);
      if (previous !== undefined) scrubber.delete(previous);
    });
    this.#handles.set(key, h);
    return h;
  }

  get handles(): SecretHandle[] {
    return [...this.#handles.values()];
  }

  /** Reads every handle once; resolves to the failures (reference and reason, no values). */
  async resolveAll(): Promise<Array<{ ref: string; error: string }>> {
    const failures: Array<{ ref: string; error: string }> = [];
    await Promise.all(
      this.handles.map(async (h) => {
        try {
          await h.refresh();
          this.#options.metrics.secretRefresh.inc({ store: h.ref.scheme, status: 'ok' });
        } catch (err) {
          this.#options.metrics.secretRefresh.inc({ store: h.ref.scheme, status: 'error' });
          failures.push({ ref: h.ref.raw, error: err instanceof Error ? err.message : String(err) });
        }
      }),
    );
    return failures;
  }

  /** Starts the refresh timers. */
  start(): void {
    const { logger, metrics } = this.#options;
    for (const h of this.handles) {
      let busy = false;
      const timer = setInterval(() => {
        // A tick while the last read is still running (a slow store, a loaded machine) is
        // skipped: joining that read would report its one change twice.
        if (busy) return;
        busy = true;
        h.refresh().finally(() => (busy = false)).then(
          (changed) => {
            metrics.secretRefresh.inc({ store: h.ref.scheme, status: changed ? 'changed' : 'ok' });
            if (changed) logger.info({ secret: h.ref.raw }, 'secret value changed; new requests use it');
          },
          (err: unknown) => {
            metrics.secretRefresh.inc({ store: h.ref.scheme, status: 'error' });
            logger.warn(
              { secret: h.ref.raw, error: err instanceof Error ? err.message : String(err) },
              'secret refresh failed; keeping the last good value',
            );
          },
        );
      }, h.intervalMs);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.length = 0;
  }
}
