import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayError } from '../errors/gateway-error.js';
import type { ErrorFlavour } from '../errors/http.js';

/**
 * Routes a provider adds beside `/transparent/{instance}/...` (Bedrock's root `/model/...` paths
 * for AWS SDKs, its legacy invoke-model envelope). providers/ sits below server/ and request/, so
 * a provider does not build the gateway's steps itself: the server hands it a {@link RouteKit}
 * of ready steps (authenticate, read the body, resolve the instance, authorize, forward) and the
 * provider arranges them, adding steps of its own that only touch {@link RouteContext}.
 */

/**
 * The fields of a request's context a provider's own steps read and write; request/context.ts's
 * RequestContext has all of them, so the server's steps and the provider's compose in one chain.
 */
export interface RouteContext {
  readonly req: { readonly headers: IncomingHttpHeaders };
  /** Raw path, still percent-encoded, without the query. */
  readonly path: string;
  body: Buffer | null;
  /** The instance (or provider type) the request names, before it is looked up. */
  instanceName: string;
  /** The provider's own path, checked against the instance's rules by `resolveInstance`. */
  nativePath: string;
  /** `aws`: the gateway's own errors in the shape AWS SDKs read. */
  errorFlavour: ErrorFlavour;
}

/** One step of a route's chain, over the server's context type `C`. */
export type RouteStep<C extends RouteContext> = (ctx: C, next: () => Promise<void>) => Promise<void>;

/**
 * What the server gives a provider to build its routes from: the gateway's steps, in the order
 * `/transparent/` uses them, and the means to refuse or send a request.
 */
export interface RouteKit<C extends RouteContext> {
  /** Client authentication (governance's pre-auth steps included). */
  readonly authenticate: RouteStep<C>;
  /** Reads the body under the body limit. */
  readonly readBody: RouteStep<C>;
  /** Looks up `ctx.instanceName`, which must be an instance of `type`, and checks `ctx.nativePath` against its rules. */
  resolveInstance(type: string): RouteStep<C>;
  /** Role, scopes and governance's admission steps. */
  readonly authorize: RouteStep<C>;
  /** Forwards the request as the client sent it, credential swapped (the end of a transparent chain). */
  readonly forwardAsSent: RouteStep<C>;
  /** Sends `ctx.body` to `ctx.nativePath` of the resolved instance with exactly `headers`, and streams the answer back. */
  send(ctx: C, headers: Record<string, string>): Promise<void>;
  /** Records the refusal of `ctx` in the audit log and returns `err` to throw. */
  refuse(ctx: C, err: GatewayError): GatewayError;
  /** `server.json_depth_limit`, for a step that parses a client's JSON. */
  readonly jsonDepthLimit: number;
}

/** A route a provider adds; the server composes its chain once, as for its own routes. */
export interface ProviderRoute<C extends RouteContext> {
  /** For logs. */
  readonly name: string;
  /** Exact path, or a prefix ending in `/` when `prefix` is set. */
  readonly path: string;
  readonly prefix?: boolean;
  readonly methods: readonly string[];
  readonly mode: 'transparent';
  readonly middleware: ReadonlyArray<RouteStep<C>>;
}
