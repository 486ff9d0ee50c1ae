import { requirePermission } from '../../clientauth/authorize.js';
import type { RoleTable } from '../../clientauth/rbac.js';
import { GatewayError, NO_ROUTE_MESSAGE } from '../../errors/gateway-error.js';
import type { RequestContext } from '../../request/context.js';
import { responseOwner } from '../../request/response-owner.js';
import type { Chain, Middleware } from '../../request/types.js';
import type { AuditTrail } from '../../store/audit-trail.js';
import { ITEM_PAGE_MAX } from '../../store/responses.js';
import type { ItemPageQuery } from '../../store/response-types.js';
import type { StoredResponses } from '../../store/stored-responses.js';
import { compose } from '../compose.js';
import { sendJson } from './protocol-call.js';

export interface StoredResponseRouteDeps {
  responses: StoredResponses;
  /** Lockdown gate and client authentication (the inference routes' `authenticate`). */
  authenticate: Middleware;
  audit: AuditTrail;
  roles: RoleTable;
}

/** The three stored-response operations, each after authentication; the id is read from the end of `ctx.path`. */
export interface StoredResponseHandlers {
  get: Middleware;
  remove: Middleware;
  inputItems: Middleware;
}

/** `…/responses/{id}` or `…/responses/{id}/input_items` at the end of a path (any prefix: `/v1`, `/openai/{instance}`). */
const STORED_PATH = /\/responses\/([^/]+)(\/input_items)?$/;
/** Ids the gateway hands out are `resp_` and hex; anything unlike an id is simply not found. */
const ID_SYNTAX = /^[A-Za-z0-9_-]{1,200}$/;

/**
 * `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`
 * over the gateway's stored responses, as OpenAI answers them. A response is visible only to its
 * owner (`responseOwner`: the caller's user, else its key); anyone else gets the same 404 as for
 * an id that never existed.
 *
 * Permissions are those of inference: reading needs `llm:read`, deleting `llm:write`. Each
 * decision is audited as an `auth` event (method, path with the response id, key, user), so a
 * DELETE is on the audit trail like the call that created the response; reads are not audited
 * beyond that and the access log.
 *
 * @example
 * const stored = storedResponseRoutes({ responses, roles, audit, authenticate });
 * await stored.get(ctx, next);  // after authentication, for GET /v1/responses/resp_123
 */
export function storedResponseRoutes(deps: Pick<StoredResponseRouteDeps, 'responses'>): StoredResponseHandlers {
  const { responses } = deps;
  return {
    async get(ctx) {
      const { id } = storedPath(ctx);
      const params = queryParams(ctx);
      if (params.get('stream') === 'true') {
        throw new GatewayError('invalid_request', 'stream: the gateway does not replay a stored response as events; retrieve it without stream', { param: 'stream' });
      }
      const stored = await responses.get(id, responseOwner(ctx.principal!));
      if (stored === undefined) throw notFound(id);
      sendJson(ctx, stored.response);
    },
    async remove(ctx) {
      const { id } = storedPath(ctx);
      if (!(await responses.delete(id, responseOwner(ctx.principal!)))) throw notFound(id);
      sendJson(ctx, { id, object: 'response', deleted: true });
    },
    async inputItems(ctx) {
      const { id } = storedPath(ctx);
      const page = await responses.inputItems(id, responseOwner(ctx.principal!), itemPageQuery(queryParams(ctx)));
      if (page === undefined) throw notFound(id);
      sendJson(ctx, page);
    },
  };
}

/**
 * One middleware serving the three operations on any path ending in `/responses/{id}` or
 * `/responses/{id}/input_items` (`/v1/responses/…`, and `/openai/{instance}/responses/…` when the
 * lead's route hands such paths to it): authentication, the permission for the method, then
 * the operation. Other methods get 405 with `Allow`.
 *
 * @example
 * const stored = storedResponseDispatch(deps);
 * if (/\/responses\/[^/]+/.test(tail)) return stored(ctx, next);
 */
export function storedResponseDispatch(deps: StoredResponseRouteDeps): Middleware {
  const handlers = storedResponseRoutes(deps);
  const read = requirePermission('llm:read', deps.audit, deps.roles, 'responses');
  const write = requirePermission('llm:write', deps.audit, deps.roles, 'responses');
  const chains: { get: Chain; remove: Chain; inputItems: Chain } = {
    get: compose([deps.authenticate, read, handlers.get]),
    remove: compose([deps.authenticate, write, handlers.remove]),
    inputItems: compose([deps.authenticate, read, handlers.inputItems]),
  };
  return async function storedResponse(ctx) {
    const m = STORED_PATH.exec(ctx.path);
    if (!m) throw new GatewayError('not_found', NO_ROUTE_MESSAGE);
    const items = m[2] !== undefined;
    const allowed = items ? 'GET' : 'GET, DELETE';
    const chain = ctx.method === 'GET' ? (items ? chains.inputItems : chains.get) : ctx.method === 'DELETE' && !items ? chains.remove : undefined;
    if (chain === undefined) throw new GatewayError('method_not_allowed', `${ctx.method} is not allowed here`, { headers: { allow: allowed } });
    await chain(ctx);
  };
}


function notFound(id: string): GatewayError {
  return new GatewayError('not_found', `Response with id '${id}' not found.`);
}

/** The response id in the path (percent-decoded); one unlike an id is not found. */
function storedPath(ctx: RequestContext): { id: string } {
  const m = STORED_PATH.exec(ctx.path);
  let id = '';
  try {
    id = m ? decodeURIComponent(m[1]!) : '';
  } catch {
    id = '';
  }
  if (!ID_SYNTAX.test(id)) throw new GatewayError('not_found', 'Response not found.');
  return { id };
}

function queryParams(ctx: RequestContext): URLSearchParams {
  return new URLSearchParams(ctx.query.length > 1 ? ctx.query.slice(1) : '');
}

/** `after`, `limit` (1–100), `order` (asc | desc; default desc) from the query; `include` is accepted (everything is stored whole). */
function itemPageQuery(params: URLSearchParams): ItemPageQuery {
  const query: ItemPageQuery = { order: 'desc' };
  const limit = params.get('limit');
  if (limit !== null) {
    const n = /^\d{1,3}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= ITEM_PAGE_MAX)) throw new GatewayError('invalid_request', `limit: must be an integer from 1 to ${ITEM_PAGE_MAX}`, { param: 'limit' });
    query.limit = n;
  }
  const order = params.get('order');
  if (order !== null) {
    if (order !== 'asc' && order !== 'desc') throw new GatewayError('invalid_request', 'order: must be "asc" or "desc"', { param: 'order' });
    query.order = order;
  }
  const after = params.get('after');
  if (after !== null && after !== '') {
    if (after.length > 200) throw new GatewayError('invalid_request', 'after: not an item id', { param: 'after' });
    query.after = after;
  }
  return query;
}
