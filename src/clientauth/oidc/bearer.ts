import type { RequestContext } from '../../request/context.js';
import { bearerToken, peekJwt, type PeekedJwt } from './jwt.js';

export interface BearerJwt extends PeekedJwt {
  token: string;
}

const seen = new WeakMap<RequestContext, BearerJwt | null>();

/**
 * The request's `Authorization: Bearer` JWT, decoded without verification, once per request
 * (both the Kubernetes and the OIDC authenticator look at it to decide whether it is theirs).
 */
export function bearerJwt(ctx: RequestContext): BearerJwt | undefined {
  let v = seen.get(ctx);
  if (v === undefined) {
    const token = bearerToken(ctx.req.headers.authorization);
    const peeked = token === undefined ? undefined : peekJwt(token);
    v = peeked && token !== undefined ? { ...peeked, token } : null;
    seen.set(ctx, v);
  }
  return v ?? undefined;
}
