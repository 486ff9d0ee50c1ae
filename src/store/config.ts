import { z } from 'zod';
import { duration, secretRef, size } from '../config-fields/fields.js';

/**
 * One SQLite file by default. With `postgres`, keys, users, audit and usage live in PostgreSQL
 * (shared by every replica; `sqlite` is then unused); with `redis`, rate-limit counters are
 * shared. Both URLs hold a password, so they must be secret references.
 */
export const storageSchema = z.strictObject({
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

/** The `storage` section. */
export type StorageConfig = z.output<typeof storageSchema>;

/**
 * The `responses` section: the Responses API's stored responses (`store: true`,
 * `previous_response_id`, `GET /v1/responses/{id}`), kept in the store above.
 */
export const responsesSchema = z.strictObject({
  /** False: nothing is ever stored; `store: true` requests are answered but not kept, and every stored-response read is 404. */
  store: z.boolean().default(true),
  /** A stored response is deleted this long after it was created (OpenAI keeps them 30 days). */
  retention: duration().prefault('30d'),
  /** A response whose input items and Response JSON together exceed this is answered but not stored (logged). */
  max_size: size().prefault('8mb'),
});

/** The `responses` section. */
export type ResponsesConfig = z.output<typeof responsesSchema>;

/**
 * The `privacy` section: what the gateway keeps about people. `ip` is how client addresses are
 * written to the audit trail and the request log (`truncated`: the IPv4 /24 or IPv6 /48 network;
 * `none`: `-`); rate limiting and throttles still see the full address. With `pseudonymise`,
 * `users delete --purge` replaces the user's name in usage and audit rows with a keyed hash
 * (HMAC-SHA256 under `pseudonymise_key`), so aggregates survive and the name does not.
 */
export const privacySchema = z
  .strictObject({
    ip: z.enum(['full', 'truncated', 'none']).default('full'),
    pseudonymise: z.boolean().default(false),
    /** A secret reference; required with `pseudonymise: true`. */
    pseudonymise_key: secretRef().optional(),
  })
  .superRefine((p, ctx) => {
    if (p.pseudonymise && p.pseudonymise_key === undefined) {
      ctx.addIssue({ code: 'custom', path: ['pseudonymise_key'], message: 'required when pseudonymise is true (a secret reference, e.g. ${env:LLMPROXY_PSEUDONYM_KEY})' });
    }
  });

/** The `privacy` section. */
export type PrivacyConfig = z.output<typeof privacySchema>;
