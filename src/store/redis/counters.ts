import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { CounterStore } from '../types.js';
import { scrubError, urlSecrets } from '../url-secret.js';

export interface RedisCounterStoreOptions {
  /** Prepended to every key (default `llmproxy:`), so several gateways or tests share one Redis. */
  keyPrefix?: string;
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Connection errors (already scrubbed of the URL); ioredis reconnects by itself. */
  onError?: (err: Error) => void;
}

/**
 * Fixed window: one key per counter and window, named by the window's start, expiring after
 * the window. The window is computed from the Redis server's clock (TIME), so replicas with
 * skewed clocks still share the same windows. Totals are decimals (INCRBYFLOAT) so budgets in
 * dollars fit as well as request and token counts; they travel back as strings.
 *
 * KEYS[1]: counter key stem. ARGV: amount, limit, window ms.
 * Returns {admitted (1|0), total, window end ms}.
 */
const TRY_ADD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[3])
local start = now - (now % w)
local k = KEYS[1] .. ':' .. start
local total = tonumber(redis.call('GET', k) or '0')
local amount = tonumber(ARGV[1])
if total + amount > tonumber(ARGV[2]) then
  return {0, tostring(total), start + w}
end
local after = redis.call('INCRBYFLOAT', k, ARGV[1])
redis.call('PEXPIRE', k, start + w - now + 1000)
return {1, after, start + w}
`;

/** Same window as TRY_ADD; adds unconditionally (corrections, which may be negative). */
const ADD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[2])
local start = now - (now % w)
local k = KEYS[1] .. ':' .. start
local after = redis.call('INCRBYFLOAT', k, ARGV[1])
redis.call('PEXPIRE', k, start + w - now + 1000)
return {after, start + w}
`;

/**
 * In-flight gauge: a sorted set of slot ids scored by the time each slot lapses. Lapsed slots
 * (a replica that died mid-request) are dropped before counting, so they cannot hold the gauge
 * forever. KEYS[1]: gauge key. ARGV: limit, ttl ms, slot id. Returns 1 when the slot was taken.
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`;

type ScriptName = 'llmproxyTryAdd' | 'llmproxyAdd' | 'llmproxyAcquire';
type ScriptFn = (...args: Array<string | number>) => Promise<unknown>;

/**
 * Rate-limit counters shared by every replica through one Redis. Each operation is one Lua
 * script, atomic on the server, so replicas racing for the last unit of a limit never both win.
 *
 * @example
 * const counters = await openRedisCounterStore(url, { keyPrefix: 'llmproxy:' });
 * const { admitted } = await counters.tryAdd('rpm:key:abc', 1, 60, 60_000);
 */
export class RedisCounterStore implements CounterStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #secrets: readonly string[];
  /** Slot ids this process holds per gauge key; `release` gives back one of its own. */
  readonly #slots = new Map<string, string[]>();
  readonly #owner = randomBytes(8).toString('hex');
  #nextSlot = 0;
  #closing: Promise<void> | undefined;

  constructor(redis: Redis, secrets: readonly string[], keyPrefix: string) {
    this.#redis = redis;
    this.#secrets = secrets;
    this.#prefix = keyPrefix;
    redis.defineCommand('llmproxyTryAdd', { numberOfKeys: 1, lua: TRY_ADD });
    redis.defineCommand('llmproxyAdd', { numberOfKeys: 1, lua: ADD });
    redis.defineCommand('llmproxyAcquire', { numberOfKeys: 1, lua: ACQUIRE });
  }

  async #run(name: ScriptName, ...args: Array<string | number>): Promise<unknown> {
    if (this.#closing) throw new Error('the Redis counter store is closed');
    const fn = (this.#redis as unknown as Record<ScriptName, ScriptFn>)[name];
    try {
      return await fn.apply(this.#redis, args);
    } catch (err) {
      throw scrubError(err, this.#secrets, 'Redis counter store');
    }
  }

  /** The Redis key of `key`; the braces make it a cluster hash tag, so a counter's windows share a slot. */
  #key(kind: 'rate' | 'inflight', key: string): string {
    return `${this.#prefix}${kind}:{${key}}`;
  }

  async tryAdd(key: string, amount: number, limit: number, windowMs: number): Promise<{ admitted: boolean; total: number; resetAt: number }> {
    const [admitted, total, resetAt] = (await this.#run('llmproxyTryAdd', this.#key('rate', key), amount, limit, Math.max(1, Math.trunc(windowMs)))) as [number, string, number];
    return { admitted: admitted === 1, total: Number(total), resetAt: Number(resetAt) };
  }

  async add(key: string, amount: number, windowMs: number): Promise<{ total: number; resetAt: number }> {
    const [total, resetAt] = (await this.#run('llmproxyAdd', this.#key('rate', key), amount, Math.max(1, Math.trunc(windowMs)))) as [string, number];
    return { total: Number(total), resetAt: Number(resetAt) };
  }

  async acquire(key: string, limit: number, ttlMs: number): Promise<boolean> {
    const slot = `${this.#owner}:${++this.#nextSlot}`;
    const taken = (await this.#run('llmproxyAcquire', this.#key('inflight', key), limit, Math.max(1, Math.trunc(ttlMs)), slot)) === 1;
    if (taken) {
      const held = this.#slots.get(key);
      if (held) held.push(slot);
      else this.#slots.set(key, [slot]);
    }
    return taken;
  }

  async release(key: string): Promise<void> {
    const held = this.#slots.get(key);
    const slot = held?.shift();
    if (slot === undefined) return;
    if (held!.length === 0) this.#slots.delete(key);
    if (this.#closing) return;
    try {
      // Removing a slot that already lapsed is a no-op: another replica's slot is never taken.
      await this.#redis.zrem(this.#key('inflight', key), slot);
    } catch (err) {
      throw scrubError(err, this.#secrets, 'Redis counter store');
    }
  }

  /** Throws when Redis does not answer (for /ready). */
  async ping(): Promise<void> {
    if (this.#closing) throw new Error('the Redis counter store is closed');
    try {
      await this.#redis.ping();
    } catch (err) {
      throw scrubError(err, this.#secrets, 'Redis counter store');
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#redis.quit().then(
      () => undefined,
      () => this.#redis.disconnect(),
    );
    return this.#closing;
  }
}

/**
 * Connects to Redis at `url` (`redis://[:password@]host:port[/db]`, or `rediss://` for TLS) and
 * returns the counter store once the connection answers. Errors never contain the URL.
 */
export async function openRedisCounterStore(url: string, options: RedisCounterStoreOptions = {}): Promise<RedisCounterStore> {
  const secrets = urlSecrets(url);
  let redis: Redis;
  try {
    redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      // Fail commands instead of queueing them forever while Redis is down: the limiter decides.
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
    });
  } catch (err) {
    throw scrubError(err, secrets, 'cannot open the Redis counter store');
  }
  let opened = false;
  let firstError: unknown;
  redis.on('error', (err: unknown) => {
    if (!opened) firstError ??= err;
    else options.onError?.(scrubError(err, secrets, 'Redis connection error'));
  });
  try {
    await redis.connect();
    await redis.ping();
    opened = true;
  } catch (err) {
    redis.disconnect();
    // The socket's own error (ECONNREFUSED, ENOTFOUND...) says more than ioredis's "Connection is closed".
    throw scrubError(firstError ?? err, secrets, 'cannot open the Redis counter store');
  }
  return new RedisCounterStore(redis, secrets, options.keyPrefix ?? 'llmproxy:');
}
