import { resolve } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import { readSecretOnce } from '../secrets/read-once.js';
import { announceChanges } from './announce.js';
import type { StorageConfig } from './config.js';
import type { RedisCounterStore } from './redis/counters.js';
import { publishEvent } from './redis/events.js';
import { openSqliteStore } from './sqlite/index.js';
import type { Store } from './types.js';
import { urlSecrets } from './url-secret.js';

/** What opening a networked store may use: the scrubber learns the connection URL's secrets; the logger hears about dropped connections. */
export interface StoreOpenOptions {
  scrubber?: SecretScrubber;
  logger?: Logger;
  /** The shared counters' health (false while Redis does not answer). */
  onHealth?: (up: boolean) => void;
}

/**
 * The one place that picks the store from `storage`: PostgreSQL when `storage.postgres` is set,
 * else the SQLite file (relative to `baseDir`). Used by the gateway and every CLI command.
 * The PostgreSQL and Redis modules (and their clients, `pg` and `ioredis`) are imported here on
 * first use only: a gateway on SQLite alone never loads them (with `qrcode`, deferred likewise
 * in cli/totp.ts, they were 16 MB of an idle gateway's RSS).
 * The PostgreSQL URL is a secret reference, resolved once here (a changed password needs a
 * restart); its value is registered with `options.scrubber` so no log line can carry it.
 *
 * @example
 * const store = await openStore(loaded.config, loaded.baseDir, { scrubber, logger });
 */
export async function openStore(config: { storage: StorageConfig }, baseDir: string, options: StoreOpenOptions = {}): Promise<Store> {
  const pg = config.storage.postgres;
  if (!pg) return openSqliteStore(resolve(baseDir, config.storage.sqlite.path));
  const url = await resolveConnectionUrl('storage.postgres.url', pg.url, baseDir, options.scrubber);
  const { openPostgresStore } = await import('./postgres/index.js');
  return openPostgresStore(url, {
    poolSize: pg.pool_size,
    connectTimeoutMs: pg.connect_timeout,
    queryTimeoutMs: pg.query_timeout,
    onError: (err) => options.logger?.warn({ error: err.message }, 'PostgreSQL connection dropped; the pool reconnects'),
  });
}

/**
 * The store for a CLI command: with `storage.redis`, the changes it makes to keys and the
 * lockdown are announced to running gateways, which apply them at once instead of at their next
 * poll. Redis being unreachable does not stop the command (the gateways' poll still sees it).
 */
export async function openCliStore(config: { storage: StorageConfig }, baseDir: string, options: StoreOpenOptions = {}): Promise<Store> {
  const store = await openStore(config, baseDir, options);
  if (!config.storage.redis) return store;
  let counters: RedisCounterStore | undefined;
  try {
    counters = await openCounterStore(config, baseDir, options);
  } catch {
    return store;
  }
  const shared = counters!;
  return announceChanges(
    store,
    (event) => publishEvent(shared, event).catch(() => undefined),
    () => shared.close(),
  );
}

/**
 * The shared rate-limit counters: Redis when `storage.redis` is set, else undefined (governance
 * then counts in memory, per replica).
 */
export async function openCounterStore(config: { storage: StorageConfig }, baseDir = '.', options: StoreOpenOptions = {}): Promise<RedisCounterStore | undefined> {
  const redis = config.storage.redis;
  if (!redis) return undefined;
  const url = await resolveConnectionUrl('storage.redis.url', redis.url, baseDir, options.scrubber);
  const { openRedisCounterStore } = await import('./redis/counters.js');
  return openRedisCounterStore(url, {
    keyPrefix: redis.key_prefix,
    connectTimeoutMs: redis.connect_timeout,
    commandTimeoutMs: redis.command_timeout,
    onError: (err) => options.logger?.warn({ error: err.message }, 'Redis connection error; reconnecting'),
    ...(options.onHealth ? { onHealth: options.onHealth } : {}),
  });
}

/** Reads a connection URL's secret reference once; errors name the field and the reference, never a value. */
async function resolveConnectionUrl(field: string, reference: string, baseDir: string, scrubber: SecretScrubber | undefined): Promise<string> {
  const url = await readSecretOnce(field, reference, baseDir);
  if (scrubber) for (const s of urlSecrets(url)) scrubber.add(s);
  return url;
}
