import type { Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import type { FleetEvent, FleetEvents } from '../types.js';
import type { RedisCounterStore } from './counters.js';

/** The channel of a gateway's events: under its key prefix, so gateways sharing one Redis stay apart. */
function channelOf(counters: RedisCounterStore): string {
  return `${counters.keyPrefix}events`;
}

/** Publishes one event (a short-lived CLI command uses this without subscribing). */
export function publishEvent(counters: RedisCounterStore, event: FleetEvent): Promise<void> {
  return counters.publish(channelOf(counters), JSON.stringify(event));
}

/** How often the subscribed connection is checked; a check not answered in time ends trust in it. */
const HEARTBEAT_MS = 1000;

/**
 * Changes every replica must apply at once (a key revoked or rotated, the lockdown thrown, a
 * user, enrolment or session changed),
 * announced on one Redis channel (`<key_prefix>events`). The store stays the truth: a message
 * only makes a replica re-read it now instead of at its next poll. A replica also learns from
 * `trustedSince` whether it has been hearing every message, so it may keep trusting cached key
 * verifications while the store itself cannot be read.
 *
 * The subscribed connection is checked with PING every second (a connection cut by the network
 * can stay open without delivering anything); trust restarts from the first answer after a
 * failure, and the channel is subscribed again after every reconnect.
 */
export class RedisFleetEvents implements FleetEvents {
  readonly #counters: RedisCounterStore;
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #logger: Logger;
  readonly #listeners = new Set<(event: FleetEvent) => void>();
  #trustedSince: number | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(counters: RedisCounterStore, logger: Logger) {
    this.#counters = counters;
    this.#logger = logger;
    this.#channel = channelOf(counters);
    this.#sub = counters.duplicate();
    this.#sub.options.autoResubscribe = false;
    this.#sub.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#deliver(message);
    });
    this.#sub.on('error', () => undefined); // the heartbeat notices; the counter store logs connection errors
    this.#sub.on('close', () => this.#distrust());
    this.#sub.on('ready', () => void this.#subscribe());
  }

  /** Subscribes and resolves once messages flow (or after `connect_timeout` fails, leaving it to reconnect). */
  static async open(counters: RedisCounterStore, logger: Logger): Promise<RedisFleetEvents> {
    const events = new RedisFleetEvents(counters, logger);
    await events.#subscribe();
    events.#heartbeat = setInterval(() => void events.#beat(), HEARTBEAT_MS);
    events.#heartbeat.unref();
    return events;
  }

  async #subscribe(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#sub.subscribe(this.#channel);
      this.#trustedSince ??= Date.now();
    } catch {
      this.#distrust();
    }
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#sub.ping();
      if (this.#trustedSince === undefined) await this.#subscribe();
    } catch {
      this.#distrust();
    }
  }

  #distrust(): void {
    this.#trustedSince = undefined;
  }

  #deliver(message: string): void {
    let event: FleetEvent;
    try {
      const parsed = JSON.parse(message.length > 4096 ? '' : message) as Partial<FleetEvent>;
      if (parsed.kind === 'key' && typeof parsed.id === 'string') event = { kind: 'key', id: parsed.id };
      else if (parsed.kind === 'lockdown' || parsed.kind === 'identity') event = { kind: parsed.kind };
      else return;
    } catch {
      return;
    }
    for (const listener of this.#listeners) listener(event);
  }

  trustedSince(): number | undefined {
    return this.#trustedSince;
  }

  on(listener: (event: FleetEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  async publish(event: FleetEvent): Promise<void> {
    try {
      await publishEvent(this.#counters, event);
    } catch (err) {
      // The other replicas still see the change at their next poll of the store.
      this.#logger.warn({ error: err instanceof Error ? err.message : String(err), event: event.kind }, 'announcing a change to the other replicas failed; they apply it at their next poll');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#distrust();
    await this.#sub.quit().catch(() => this.#sub.disconnect());
  }
}
