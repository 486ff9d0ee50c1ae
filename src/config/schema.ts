import { z } from 'zod';
import { alertsSchema } from '../alerts/config.js';
import { authSchema, rbacSchema } from '../clientauth/config.js';
import { duration, size } from '../config-fields/fields.js';
import { GOVERNANCE_FIELDS } from '../governance/config.js';
import { PROVIDERS } from '../providers/registry.js';
import { privacySchema, responsesSchema, storageSchema } from '../store/config.js';
import { upstreamSchema } from '../upstream/config.js';
import { consoleConfigSchema } from '../console/config.js';

/**
 * The root config schema, assembled from the provider registry and the sections their folders
 * own (store/, clientauth/, governance/, upstream/). Every object is strict.
 */

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
  /** The admin web console (src/console/). */
  console: consoleConfigSchema,
  /**
   * Refuse to start (and fail `config check`) when the config file, a `${file:}` secret, the TLS
   * key or the SQLite file can be read by group or others or is owned by another user; false:
   * a warning (config/permissions.ts). The flag `--strict-permissions` does the same.
   */
  strict_permissions: z.boolean().default(false),
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
  responses: responsesSchema.prefault({}),
  /** What `GET /ready` checks beyond the store and the credentials being resolved. */
  readiness: z
    .strictObject({
      /**
       * Probe every instance's provider with one cheap authenticated call (ProviderDefinition.probe)
       * in the background; /ready fails while a provider refuses an instance's credential.
       */
      probe_providers: z.boolean().default(false),
      /** How often the probes run (each /ready reads the last result). */
      probe_interval: duration()
        .prefault('60s')
        .refine((ms) => ms >= 5000, 'must be at least 5s: each round calls every provider'),
    })
    .prefault({}),
  privacy: privacySchema.prefault({}),
  rbac: rbacSchema.prefault({}),
  alerts: alertsSchema.prefault({}),
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
