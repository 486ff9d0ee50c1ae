import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { BudgetCounters, CounterStore } from '../types.js';
import { scrubError, urlSecrets } from '../url-secret.js';

export interface RedisCounterStoreOptions {
  /** Prepended to every key (default `llmproxy:`), so several gateways or tests share one Redis. */
  keyPrefix?: string;
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Connection errors (already scrubbed of the URL); ioredis reconnects by itself. */
  onError?: (err: Error) => void;
  /** A command not answered within this long fails (default 1 s): a Redis cut off by the network must not hold requests. */
  commandTimeoutMs?: number;
  /** Called with false when Redis stops answering and true when it answers again. */
  onHealth?: (up: boolean) => void;
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

/**
 * Budget spend: one hash per month (`budget:{<month start ms>}`), fields `g` (gateway-wide),
 * `k:<key id>` and `u:<user>`, integer micro-dollars. KEYS[1]: the hash. ARGV: amount, ttl ms,
 * fields... Adds the amount to every field and keeps the hash past the month's end.
 */
const CHARGE = `
local amount = tonumber(ARGV[1])
for i = 3, #ARGV do
  redis.call('HINCRBY', KEYS[1], ARGV[i], amount)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * Raises fields to at least the given totals (the usage rows' sums), never lowers them: a charge
 * counted here but not yet written as a row stays counted. KEYS[1]: the hash. ARGV: ttl ms,
 * then field, total pairs. Returns how many fields were raised.
 */
const RECONCILE = `
local raised = 0
for i = 2, #ARGV, 2 do
  local want = tonumber(ARGV[i + 1])
  local have = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if have < want then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    raised = raised + 1
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return raised
`;

type ScriptName = 'llmproxyTryAdd' | 'llmproxyAdd' | 'llmproxyAcquire' | 'llmproxyCharge' | 'llmproxyReconcile';

/** Thrown without a round trip while Redis is known to be unreachable (until a probe answers). */
export class CounterStoreUnavailable extends Error {
  constructor(cause?: unknown) {
    super('the shared Redis counters are unreachable', cause === undefined ? undefined : { cause });
    this.name = 'CounterStoreUnavailable';
  }
}

/** Budget hashes outlive their month by this long (late charges, reconciliation). */
const BUDGET_TTL_MS = 40 * 86_400_000;
/** Field/total pairs per reconcile call (Lua's unpack and argument limits). */
const RECONCILE_CHUNK = 500;
type ScriptFn = (...args: Array<string | number>) => Promise<unknown>;

/**
 * Rate-limit counters shared by every replica through one Redis. Each operation is one Lua
 * script, atomic on the server, so replicas racing for the last unit of a limit never both win.
 *
 * @example
 * const counters = await openRedisCounterStore(url, { keyPrefix: 'llmproxy:' });
 * const { admitted } = await counters.tryAdd('rpm:key:abc', 1, 60, 60_000);
 */
export class RedisCounterStore implements CounterStore, BudgetCounters {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #secrets: readonly string[];
  /** Slot ids this process holds per gauge key; `release` gives back one of its own. */
  readonly #slots = new Map<string, string[]>();
  readonly #owner = randomBytes(8).toString('hex');
  #nextSlot = 0;
  #closing: Promise<void> | undefined;
  #up = true;
  #probe: NodeJS.Timeout | undefined;
  readonly #onHealth: ((up: boolean) => void) | undefined;

  constructor(redis: Redis, secrets: readonly string[], keyPrefix: string, onHealth?: (up: boolean) => void) {
    this.#redis = redis;
    this.#secrets = secrets;
    this.#prefix = keyPrefix;
    this.#onHealth = onHealth;
    redis.defineCommand('llmproxyTryAdd', { numberOfKeys: 1, lua: TRY_ADD });
    redis.defineCommand('llmproxyAdd', { numberOfKeys: 1, lua: ADD });
    redis.defineCommand('llmproxyAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    redis.defineCommand('llmproxyCharge', { numberOfKeys: 1, lua: CHARGE });
    redis.defineCommand('llmproxyReconcile', { numberOfKeys: 1, lua: RECONCILE });
    onHealth?.(true);
  }

  /** False from a failed command until a probe (every second) is answered again. */
  get up(): boolean {
    return this.#up;
  }

  /**
   * Runs one command, failing at once while Redis is known to be down: requests then meet the
   * `on_counter_failure` policy without waiting for a timeout each.
   */
  async #call<T>(command: () => Promise<T>): Promise<T> {
    if (this.#closing) throw new Error('the Redis counter store is closed');
    if (!this.#up) throw new CounterStoreUnavailable();
    try {
      return await command();
    } catch (err) {
      this.#markDown();
      throw new CounterStoreUnavailable(scrubError(err, this.#secrets, 'Redis counter store'));
    }
  }

  #markDown(): void {
    if (!this.#up || this.#closing) return;
    this.#up = false;
    this.#onHealth?.(false);
    this.#probe = setInterval(() => {
      this.#redis.ping().then(
        () => this.#markUp(),
        () => undefined,
      );
    }, 1000);
    this.#probe.unref();
  }

  #markUp(): void {
    if (this.#up || this.#closing) return;
    clearInterval(this.#probe);
    this.#probe = undefined;
    this.#up = true;
    this.#onHealth?.(true);
  }

  #run(name: ScriptName, ...args: Array<string | number>): Promise<unknown> {
    const fn = (this.#redis as unknown as Record<ScriptName, ScriptFn>)[name];
    return this.#call(() => fn.apply(this.#redis, args));
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
    // Removing a slot that already lapsed is a no-op: another replica's slot is never taken.
    await this.#call(() => this.#redis.zrem(this.#key('inflight', key), slot));
  }

  #budgetKey(month: number): string {
    return `${this.#prefix}budget:{${month}}`;
  }

  /** Spend so far this month (micro-dollars) of each field (`g`, `k:<id>`, `u:<user>`). */
  async budgetSpent(month: number, fields: readonly string[]): Promise<number[]> {
    if (fields.length === 0) return [];
    const values = await this.#call(() => this.#redis.hmget(this.#budgetKey(month), ...fields));
    return values.map((v) => (v === null ? 0 : Number(v)));
  }

  /** Adds a finished request's cost to each field, atomically for every replica. */
  async budgetCharge(month: number, fields: readonly string[], micros: number): Promise<void> {
    if (fields.length === 0 || micros <= 0) return;
    await this.#run('llmproxyCharge', this.#budgetKey(month), Math.round(micros), BUDGET_TTL_MS, ...fields);
  }

  /** Raises each field to at least the usage rows' total (seeding an empty Redis, repairing charges lost while it was away). */
  async budgetReconcile(month: number, totals: ReadonlyMap<string, number>): Promise<void> {
    const pairs = [...totals].filter(([, v]) => v > 0);
    for (let i = 0; i < pairs.length; i += RECONCILE_CHUNK) {
      const args = pairs.slice(i, i + RECONCILE_CHUNK).flatMap(([f, v]) => [f, Math.round(v)]);
      await this.#run('llmproxyReconcile', this.#budgetKey(month), BUDGET_TTL_MS, ...args);
    }
  }

  /** Throws when Redis does not answer (for /ready); a probe that answers also ends a known outage. */
  async ping(): Promise<void> {
    if (this.#closing) throw new Error('the Redis counter store is closed');
    try {
      await this.#redis.ping();
    } catch (err) {
      throw scrubError(err, this.#secrets, 'Redis counter store');
    }
    this.#markUp();
  }

  /** Publishes `message` on `channel` (fails at once while Redis is known to be down). */
  async publish(channel: string, message: string): Promise<void> {
    await this.#call(() => this.#redis.publish(channel, message));
  }

  /** A second connection for publish/subscribe (a subscribed connection can run nothing else). */
  duplicate(): Redis {
    return this.#redis.duplicate();
  }

  /** Prepended to every key and channel. */
  get keyPrefix(): string {
    return this.#prefix;
  }

  close(): Promise<void> {
    if (this.#probe) clearInterval(this.#probe);
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
      commandTimeout: options.commandTimeoutMs ?? 1000,
      // A command that timed out was answered by the policy already: never run it after a reconnect.
      autoResendUnfulfilledCommands: false,
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
  return new RedisCounterStore(redis, secrets, options.keyPrefix ?? 'llmproxy:', options.onHealth);
}
