import { GatewayError } from '../../errors/gateway-error.js';
import { auditEvent } from '../../request/audit.js';
import type { RequestContext } from '../../request/context.js';
import type { Middleware, RouteSpec } from '../../request/types.js';
import { DEFAULT_JSON_DEPTH_LIMIT, exceedsJsonDepth } from '../../protocol/json.js';
import { forward } from '../forward.js';
import type { SecretScrubber } from '../../observability/scrubber.js';
import { forwardTransparent, resolveInstance, type TransparentRouteDeps } from './transparent.js';

/** Names the Bedrock instance for the root routes; default: the default `bedrock` instance. */
const INSTANCE_HEADER = 'x-llmproxy-instance';

/**
 * Native Bedrock paths at the root (`/model/{modelId}/invoke`, `/invoke-with-response-stream`,
 * `/converse`, `/converse-stream`), so an AWS SDK pointed at the gateway works unchanged. The
 * same chain as `/transparent/{instance}/...`, with the instance taken from
 * `X-LLMProxy-Instance` or the default Bedrock instance.
 */
export function bedrockRootRoute(deps: TransparentRouteDeps): RouteSpec {
  return {
    name: 'bedrock',
    path: '/model/',
    prefix: true,
    methods: ['POST'],
    mode: 'transparent',
    middleware: [pickInstance(false), deps.authenticate, resolveInstance(deps, 'bedrock'), deps.readBody, deps.authorize, forwardTransparent(deps.scrubber)],
  };
}

/**
 * The legacy envelope of seed 002, `POST /v1/bedrock/invoke-model` and `/bedrock/invoke-model`:
 * a JSON body `{modelId, contentType?, accept?, body}` where `body` is the model's native
 * request, as a JSON string or an object. Answered with the model's native body.
 */
export function bedrockEnvelopeRoutes(deps: TransparentRouteDeps & EnvelopeDeps): RouteSpec[] {
  return ['/v1/bedrock/invoke-model', '/bedrock/invoke-model'].map((path) => ({
    name: 'bedrock-envelope',
    path,
    methods: ['POST'],
    mode: 'transparent',
    middleware: [pickInstance(true), deps.authenticate, deps.readBody, unwrapEnvelope(deps), resolveInstance(deps, 'bedrock'), deps.authorize, forwardEnvelope(deps.scrubber)],
  }));
}

function pickInstance(envelope: boolean): Middleware {
  return async function pickBedrockInstance(ctx, next) {
    const named = ctx.req.headers[INSTANCE_HEADER];
    ctx.instanceName = typeof named === 'string' && named !== '' ? named : 'bedrock';
    ctx.errorFlavour = 'aws';
    // The envelope's native path is known once its body is read.
    ctx.nativePath = envelope ? '' : ctx.path;
    await next();
  };
}

interface Envelope {
  contentType: string;
  accept: string;
}

const envelopes = new WeakMap<RequestContext, Envelope>();

/** What the envelope routes need beyond the transparent chain's deps. */
export interface EnvelopeDeps {
  /** `server.json_depth_limit`: the envelope is parsed and its `body` serialised again; DEFAULT_JSON_DEPTH_LIMIT when absent. */
  jsonDepthLimit?: number;
}

function unwrapEnvelope(deps: Pick<TransparentRouteDeps, 'audit'> & EnvelopeDeps): Middleware {
  const depthLimit = deps.jsonDepthLimit ?? DEFAULT_JSON_DEPTH_LIMIT;
  return async function unwrapBedrockEnvelope(ctx, next) {
    if (ctx.body && exceedsJsonDepth(ctx.body, depthLimit)) {
      deps.audit.record(auditEvent(ctx, 'denied', 'invalid_request'));
      throw new GatewayError('invalid_request', `the request body nests JSON deeper than ${depthLimit} levels, the gateway's limit (server.json_depth_limit)`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(ctx.body?.toString('utf8') ?? '');
    } catch {
      parsed = undefined;
    }
    const e = parsed as Record<string, unknown> | undefined;
    const problem =
      e === undefined || e === null || typeof e !== 'object' || Array.isArray(e)
        ? 'the body must be a JSON object {"modelId", "contentType", "accept", "body"}'
        : typeof e['modelId'] !== 'string' || !/^[\w.:/-]{1,2048}$/.test(e['modelId'])
          ? '"modelId" must be a Bedrock model id or ARN'
          : e['body'] === undefined || e['body'] === null
            ? '"body" is required (the model\'s request, as a JSON string or an object)'
            : (e['contentType'] !== undefined && typeof e['contentType'] !== 'string') || (e['accept'] !== undefined && typeof e['accept'] !== 'string')
              ? '"contentType" and "accept" must be strings'
              : undefined;
    if (problem !== undefined) {
      deps.audit.record(auditEvent(ctx, 'denied', 'invalid_request'));
      throw new GatewayError('invalid_request', problem);
    }
    const inner = e!['body'];
    ctx.body = Buffer.from(typeof inner === 'string' ? inner : JSON.stringify(inner), 'utf8');
    ctx.nativePath = `/model/${encodeURIComponent(e!['modelId'] as string)}/invoke`;
    envelopes.set(ctx, {
      contentType: (e!['contentType'] as string | undefined) ?? 'application/json',
      accept: (e!['accept'] as string | undefined) ?? 'application/json',
    });
    await next();
  };
}

function forwardEnvelope(scrubber: SecretScrubber): Middleware {
  return async function forwardBedrockEnvelope(ctx) {
    await sendEnvelope(ctx, scrubber);
  };
}

async function sendEnvelope(ctx: RequestContext, scrubber: SecretScrubber): Promise<void> {
  const instance = ctx.instance!;
  const envelope = envelopes.get(ctx)!;
  const headers: Record<string, string> = {
    'content-type': envelope.contentType,
    accept: envelope.accept,
    'content-length': String(ctx.body!.length),
  };
  const request = instance.transparent('POST', ctx.nativePath, ctx.nativeSegments, headers, ctx.body);
  await forward(ctx, instance, request, scrubber);
}
