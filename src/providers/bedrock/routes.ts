import { GatewayError } from '../../errors/gateway-error.js';
import { exceedsJsonDepth } from '../../protocol/json.js';
import type { ProviderRoute, RouteContext, RouteKit, RouteStep } from '../routes.js';

/** Names the Bedrock instance for the root routes; default: the default `bedrock` instance. */
const INSTANCE_HEADER = 'x-llmproxy-instance';
const TYPE = 'bedrock';

/**
 * Bedrock's routes beside `/transparent/`: the native paths at the root, so an AWS SDK pointed
 * at the gateway works unchanged, and the legacy invoke-model envelope.
 */
export function bedrockRoutes<C extends RouteContext>(kit: RouteKit<C>): Array<ProviderRoute<C>> {
  return [
    bedrockRootRoute(kit, '/model/', true, ['POST']),
    // Claude Code on Bedrock lists the inference profiles and reads one before it runs a model.
    bedrockRootRoute(kit, '/inference-profiles', false, ['GET']),
    bedrockRootRoute(kit, '/inference-profiles/', true, ['GET']),
    bedrockRootRoute(kit, '/foundation-models', false, ['GET']),
    bedrockRootRoute(kit, '/foundation-models/', true, ['GET']),
    ...bedrockEnvelopeRoutes(kit),
  ];
}

/**
 * Native Bedrock paths at the root: the runtime's `/model/{modelId}/invoke`,
 * `/invoke-with-response-stream`, `/converse`, `/converse-stream`, `/count-tokens`, and the
 * control plane's `/inference-profiles[/{id}]` and `/foundation-models[/{id}]`, so one base URL serves both (as
 * `ANTHROPIC_BEDROCK_BASE_URL` does for Claude Code). The same chain as
 * `/transparent/{instance}/...`, with the instance taken from `X-LLMProxy-Instance` or the
 * default Bedrock instance; the instance's path rules still decide what is allowed.
 */
function bedrockRootRoute<C extends RouteContext>(kit: RouteKit<C>, path: string, prefix: boolean, methods: readonly string[]): ProviderRoute<C> {
  return {
    name: 'bedrock',
    path,
    prefix,
    methods,
    mode: 'transparent',
    middleware: [pickInstance(false), kit.authenticate, kit.resolveInstance(TYPE), kit.readBody, kit.authorize, kit.forwardAsSent],
  };
}

/**
 * The legacy envelope of seed 002, `POST /v1/bedrock/invoke-model` and `/bedrock/invoke-model`:
 * a JSON body `{modelId, contentType?, accept?, body}` where `body` is the model's native
 * request, as a JSON string or an object. Answered with the model's native body.
 */
function bedrockEnvelopeRoutes<C extends RouteContext>(kit: RouteKit<C>): Array<ProviderRoute<C>> {
  const envelopes = new WeakMap<C, Envelope>();
  return ['/v1/bedrock/invoke-model', '/bedrock/invoke-model'].map((path) => ({
    name: 'bedrock-envelope',
    path,
    methods: ['POST'],
    mode: 'transparent',
    middleware: [pickInstance(true), kit.authenticate, kit.readBody, unwrapEnvelope(kit, envelopes), kit.resolveInstance(TYPE), kit.authorize, forwardEnvelope(kit, envelopes)],
  }));
}

function pickInstance<C extends RouteContext>(envelope: boolean): RouteStep<C> {
  return async function pickBedrockInstance(ctx, next) {
    const named = ctx.req.headers[INSTANCE_HEADER];
    ctx.instanceName = typeof named === 'string' && named !== '' ? named : TYPE;
    ctx.errorFlavour = 'aws';
    // The envelope's native path is known once its body is read.
    ctx.nativePath = envelope ? '' : ctx.path;
    return next();
  };
}

interface Envelope {
  contentType: string;
  accept: string;
}

function unwrapEnvelope<C extends RouteContext>(kit: RouteKit<C>, envelopes: WeakMap<C, Envelope>): RouteStep<C> {
  const depthLimit = kit.jsonDepthLimit;
  return async function unwrapBedrockEnvelope(ctx, next) {
    if (ctx.body && exceedsJsonDepth(ctx.body, depthLimit)) {
      throw kit.refuse(ctx, new GatewayError('invalid_request', `the request body nests JSON deeper than ${depthLimit} levels, the gateway's limit (server.json_depth_limit)`));
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
    if (problem !== undefined) throw kit.refuse(ctx, new GatewayError('invalid_request', problem));
    const inner = e!['body'];
    ctx.body = Buffer.from(typeof inner === 'string' ? inner : JSON.stringify(inner), 'utf8');
    ctx.nativePath = `/model/${encodeURIComponent(e!['modelId'] as string)}/invoke`;
    envelopes.set(ctx, {
      contentType: (e!['contentType'] as string | undefined) ?? 'application/json',
      accept: (e!['accept'] as string | undefined) ?? 'application/json',
    });
    return next();
  };
}

function forwardEnvelope<C extends RouteContext>(kit: RouteKit<C>, envelopes: WeakMap<C, Envelope>): RouteStep<C> {
  return async function forwardBedrockEnvelope(ctx) {
    const envelope = envelopes.get(ctx)!;
    await kit.send(ctx, {
      'content-type': envelope.contentType,
      accept: envelope.accept,
      'content-length': String(ctx.body!.length),
    });
  };
}
