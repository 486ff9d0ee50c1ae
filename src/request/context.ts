import { performance } from 'node:perf_hooks';
import type { ErrorFlavour } from '../errors/http.js';
import type { EndpointName } from '../providers/endpoint-names.js';
import type { Instance } from '../providers/instance.js';
import type { Usage } from '../providers/usage.js';
import type { AuditResult } from '../store/types.js';
import type { Req, Res } from '../util/http.js';
import type { Principal } from './principal.js';
import type { UpstreamAbort } from '../upstream/abort.js';

export type Mode = 'transparent' | 'protocol' | 'ops';

/**
 * Everything known about one request as it moves through its route's chain. One per request;
 * fields are filled in by the middleware that learns them. All fields are declared up front so
 * every context has the same shape.
 */
export class RequestContext {
  readonly req: Req;
  readonly res: Res;
  readonly startedAt = performance.now();
  readonly method: string;
  /** Raw path, still percent-encoded, without the query. */
  readonly path: string;
  /** `?...` or ''. Never logged: queries can carry secrets. */
  readonly query: string;
  id = '';
  clientAddress = '';
  route = '';
  mode: Mode | '' = '';
  principal: Principal | undefined = undefined;
  /** The client-auth method that decided this request (`api_key`, `basic`, `oidc`, ...). */
  authMethod = '';
  /** The instance named in the path, before it is looked up. */
  instanceName = '';
  instance: Instance | undefined = undefined;
  /** Transparent mode: the native path after `/transparent/{instance}`. */
  nativePath = '';
  /** The checked native path's segments (still percent-encoded). */
  nativeSegments: readonly string[] = [];
  /**
   * The endpoint scope of the request (chat, embeddings, ...): set by protocol routes, and by the
   * provider's mapping of the native path on transparent routes (undefined: unmapped).
   */
  endpoint: EndpointName | undefined = undefined;
  /** The model the request names, when known before the body is read (Bedrock paths). */
  model: string | undefined = undefined;
  body: Buffer | null = null;
  authResult: AuditResult | undefined = undefined;
  authReason: string | null = null;
  upstreamMs: number | undefined = undefined;
  usage: Usage | undefined = undefined;
  /** How the gateway's own errors are shaped: AWS's markers on native AWS routes, a provider's own shape on its transparent routes, so its SDKs read them. */
  errorFlavour: ErrorFlavour = 'openai';
  /** The gateway error code this request ended with, for the log. */
  errorCode: string | undefined = undefined;
  /** What a route's own steps hand on to the next (protocol mode: the parsed and checked call). */
  call: unknown = undefined;
  /**
   * Set by governance once the request is admitted: the rate-limit slots and tokens it holds
   * (governance's own `Admission`; undefined: no limit applies to its principal) and whether its
   * usage row is recorded yet.
   */
  governance: { admission: object | undefined; recorded: boolean } | undefined = undefined;
  /** Aborted when the client goes away before the response finished. */
  abort: UpstreamAbort | undefined = undefined;

  constructor(req: Req, res: Res) {
    this.req = req;
    this.res = res;
    this.method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.path = q === -1 ? url : url.slice(0, q);
    this.query = q === -1 ? '' : url.slice(q);
  }
}
