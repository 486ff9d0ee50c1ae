import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import { SecretHandle } from './handle.js';
import { LeasedSecret, LeaseFieldHandle, type LeaseClock, type LeaseEvent } from './lease.js';
import { parseSecretRef } from './ref.js';
import { SECRET_STORES } from './registry.js';
import { isLeasingStore, type LeasingSecretStore } from './types.js';

export interface SecretResolverOptions {
  baseDir: string;
  defaultIntervalMs: number;
  scrubber: SecretScrubber;
  logger: Logger;
  metrics: Metrics;
  /** The clock leases run on (tests). */
  leaseClock?: LeaseClock;
}

/**
 * Owns every SecretHandle of a running gateway: creates them from references, reads them all
 * before serving, refreshes each on its interval, and registers every value with the log
 * scrubber (and forgets replaced values). References to a leasing store (`${vault-dynamic:...}`)
 * that name the same source share one {@link LeasedSecret}, which renews itself instead of
 * being re-read on an interval, and is revoked by `close()`.
 */
export class SecretResolver {
  readonly #handles = new Map<string, SecretHandle>();
  readonly #leases = new Map<string, LeasedSecret>();
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
    if (isLeasingStore(store)) {
      // A lease follows its own duration, not a refresh interval: one handle per reference.
      const { source, field } = store.leaseSource(ref);
      h = this.#lease(store, source).field(ref, field);
      this.#handles.set(key, h);
      return h;
    }
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
    return [...new Set(this.#handles.values())];
  }

  /** The leases of dynamic secrets (for the lease metrics). */
  get leases(): LeasedSecret[] {
    return [...this.#leases.values()];
  }

  #lease(store: LeasingSecretStore, source: string): LeasedSecret {
    const id = `${store.scheme}:${source}`;
    let lease = this.#leases.get(id);
    if (lease) return lease;
    const { scrubber, metrics, logger } = this.#options;
    const onEvent = (event: LeaseEvent): void => {
      const reference = id;
      switch (event.kind) {
        case 'read':
          metrics.secretLeaseReads.inc({ reference, result: event.ok ? 'ok' : 'error' });
          if (event.ok && event.replaced) logger.info({ secret: reference }, 'dynamic secret: new lease read; new requests use it, the replaced lease is revoked');
          if (!event.ok) logger.warn({ secret: reference, error: event.error }, 'dynamic secret: reading a lease failed; keeping the current one while it lasts');
          break;
        case 'renewal':
          metrics.secretLeaseRenewals.inc({ reference, result: event.result });
          if (event.result === 'max_ttl') logger.info({ secret: reference }, 'dynamic secret: lease renewed for less than asked (max TTL); a new lease is read before it ends');
          if (event.result === 'refused' || event.result === 'error') logger.warn({ secret: reference, result: event.result, error: event.error }, 'dynamic secret: lease renewal failed');
          break;
        case 'revocation':
          metrics.secretLeaseRevocations.inc({ reference, result: event.ok ? 'ok' : 'error' });
          if (!event.ok) logger.warn({ secret: reference, error: event.error }, 'dynamic secret: revoking a lease failed; it ends at its expiry');
          break;
        default: {
          const unknown: never = event;
          throw new Error(`unknown lease event ${String(unknown)}`);
        }
      }
    };
    lease = new LeasedSecret(store, source, {
      onEvent,
      // Masked as read and as used (one trailing newline dropped, see value.ts).
      onValues: (values, previous) => {
        for (const v of values) for (const form of asRead(v)) scrubber.add(form);
        for (const v of previous) if (!values.includes(v)) for (const form of asRead(v)) scrubber.delete(form);
      },
      ...(this.#options.leaseClock ? { clock: this.#options.leaseClock } : {}),
    });
    this.#leases.set(id, lease);
    return lease;
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
    for (const lease of this.#leases.values()) lease.start();
    for (const h of this.handles) {
      if (h instanceof LeaseFieldHandle) continue;
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

  /** Stops the refresh timers; leases keep renewing until `close()`. */
  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.length = 0;
  }

  /** Stops everything and revokes every lease (at shutdown, and for a replaced generation). */
  async close(): Promise<void> {
    this.stop();
    await Promise.all(this.leases.map((l) => l.close()));
  }
}

/** A value as a store returned it and as the gateway uses it (one trailing newline dropped). */
function asRead(value: string): string[] {
  const used = value.replace(/\r?\n$/, '');
  return used === value || used === '' ? [value] : [value, used];
}
