import { GatewayError } from '../errors/gateway-error.js';
import { toHttp } from '../errors/http.js';
import type { RequestContext } from '../request/context.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SettingsStore } from '../store/governance-types.js';
import type { AuditEvent } from '../store/types.js';
import { abortResponse } from '../util/http.js';

/** Store setting names (JSON values), shared by every process and the CLI. */
export const LOCKDOWN_SETTING = 'lockdown';
export const DISABLED_INSTANCES_SETTING = 'disabled_instances';

export interface LockdownRecord {
  on: boolean;
  reason: string | null;
  actor: string | null;
  since: number | null;
}

export interface InstanceDisable {
  reason: string | null;
  actor: string | null;
  since: number;
}

/** What `governance.lockdown.state()` and `llmproxy lockdown status --json` report. */
export interface LockdownState {
  /** Whether inference routes answer 503 now. */
  on: boolean;
  /** `env` when LLM_EMERGENCY_MODE or LLM_DISABLE_ALL_PROVIDERS forces it (the store cannot turn it off). */
  source: 'env' | 'store' | null;
  reason: string | null;
  actor: string | null;
  since: number | null;
  /** Instances answering 503 `instance_disabled`, by name. */
  disabledInstances: Record<string, InstanceDisable>;
}

const OFF: LockdownRecord = { on: false, reason: null, actor: null, since: null };
const MAX_REASON = 500;

/** The variables that force the lockdown on when true (or 1/yes/on): seed 004's two spellings of one switch. */
export const EMERGENCY_VARIABLES = ['LLM_EMERGENCY_MODE', 'LLM_DISABLE_ALL_PROVIDERS'] as const;

/** The first of EMERGENCY_VARIABLES set to true in `env`, or undefined. */
export function emergencyVariable(env: NodeJS.ProcessEnv = process.env): (typeof EMERGENCY_VARIABLES)[number] | undefined {
  return EMERGENCY_VARIABLES.find((name) => {
    const v = env[name]?.trim().toLowerCase();
    return v === 'true' || v === '1' || v === 'yes' || v === 'on';
  });
}

/** LLM_EMERGENCY_MODE=true or LLM_DISABLE_ALL_PROVIDERS=true (or 1/yes/on) forces the lockdown on (seed 004). */
export function emergencyModeFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return emergencyVariable(env) !== undefined;
}

export async function readLockdown(settings: SettingsStore): Promise<{ lockdown: LockdownRecord; disabled: Record<string, InstanceDisable> }> {
  const [l, d] = await Promise.all([settings.get(LOCKDOWN_SETTING), settings.get(DISABLED_INSTANCES_SETTING)]);
  const lockdown = l ? ({ ...OFF, ...(JSON.parse(l.value) as Partial<LockdownRecord>) } as LockdownRecord) : OFF;
  const disabled = d ? (JSON.parse(d.value) as Record<string, InstanceDisable>) : {};
  return { lockdown: { ...lockdown, on: lockdown.on === true }, disabled };
}

const clip = (reason: string | undefined | null) => (reason ? reason.slice(0, MAX_REASON) : null);

export async function writeLockdown(settings: SettingsStore, on: boolean, actor: string, reason: string | undefined, now = Date.now()): Promise<LockdownRecord> {
  const record: LockdownRecord = { on, reason: clip(reason), actor, since: now };
  await settings.set(LOCKDOWN_SETTING, JSON.stringify(record));
  return record;
}

export async function writeInstanceDisabled(settings: SettingsStore, name: string, disabled: boolean, actor: string, reason: string | undefined, now = Date.now()): Promise<Record<string, InstanceDisable>> {
  const { disabled: current } = await readLockdown(settings);
  const next = { ...current };
  if (disabled) next[name] = { reason: clip(reason), actor, since: now };
  else delete next[name];
  await settings.set(DISABLED_INSTANCES_SETTING, Object.keys(next).length === 0 ? null : JSON.stringify(next));
  return next;
}

/** Who asked for a lockdown change, for its audit event. */
export interface LockdownChangeMeta {
  requestId?: string;
  clientAddress?: string;
  keyId?: string | undefined;
}

/** The audit event for a lockdown change (`event: 'lockdown'`); `reason` says what changed and why. */
export function lockdownAuditEvent(change: {
  on: boolean;
  instance?: string;
  actor: string;
  reason?: string | undefined;
  method: string;
  requestId?: string;
  clientAddress?: string;
  /** The key that made the change (admin API, console), for tracing the event back. */
  keyId?: string | undefined;
  /** The state before the change, when known (the admin API): the audit detail then shows before and after. */
  was?: boolean;
  now?: number;
}): AuditEvent {
  const what = change.instance === undefined ? (change.on ? 'lockdown on' : 'lockdown off') : change.on ? 'instance disabled' : 'instance enabled';
  return {
    time: change.now ?? Date.now(),
    requestId: change.requestId ?? '',
    event: 'lockdown',
    result: 'success',
    reason: clip(change.reason ? `${what}: ${change.reason}` : what),
    method: change.method,
    keyId: change.keyId ?? null,
    user: change.actor,
    clientAddress: change.clientAddress ?? 'local',
    httpMethod: change.method === 'cli' ? 'CLI' : 'POST',
    path: change.instance === undefined ? 'lockdown' : 'lockdown/instance',
    instance: change.instance ?? null,
    detail: {
      ...(change.instance === undefined ? { lockdown: change.on, reason: clip(change.reason) } : { instance: change.instance, disabled: change.on, reason: clip(change.reason) }),
      ...(change.was === undefined ? {} : { before: { [change.instance === undefined ? 'on' : 'disabled']: change.was }, after: { [change.instance === undefined ? 'on' : 'disabled']: change.on } }),
    },
  };
}

export interface LockdownControllerOptions {
  settings: SettingsStore;
  logger: Logger;
  metrics: Metrics;
  /** Records audit events (the AuditTrail). */
  audit: (event: AuditEvent) => void;
  pollMs: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

/**
 * The emergency switch. Its state lives in the store so the CLI and other replicas change it;
 * this process polls it every `pollMs` and applies its own changes at once. While on, inference
 * requests are refused before authentication, and turning it on cuts every inference request in
 * flight (emergency stop): one that has sent nothing yet gets 503 `lockdown`, a response or
 * stream under way is reset (the client sees a failure, never a truncated success), and the
 * upstream request is aborted.
 */
export class LockdownController {
  readonly #o: LockdownControllerOptions;
  /** The variable forcing the lockdown on, if any. */
  readonly #envVariable: string | undefined;
  readonly #env: boolean;
  #record: LockdownRecord = OFF;
  #disabled: Record<string, InstanceDisable> = {};
  #disabledSet = new Set<string>();
  readonly #inflight = new Set<RequestContext>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #pollAgain = false;

  constructor(options: LockdownControllerOptions) {
    this.#o = options;
    this.#envVariable = emergencyVariable(options.env);
    this.#env = this.#envVariable !== undefined;
    options.metrics.trackLockdown(() => this.on);
  }

  get on(): boolean {
    return this.#env || this.#record.on;
  }

  isDisabled(instance: string): boolean {
    return this.#disabledSet.size > 0 && this.#disabledSet.has(instance);
  }

  state(): LockdownState {
    const r = this.#env ? { on: true, reason: `${this.#envVariable}=true in the environment`, actor: 'environment', since: null } : this.#record;
    return { on: this.on, source: this.#env ? 'env' : this.#record.on ? 'store' : null, reason: r.reason, actor: r.actor, since: r.since, disabledInstances: { ...this.#disabled } };
  }

  async start(): Promise<void> {
    if (this.#env) this.#o.logger.warn({ event: 'lockdown', variable: this.#envVariable }, `${this.#envVariable}=true: every inference route answers 503 until the variable is removed`);
    await this.poll();
    this.#timer = setInterval(() => void this.poll(), this.#o.pollMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Reads the store's settings and applies them; a failed read keeps the last state. A call
   * during a read runs one more read after it (the change it was called for may have been
   * written after the running read began).
   */
  poll(): Promise<void> {
    if (this.#polling) {
      this.#pollAgain = true;
      return this.#polling;
    }
    this.#polling = (async () => {
      do {
        this.#pollAgain = false;
        try {
          const { lockdown, disabled } = await readLockdown(this.#o.settings);
          this.#apply(lockdown, disabled);
        } catch (err) {
          this.#o.logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'reading the lockdown state failed; keeping the last one');
        }
      } while (this.#pollAgain);
    })().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  /** Turns the lockdown on or off for every process (this one at once); audited. */
  async set(on: boolean, actor: string, reason?: string, meta: LockdownChangeMeta = {}): Promise<LockdownState> {
    const was = this.#record.on;
    const record = await writeLockdown(this.#o.settings, on, actor, reason, this.#now());
    this.#o.audit(lockdownAuditEvent({ on, actor, reason, method: 'admin_api', was, ...meta }));
    this.#apply(record, this.#disabled);
    return this.state();
  }

  /** Disables (503 `instance_disabled`) or re-enables one instance for every process; audited. */
  async setInstance(name: string, disabled: boolean, actor: string, reason?: string, meta: LockdownChangeMeta = {}): Promise<LockdownState> {
    const was = this.#disabled[name] !== undefined;
    const next = await writeInstanceDisabled(this.#o.settings, name, disabled, actor, reason, this.#now());
    this.#o.audit(lockdownAuditEvent({ on: disabled, instance: name, actor, reason, method: 'admin_api', was, ...meta }));
    this.#apply(this.#record, next);
    return this.state();
  }

  /** Counts an inference request in (so an emergency stop can cut it); `untrack` at finish. */
  track(ctx: RequestContext): void {
    this.#inflight.add(ctx);
  }

  untrack(ctx: RequestContext): void {
    this.#inflight.delete(ctx);
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  #apply(record: LockdownRecord, disabled: Record<string, InstanceDisable>): void {
    const wasOn = this.on;
    if (record.on !== this.#record.on) {
      this.#o.logger.warn({ event: 'lockdown', on: record.on, actor: record.actor, reason: record.reason }, record.on ? 'lockdown on: inference routes answer 503' : 'lockdown off');
    }
    this.#record = record;
    const names = Object.keys(disabled);
    if (names.length !== this.#disabledSet.size || names.some((n) => !this.#disabledSet.has(n))) {
      this.#o.logger.warn({ event: 'instances_disabled', instances: names }, 'disabled instances changed');
    }
    this.#disabled = disabled;
    this.#disabledSet = new Set(names);
    if (!wasOn && this.on) this.#cutInflight();
  }

  #cutInflight(): void {
    const cut = [...this.#inflight];
    this.#inflight.clear();
    for (const ctx of cut) cutRequest(ctx);
    if (cut.length > 0) this.#o.logger.warn({ event: 'lockdown', cut: cut.length }, 'lockdown: in-flight inference requests cut');
  }
}

/**
 * Ends one request now: 503 `lockdown` if nothing was sent yet, else a reset; the upstream is
 * aborted. A request not yet forwarded (no `ctx.abort`: still authenticating or reading its
 * body) is left to the governance step after authorization, which refuses it with the same 503.
 */
function cutRequest(ctx: RequestContext): void {
  const res = ctx.res;
  if (ctx.abort === undefined && !res.headersSent) return;
  ctx.errorCode = 'lockdown';
  if (!res.headersSent && !res.writableEnded) {
    const answer = toHttp(new GatewayError('lockdown', LOCKDOWN_MESSAGE), ctx.errorFlavour, undefined, ctx.id);
    res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
    res.end(answer.body);
  } else if (!res.writableEnded) {
    abortResponse(res);
  }
  ctx.abort?.abort();
}

export const LOCKDOWN_MESSAGE = 'The gateway is in emergency lockdown: inference is disabled by an operator. Try again later.';
