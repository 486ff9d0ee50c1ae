import { GatewayError, UNKNOWN_INSTANCE_MESSAGE } from '../../errors/gateway-error.js';
import { auditEvent } from '../../request/audit.js';
import type { RequestContext } from '../../request/context.js';
import type { Middleware, RouteSpec } from '../../request/types.js';
import type { AuditTrail } from '../../store/audit-trail.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import type { InstanceDirectory } from '../../providers/directory.js';
import { checkNativePath, matchPathRule } from '../../providers/transparent-path.js';
import { forwardableHeaders } from '../../upstream/headers.js';
import { forwardableQuery } from '../../upstream/query.js';
import { forward } from '../forward.js';

const PREFIX = '/transparent/';

export interface TransparentRouteDeps {
  instances: InstanceDirectory;
  audit: AuditTrail;
  authenticate: Middleware;
  readBody: Middleware;
  authorize: Middleware;
  scrubber: SecretScrubber;
}

/**
 * `/transparent/{instance}/<native path>`: the provider's own API, with only the credential
 * swapped. `{instance}` may be a provider type, meaning that type's default instance.
 */
export function transparentRoute(deps: TransparentRouteDeps): RouteSpec {
  return {
    name: 'transparent',
    path: PREFIX,
    prefix: true,
    mode: 'transparent',
    middleware: [splitPath(deps.instances), deps.authenticate, resolveInstance(deps), deps.readBody, deps.authorize, forwardTransparent(deps.scrubber)],
  };
}

/**
 * Splits the path into the instance's name and the native path, and shapes the gateway's own
 * errors as the instance's provider does (its `errorShape`) from here on, authentication
 * included, so the provider's SDK reads a refused gateway key as it would a refused provider key.
 * An unknown name keeps OpenAI's shape.
 */
function splitPath(instances: InstanceDirectory): Middleware {
  return function splitTransparentPath(ctx, next) {
    const slash = ctx.path.indexOf('/', PREFIX.length);
    ctx.instanceName = slash === -1 ? ctx.path.slice(PREFIX.length) : ctx.path.slice(PREFIX.length, slash);
    ctx.nativePath = slash === -1 ? '' : ctx.path.slice(slash);
    ctx.errorFlavour = instances.resolve(ctx.instanceName)?.provider.errorShape ?? 'openai';
    return next();
  };
}

/**
 * Looks up `ctx.instanceName`, checks `ctx.nativePath` (safety, then the provider's completion of
 * a short form, then the instance's allowlist) and records what the path says about the model.
 * With `type`, the instance must be of that provider type (the root Bedrock routes).
 */
export function resolveInstance(deps: Pick<TransparentRouteDeps, 'instances' | 'audit'>, type?: string): Middleware {
  const { instances, audit } = deps;
  return function resolveTransparentInstance(ctx, next) {
    const denied = (err: GatewayError) => {
      audit.record(auditEvent(ctx, 'denied', err.code));
      return err;
    };
    const instance = instances.resolve(ctx.instanceName);
    if (!instance) throw denied(new GatewayError('unknown_instance', UNKNOWN_INSTANCE_MESSAGE));
    if (type !== undefined && instance.type !== type) {
      throw denied(new GatewayError('invalid_request', `instance "${instance.name}" is not a ${type} instance`));
    }
    ctx.instance = instance;
    let segments: readonly string[];
    try {
      segments = checkNativePath(ctx.nativePath, instance.provider.allowEncodedSlash === true);
    } catch (err) {
      throw denied(err as GatewayError);
    }
    // A short form the provider completes (Vertex express mode): checked and forwarded in full.
    const full = instance.nativeSegments(segments);
    if (full !== segments) {
      segments = full;
      ctx.nativePath = `/${full.join('/')}`;
    }
    if (!matchPathRule(instance.rules, ctx.method, segments)) {
      throw denied(
        new GatewayError('path_not_allowed', `${ctx.method} ${ctx.nativePath.slice(0, 200)} is not enabled on instance "${instance.name}" (an operator can add it to instances.${instance.name}.allow_paths)`),
      );
    }
    ctx.nativeSegments = segments;
    ctx.endpoint = instance.provider.endpointOf?.(ctx.method, segments);
    ctx.model = instance.provider.modelFromPath?.(segments);
    return next();
  };
}

/** Forwards the request as the client sent it, credential swapped; `scrubber` masks secrets a provider error echoes. */
export function forwardTransparent(scrubber: SecretScrubber): Middleware {
  return function forwardTransparentRequest(ctx) {
    return forwardAsSent(ctx, scrubber);
  };
}

async function forwardAsSent(ctx: RequestContext, scrubber: SecretScrubber): Promise<void> {
  const instance = ctx.instance!;
  const headers = forwardableHeaders(ctx.req.headers, instance.provider.strippedHeaders);
  const body = instance.transparentBody(ctx.method, ctx.nativeSegments, ctx.body);
  if (body !== null) headers['content-length'] = String(body.length);
  const request = instance.transparent(ctx.method, ctx.nativePath + forwardableQuery(ctx.query), ctx.nativeSegments, headers, body);
  return forward(ctx, instance, request, scrubber);
}
