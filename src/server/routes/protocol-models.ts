import { GatewayError, UNKNOWN_INSTANCE_MESSAGE } from '../../errors/gateway-error.js';
import type { RoleTable } from '../../clientauth/rbac.js';
import { endpointDenialOf } from '../../clientauth/authorize.js';
import { instanceAllowed, modelAllowed } from '../../clientauth/scopes.js';
import type { Logger } from '../../observability/logger.js';
import type { Instance } from '../../providers/instance.js';
import type { ListedModel } from '../../providers/types.js';
import type { CompiledScopes } from '../../request/principal.js';
import type { RequestContext } from '../../request/context.js';
import type { Middleware } from '../../request/types.js';
import { readAll, sendJson, type TargetDeps } from './protocol-call.js';

/** How long a provider's list is served before it is fetched again. */
const LIST_TTL_MS = 5 * 60_000;
/** A list fetch (every page) that takes longer fails; the last good list is served meanwhile. */
const FETCH_TIMEOUT_MS = 15_000;
/** After a failed fetch, the next is tried no sooner than this (a provider that is down does not slow every list). */
const RETRY_AFTER_MS = 30_000;
/** Pages followed at most (Anthropic pages by 1,000: far more models than any account has). */
const MAX_PAGES = 20;
/** Names the instances whose provider list could not be fetched and was never fetched before. */
export const LIST_INCOMPLETE_HEADER = 'x-llmproxy-models-incomplete';

interface Cached {
  /** The last list fetched; undefined while no fetch has succeeded. */
  models: readonly ListedModel[] | undefined;
  /** When `models` is next due to be fetched. */
  dueAt: number;
}

/**
 * Each instance's provider model list (its provider's `listModels`), fetched through the
 * instance (signed by the gateway, never with the client's credential) and kept for five
 * minutes. Concurrent callers share one fetch; a failed fetch is logged and the last good list
 * (if any) served, and the next fetch waits 30 seconds. Keyed by the Instance object, so a config reload that
 * rebuilds an instance starts it afresh.
 */
export class ModelLists {
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #cache = new WeakMap<Instance, Cached>();
  readonly #inflight = new WeakMap<Instance, Promise<readonly ListedModel[] | undefined>>();

  constructor(logger: Logger, now: () => number = Date.now) {
    this.#logger = logger;
    this.#now = now;
  }

  /** The instance's models: none when its provider has no list endpoint, undefined while no fetch has succeeded. */
  async models(instance: Instance): Promise<readonly ListedModel[] | undefined> {
    if (instance.provider.listModels === undefined) return [];
    const cached = this.#cache.get(instance);
    if (cached !== undefined && this.#now() < cached.dueAt) return cached.models;
    let pending = this.#inflight.get(instance);
    if (pending === undefined) {
      pending = this.#refresh(instance, cached).finally(() => this.#inflight.delete(instance));
      this.#inflight.set(instance, pending);
    }
    return pending;
  }

  async #refresh(instance: Instance, cached: Cached | undefined): Promise<readonly ListedModel[] | undefined> {
    try {
      const models = await fetchModels(instance);
      this.#cache.set(instance, { models, dueAt: this.#now() + LIST_TTL_MS });
      return models;
    } catch (err) {
      const models = cached?.models;
      this.#logger.warn({ instance: instance.name, err, serving: models === undefined ? 'aliases only' : 'the last list fetched' }, 'listing the provider models failed');
      this.#cache.set(instance, { models, dueAt: this.#now() + RETRY_AFTER_MS });
      return models;
    }
  }
}

/** Every page of the instance's list endpoint. Throws on an error answer or one the lister cannot read. */
async function fetchModels(instance: Instance): Promise<ListedModel[]> {
  const lister = instance.provider.listModels!;
  const signal = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  const models: ListedModel[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const { path, headers = {} } = lister.request(cursor);
    const segments = path.split('?', 1)[0]!.split('/').filter((s) => s !== '');
    const answer = await instance.send(instance.transparent('GET', path, segments, { accept: 'application/json', ...headers }, null), { signal });
    if (answer === undefined) throw new Error('the list request timed out');
    const body = await readAll(answer.body, instance.name);
    if (answer.statusCode !== 200) throw new Error(`the provider answered ${answer.statusCode} to GET ${path.split('?', 1)[0]}`);
    const read = lister.page(JSON.parse(body.toString('utf8')) as unknown);
    models.push(...read.models);
    if (read.next === undefined) break;
    cursor = read.next;
  }
  return models;
}

export interface ModelListRouteDeps extends TargetDeps {
  roles: RoleTable;
}

export interface ListEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/**
 * `GET /openai/{instance}/models` and `GET /v1/models`, as OpenAI's list: the models each
 * instance's provider lists plus the configured aliases, limited to what the caller's key may
 * use (its instance and model scopes, applied to the provider's model id). Per instance, ids are
 * the provider's (what `/openai/{instance}/chat/completions` takes); on `/v1`, `instance/model`
 * (what `/v1/chat/completions` takes) and the aliases. An instance whose list could not be
 * fetched yet is named in the `x-llmproxy-models-incomplete` header.
 */
export function listModels(deps: ModelListRouteDeps, lists: ModelLists): Middleware {
  return async function listProviderModels(ctx) {
    const { data, incompleteHeaders } = await collectModels(ctx, deps, lists);
    sendJson(ctx, { object: 'list', data }, incompleteHeaders);
  };
}

/**
 * The models the caller may use, as listModels describes them (for `ctx.instanceName`, or every
 * instance when it is ''), and the header naming instances whose list is missing; each client
 * protocol renders them in its own list shape.
 */
export async function collectModels(ctx: RequestContext, deps: ModelListRouteDeps, lists: ModelLists): Promise<{ data: ListEntry[]; incompleteHeaders: Record<string, string> }> {
  const principal = ctx.principal!;
  if (!deps.roles.grants(principal.roles, 'llm:read')) throw new GatewayError('permission_denied', 'your role does not grant llm:read');
  ctx.endpoint = 'models';
  const denial = endpointDenialOf(principal, 'models', ctx);
  if (denial) throw denial;
  const only = ctx.instanceName === '' ? undefined : deps.instances.resolve(ctx.instanceName);
  if (ctx.instanceName !== '' && !only) throw new GatewayError('unknown_instance', UNKNOWN_INSTANCE_MESSAGE);
  const scopes = principal.scopes;
  const instances = (only ? [only] : deps.instances.all).filter((i) => instanceAllowed(scopes, i.name));
  const listed = await Promise.all(instances.map(async (i) => ({ instance: i, models: await lists.models(i) })));
  const data: ListEntry[] = [];
  const seen = new Set<string>();
  const add = (entry: ListEntry) => {
    if (seen.has(entry.id)) return;
    seen.add(entry.id);
    data.push(entry);
  };
  for (const { instance, models } of listed) {
    for (const m of models ?? []) {
      if (modelAllowed(scopes, m.id)) add({ id: only ? m.id : `${instance.name}/${m.id}`, object: 'model', created: m.created, owned_by: instance.name });
    }
  }
  for (const alias of aliasesFor(deps, scopes, only?.name)) add(alias);
  const incomplete = listed.filter((l) => l.models === undefined).map((l) => l.instance.name);
  return { data, incompleteHeaders: incomplete.length > 0 ? { [LIST_INCOMPLETE_HEADER]: incomplete.join(', ') } : {} };
}

/** The configured aliases (for one instance, those pointing at it) the scopes allow. */
function aliasesFor(deps: ModelListRouteDeps, scopes: CompiledScopes, instance: string | undefined): ListEntry[] {
  return Object.entries(deps.aliases.current)
    .map(([alias, target]) => ({ alias, instance: target.slice(0, target.indexOf('/')), model: target.slice(target.indexOf('/') + 1) }))
    .filter((a) => (instance === undefined || a.instance === instance) && instanceAllowed(scopes, a.instance) && modelAllowed(scopes, a.model))
    .map((a) => ({ id: a.alias, object: 'model', created: 0, owned_by: a.instance }));
}
