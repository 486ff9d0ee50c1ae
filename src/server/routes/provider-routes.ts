import { auditEvent } from '../../request/audit.js';
import type { RequestContext } from '../../request/context.js';
import type { RouteSpec } from '../../request/types.js';
import { DEFAULT_JSON_DEPTH_LIMIT } from '../../protocol/json.js';
import type { RouteKit } from '../../providers/routes.js';
import type { ProviderDefinition } from '../../providers/types.js';
import { forward } from '../forward.js';
import { forwardTransparent, resolveInstance, type TransparentRouteDeps } from './transparent.js';

/** What the providers' routes need beyond the transparent chain's deps. */
export interface ProviderRouteDeps extends TransparentRouteDeps {
  /** `server.json_depth_limit`; DEFAULT_JSON_DEPTH_LIMIT when absent. */
  jsonDepthLimit?: number;
}

/**
 * The routes every provider adds (its definition's `routes`), built from the same steps as
 * `/transparent/`: the server names no provider, a provider's folder declares its routes.
 */
export function providerRoutes(providers: Iterable<ProviderDefinition>, deps: ProviderRouteDeps): RouteSpec[] {
  const kit = routeKit(deps);
  return [...providers].flatMap((p) => p.routes?.(kit) ?? []);
}

function routeKit(deps: ProviderRouteDeps): RouteKit<RequestContext> {
  const { audit, scrubber } = deps;
  return {
    authenticate: deps.authenticate,
    readBody: deps.readBody,
    authorize: deps.authorize,
    resolveInstance: (type) => resolveInstance(deps, type),
    forwardAsSent: forwardTransparent(scrubber),
    async send(ctx, headers) {
      const instance = ctx.instance!;
      const request = instance.transparent(ctx.method, ctx.nativePath, ctx.nativeSegments, headers, ctx.body);
      await forward(ctx, instance, request, scrubber);
    },
    refuse(ctx, err) {
      audit.record(auditEvent(ctx, 'denied', err.code));
      return err;
    },
    jsonDepthLimit: deps.jsonDepthLimit ?? DEFAULT_JSON_DEPTH_LIMIT,
  };
}
