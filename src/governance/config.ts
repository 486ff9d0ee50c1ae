import { z } from 'zod';
import { duration } from '../config-fields/fields.js';

/**
 * Root config fields for rate limits, budgets, prices, usage accounting and lockdown (spread
 * into the root schema). Every object is strict.
 *
 * @example
 * limits:
 *   default: { rpm: 600, tpm: 200000, concurrent: 20 }   # each key (or principal)
 *   roles: { developer: { rpm: 60, tpm: 100000, concurrent: 5 } }   # each principal with the role
 *   users: { alice: { rpm: 120, concurrent: 10 } }     # shared by all of alice's keys and sessions
 * budgets:
 *   monthly_usd: 1000                                  # global; default $LLM_MONTHLY_BUDGET
 *   users: { alice: 50 }
 * pricing:
 *   models: { my-finetune: { input_per_mtok: 3, output_per_mtok: 12 } }
 *   unpriced: { input_per_mtok: 15, output_per_mtok: 75 }   # any model not priced above or built in
 */

/** One set of limits; an absent field means no limit of that kind. */
const limitSet = z.strictObject({
  /** Requests per minute (fixed one-minute windows). */
  rpm: z.number().int().positive().optional(),
  /** Tokens (input + output) per minute: admitted against an estimate, charged with the reported usage. */
  tpm: z.number().int().positive().optional(),
  /** Requests in flight at once (streams included). */
  concurrent: z.number().int().positive().optional(),
});

export type LimitSet = z.output<typeof limitSet>;

const limitsSchema = z.strictObject({
  /** Limits of each principal (API key, or user session / token subject) unless a role or the key sets its own. */
  default: limitSet.optional(),
  /** Limits of each principal holding the role (the smallest wins when several roles set one); a key's own rpm/tpm win over these. */
  roles: z.record(z.string().min(1), limitSet).default({}),
  /** Limits shared by every key and session of the user, in addition to the principal's own. */
  users: z.record(z.string().min(1), limitSet).default({}),
  /** How the tokens of a request are estimated before the provider reports them. */
  estimate: z
    .strictObject({
      /** The request body's size divided by this is the prompt estimate. */
      bytes_per_token: z.number().positive().default(4),
      /** Added when the request names no max_tokens (or a provider's equivalent). */
      default_max_tokens: z.number().int().nonnegative().default(1024),
    })
    .prefault({}),
  /** An in-flight slot never released (a crashed replica) lapses after this long. */
  concurrency_ttl: duration().prefault('15m'),
});

const budgetsSchema = z.strictObject({
  /** Gateway-wide monthly budget in USD; default: the environment variable LLM_MONTHLY_BUDGET, if set. */
  monthly_usd: z.number().positive().optional(),
  /** Monthly budgets per user in USD (keys carry their own, `keys create --budget-usd`). */
  users: z.record(z.string().min(1), z.number().positive()).default({}),
  /** Share of a budget at which a warning is logged and counted (once per scope and month). */
  warn_ratio: z.number().gt(0).max(1).default(0.8),
  /** How often spend is re-read from the usage store (other processes' and replicas' spend). */
  refresh_interval: duration().prefault('15s'),
});

const modelPrice = z.strictObject({
  /** USD per million input (prompt) tokens. */
  input_per_mtok: z.number().nonnegative(),
  /** USD per million output (completion) tokens. */
  output_per_mtok: z.number().nonnegative(),
});

export type ModelPrice = z.output<typeof modelPrice>;

const pricingSchema = z.strictObject({
  /** Model id (or id prefix) → price; added to and overriding the built-in table (governance/pricing.ts). */
  models: z.record(z.string().min(1), modelPrice).default({}),
  /**
   * The price charged (usage rows and budgets) for a model no entry prices. Default $0: local
   * models (Ollama) are free; every such request is still logged once per model, counted
   * (`llmproxy_unpriced_requests_total`) and marked in the usage summary.
   */
  unpriced: modelPrice.prefault({ input_per_mtok: 0, output_per_mtok: 0 }),
});

const usageSchema = z.strictObject({
  /** Usage rows are written in batches at this interval... */
  flush_interval: duration().prefault('1s'),
  /** ...or as soon as this many are waiting. */
  batch_size: z.number().int().positive().default(500),
  /** Rows older than this are deleted (daily, in batches: store/retention.ts). */
  retention: duration().prefault('400d'),
});

const lockdownSchema = z.strictObject({
  /** How often the store's lockdown settings are read (changes by the CLI or another replica). */
  poll_interval: duration().prefault('1s'),
});

const counterFailurePolicy = z.enum(['open', 'closed']);

const governanceSchema = z.strictObject({
  /**
   * What rate limits and budgets do while the shared Redis counters (`storage.redis`) are
   * unreachable. `open`: requests go on; rate limits are counted by each replica on its own
   * and budgets are checked against this replica's last known spend. `closed`: requests a rate
   * limit or budget applies to are refused with 503 `counters_unavailable`. One value sets both;
   * default: rate limits open, budgets closed (money is never spent blind).
   */
  on_counter_failure: z
    .union([
      counterFailurePolicy.transform((p) => ({ rate_limits: p, budgets: p })),
      z.strictObject({ rate_limits: counterFailurePolicy.default('open'), budgets: counterFailurePolicy.default('closed') }),
    ])
    .prefault({}),
});

export type CounterFailurePolicy = z.output<typeof counterFailurePolicy>;

export const GOVERNANCE_FIELDS = {
  governance: governanceSchema.prefault({}),
  limits: limitsSchema.prefault({}),
  budgets: budgetsSchema.prefault({}),
  pricing: pricingSchema.prefault({}),
  usage: usageSchema.prefault({}),
  lockdown: lockdownSchema.prefault({}),
};

/** The top-level sections governance owns (`governance`, `limits`, `budgets`, `pricing`, `usage`, `lockdown`). */
export type GovernanceConfig = { [K in keyof typeof GOVERNANCE_FIELDS]: z.output<(typeof GOVERNANCE_FIELDS)[K]> };

export type LimitsConfig = z.output<typeof limitsSchema>;
export type BudgetsConfig = z.output<typeof budgetsSchema>;
