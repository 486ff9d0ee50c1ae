import { z } from 'zod';
import { FEDERATED_AUTH_FIELDS } from '../clientauth/federated-config.js';
import { LOCAL_AUTH_FIELDS } from '../clientauth/local-config.js';
import { PERMISSIONS } from '../clientauth/rbac.js';
import { GOVERNANCE_FIELDS } from '../governance/config.js';
import { PROVIDERS } from '../providers/registry.js';
import { duration, secretRef, size } from './fields.js';

/** The root config schema, assembled from the provider registry. Every object is strict. */

const instanceName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,62}$/, 'instance names are lower case letters, digits, "_" and "-", starting with a letter');

const [first, ...rest] = PROVIDERS.map((p) => p.schema);
const instanceConfig = z.discriminatedUnion('type', [first!, ...rest]);

const cidr = z.string().refine((s) => /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(s), 'must be an IP address or CIDR block');

const serverSchema = z.strictObject({
  host: z.string().default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(8080),
  tls: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(8443),
      cert_file: z.string().min(1),
      key_file: z.string().min(1),
    })
    .optional(),
  metrics: z
    .strictObject({
      /** Require a credential with `metrics:read` (admin or viewer) to read /metrics. */
      require_auth: z.boolean().default(false),
      /** Serve /metrics on its own listener instead of the main port. */
      port: z.number().int().min(0).max(65535).optional(),
    })
    .prefault({}),
  /** Peers whose X-Forwarded-For is trusted to name the client (load balancers, ingress). */
  trusted_proxies: z.array(cidr).default([]),
  /** Largest request body accepted (413 beyond); instances may lower or raise it. */
  body_limit: size().prefault('10mb'),
  /** How long in-flight requests and streams may run after SIGTERM. */
  shutdown_timeout: duration().prefault('30s'),
  /**
   * How long an idle connection stays open: between requests on HTTP/1.1, with no open stream on
   * HTTP/2. Longer than a load balancer's idle timeout, so the balancer closes first.
   */
  keep_alive_timeout: duration().prefault('65s'),
  /** Time to receive a request's headers, from the connection's first byte or the request's start (then 408 and close). */
  headers_timeout: duration().prefault('10s'),
  /**
   * Time to receive a whole request, headers and body (then 408 and close). The response may
   * take as long as it takes: `upstream` timeouts bound that.
   */
  request_timeout: duration().prefault('60s'),
  /** Open client connections per listener, all addresses together; past it a new connection gets 503 and is closed. */
  max_connections: z.number().int().positive().default(20_000),
  /** Open client connections per peer address (trusted proxies exempt); past it, 503 and close. */
  max_connections_per_client: z.number().int().positive().default(512),
  /** Deepest JSON nesting accepted in a request body protocol mode parses (400 beyond). */
  json_depth_limit: z.number().int().min(8).max(1000).default(128),
  /** Longest line accepted in a provider's event stream; past it the stream ends with an error. */
  stream_line_limit: size().prefault('1mb'),
});

/**
 * One SQLite file by default. With `postgres`, keys, users, audit and usage live in PostgreSQL
 * (shared by every replica; `sqlite` is then unused); with `redis`, rate-limit counters are
 * shared. Both URLs hold a password, so they must be secret references.
 */
const storageSchema = z.strictObject({
  sqlite: z.strictObject({ path: z.string().min(1).default('./data/llmproxy.db') }).prefault({}),
  postgres: z
    .strictObject({
      /** `postgres://user:password@host:5432/db`, as a secret reference (`${env:...}`, `${file:...}`, `${vault:...}`...). */
      url: secretRef(),
      /** Most connections per replica. */
      pool_size: z.number().int().min(1).max(100).default(10),
      connect_timeout: duration().prefault('10s'),
      /** A query not answered within this long fails: requests that need the store get 503 `store_unavailable` instead of waiting on a cut connection. */
      query_timeout: duration().prefault('30s'),
    })
    .optional(),
  redis: z
    .strictObject({
      /** `redis://[:password@]host:6379[/db]` or `rediss://...`, as a secret reference. */
      url: secretRef(),
      /** Prepended to every key, so several gateways (or environments) can share one Redis. */
      key_prefix: z.string().min(1).max(100).default('llmproxy:'),
      connect_timeout: duration().prefault('10s'),
      /** A command not answered within this long counts as Redis being unreachable (`governance.on_counter_failure` then decides). */
      command_timeout: duration().prefault('1s'),
    })
    .optional(),
  /**
   * Write-ahead journal of usage rows and audit events (store/journal.ts): each is appended to a
   * local file before it waits in memory for its batched write, so a process killed outright
   * (SIGKILL, OOM kill), or stopped while the store refuses writes, loses none; the next start
   * (or a live process sharing the folder) writes them. It survives the death of the process,
   * not of the machine (no fsync). Give each deployment's data volume its own folder.
   */
  journal: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Folder (each process writes in a subfolder of its own); default: `journal` beside the SQLite file (./data/journal). */
      path: z.string().min(1).optional(),
    })
    .prefault({}),
});

const authSchema = z.strictObject({
  api_keys: z
    .strictObject({
      enabled: z.boolean().default(true),
      require_totp: z.boolean().default(false),
      /** How long a verified key is trusted without a slow hash (revocations still apply at once). */
      cache_ttl: duration().prefault('10m'),
      /** How often the store is polled for revocations made by other processes. */
      revocation_poll: duration().prefault('1s'),
      /** Create and print one admin key on first start with an empty store. */
      bootstrap_admin: z.boolean().default(true),
    })
    .prefault({}),
  failed_attempts: z
    .strictObject({
      /** Failed authentications per client address within `window` before 429. */
      limit: z.number().int().positive().default(20),
      window: duration().prefault('1m'),
      /** Slow credential checks (argon2 password hashes, key hashes) running at once for one client address; more wait their turn or get 429. */
      max_concurrent_per_client: z.number().int().positive().default(4),
      /** Slow credential checks running at once in the whole process (argon2 shares libuv's small thread pool with DNS and files). */
      max_concurrent: z.number().int().positive().default(32),
    })
    .prefault({}),
  ...LOCAL_AUTH_FIELDS,
  ...FEDERATED_AUTH_FIELDS,
});

const roleName = z.string().regex(/^[a-z][a-z0-9_.:-]{0,62}$/, 'role names are lower case letters, digits, "_", ".", ":" and "-", starting with a letter');

/** Custom roles beside the built-in admin, developer and viewer. */
const rbacSchema = z.strictObject({
  roles: z
    .record(roleName, z.strictObject({ permissions: z.array(z.enum(PERMISSIONS)).min(1) }))
    .default({})
    .superRefine((roles, ctx) => {
      for (const name of ['admin', 'developer', 'viewer']) {
        if (Object.hasOwn(roles, name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is a built-in role and cannot be redefined' });
      }
    }),
});

const upstreamSchema = z.strictObject({
  connect_timeout: duration().prefault('10s'),
  first_byte_timeout: duration().prefault('10m'),
  idle_timeout: duration().prefault('5m'),
});

export const configSchema = z.strictObject({
  server: serverSchema.prefault({}),
  storage: storageSchema.prefault({}),
  auth: authSchema.prefault({}),
  secrets: z.strictObject({ refresh_interval: duration().prefault('5m') }).prefault({}),
  upstream: upstreamSchema.prefault({}),
  logging: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .prefault({}),
  audit: z
    .strictObject({
      retention: duration().prefault('90d'),
      /** Audit events are written to the store in batches at this interval (and journaled at once, see storage.journal). */
      flush_interval: duration().prefault('1s'),
    })
    .prefault({}),
  rbac: rbacSchema.prefault({}),
  ...GOVERNANCE_FIELDS,
  instances: z.record(instanceName, instanceConfig).refine((r) => Object.keys(r).length > 0, 'at least one instance is required'),
  /** Protocol mode's /v1 routes: a model name clients use → `instance/provider-model-id`. */
  model_aliases: z.record(z.string().min(1).max(256), z.string().regex(/^[a-z][a-z0-9_-]{0,62}\/.+$/, 'must be "instance/model"')).default({}),
}).superRefine((config, ctx) => {
  for (const [alias, target] of Object.entries(config.model_aliases)) {
    const instance = target.slice(0, target.indexOf('/'));
    if (!Object.hasOwn(config.instances, instance)) {
      ctx.addIssue({ code: 'custom', path: ['model_aliases', alias], message: `names instance "${instance}", which is not configured` });
    }
  }
});

export type Config = z.output<typeof configSchema>;
export type InstanceConfig = Config['instances'][string];
