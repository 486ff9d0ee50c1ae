import type { clientAddressResolver } from '../clientauth/client-address.js';
import { GatewayError } from '../errors/gateway-error.js';
import { toHttp } from '../errors/http.js';
import { RequestContext } from '../request/context.js';
import { assignRequestId } from '../middleware/request-id.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import { requestLineWriter } from '../observability/request-line.js';
import { abortResponse, type Req, type Res } from '../util/http.js';
import { queryCredentialError } from '../upstream/query.js';
import type { Route, Router } from './router.js';

export interface HandlerDeps {
  router: Router;
  logger: Logger;
  metrics: Metrics;
  clientAddress: ReturnType<typeof clientAddressResolver>;
  /** The client address as the request line shows it (`privacy.ip`); default as it is. */
  recordAddress?: (address: string) => string;
  tracker: InflightTracker;
  /** Masks secrets in every error body the gateway sends. */
  scrubber: SecretScrubber;
  /** Called once per finished request, after metrics and the log line (usage accounting). */
  onFinish?: (ctx: RequestContext) => void;
}

/** Counts requests in flight (streams included) so shutdown can wait for them. */
export class InflightTracker {
  #count = 0;
  #draining = false;
  #waiters: Array<() => void> = [];

  get count(): number {
    return this.#count;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Requests still running, per epoch (ascending); `settled()` starts a new epoch. */
  readonly #epochs = new Map<number, number>();
  #epoch = 0;
  #barriers: Array<{ epoch: number; resolve: () => void }> = [];

  /** Counts a request in; pass the returned epoch to `end`. */
  begin(): number {
    this.#count++;
    this.#epochs.set(this.#epoch, (this.#epochs.get(this.#epoch) ?? 0) + 1);
    return this.#epoch;
  }

  end(epoch = this.#epoch): void {
    this.#count--;
    const left = (this.#epochs.get(epoch) ?? 1) - 1;
    if (left > 0) this.#epochs.set(epoch, left);
    else this.#epochs.delete(epoch);
    if (this.#count === 0) for (const w of this.#waiters.splice(0)) w();
    if (this.#barriers.length > 0) this.#releaseBarriers();
  }

  /**
   * Resolves once every request that began before this call has ended; later requests are not
   * waited for (a config reload closes the instances it replaced then).
   */
  settled(): Promise<void> {
    const epoch = this.#epoch++;
    return new Promise((resolve) => {
      this.#barriers.push({ epoch, resolve });
      this.#releaseBarriers();
    });
  }

  #releaseBarriers(): void {
    const oldest = this.#epochs.keys().next();
    const keep: Array<{ epoch: number; resolve: () => void }> = [];
    for (const b of this.#barriers) {
      if (oldest.done || oldest.value > b.epoch) b.resolve();
      else keep.push(b);
    }
    this.#barriers = keep;
  }

  /** Marks the server as draining; resolves when nothing is in flight. */
  drain(): Promise<void> {
    this.#draining = true;
    return this.#count === 0 ? Promise.resolve() : new Promise((r) => this.#waiters.push(r));
  }
}

/** The function node's servers call for every request, HTTP/1 or HTTP/2. */
export function createHandler(deps: HandlerDeps): (req: Req, res: Res) => void {
  const { router, logger, metrics, clientAddress, tracker, scrubber } = deps;
  const recordAddress = deps.recordAddress ?? ((a: string) => a);
  const scrub = (text: string) => scrubber.scrub(text);
  const writeRequestLine = requestLineWriter(logger, scrubber);

  function finish(ctx: RequestContext, route: Route | undefined, epoch: number): void {
    tracker.end(epoch);
    const status = ctx.res.statusCode;
    const completed = ctx.res.writableFinished;
    if (!completed) ctx.abort?.abort();
    const seconds = (performance.now() - ctx.startedAt) / 1000;
    const instance = ctx.instance;
    if (route === undefined || !route.quiet) {
      const labels = instance ? [instance.name, instance.type, instance.region] : ['', '', ''];
      metrics.requests.labels(labels[0]!, labels[1]!, labels[2]!, ctx.mode, completed ? String(status) : 'aborted').inc();
      metrics.requestDuration.labels(labels[0]!, labels[1]!, ctx.mode).observe(seconds);
      if (instance && ctx.errorCode === 'upstream_credential_rejected') metrics.upstreamCredentialRejections.labels(instance.name, instance.type).inc();
      if (instance && ctx.upstreamMs !== undefined) metrics.upstreamDuration.labels(instance.name, instance.type).observe(ctx.upstreamMs / 1000);
      const usage = ctx.usage;
      if (instance && usage) {
        const model = usage.model ?? 'unknown';
        if (usage.inputTokens > 0) metrics.tokens.labels(instance.name, model, 'input').inc(usage.inputTokens);
        if (usage.outputTokens > 0) metrics.tokens.labels(instance.name, model, 'output').inc(usage.outputTokens);
      }
    }
    writeRequestLine(route?.quiet && status < 400 ? 'debug' : 'info', {
      request_id: ctx.id,
      method: ctx.method,
      path: ctx.path.length > 256 ? `${ctx.path.slice(0, 256)}...` : ctx.path,
      route: ctx.route,
      instance: instance?.name,
      status,
      completed,
      duration_ms: Math.round(seconds * 1e4) / 10,
      upstream_ms: ctx.upstreamMs === undefined ? undefined : Math.round(ctx.upstreamMs * 10) / 10,
      client: recordAddress(ctx.clientAddress),
      auth: ctx.authResult === undefined ? undefined : { result: ctx.authResult, reason: ctx.authReason ?? undefined, key_id: ctx.principal?.keyId, user: ctx.principal?.user ?? undefined },
      error: ctx.errorCode,
      tokens: ctx.usage ? { model: ctx.usage.model, input: ctx.usage.inputTokens, output: ctx.usage.outputTokens } : undefined,
    });
    if (deps.onFinish !== undefined && route !== undefined && !route.quiet) {
      try {
        deps.onFinish(ctx);
      } catch (err) {
        logger.error({ request_id: ctx.id, err }, 'request accounting failed');
      }
    }
  }

  function fail(ctx: RequestContext, err: unknown): void {
    const gatewayError = err instanceof GatewayError;
    ctx.errorCode = gatewayError ? err.code : 'internal_error';
    if (!gatewayError) logger.error({ request_id: ctx.id, err }, 'unhandled error');
    else if (err.status >= 500) logger.warn({ request_id: ctx.id, code: err.code, error: err.message, cause: causeCode(err.cause) }, 'request failed');
    if (ctx.res.headersSent) {
      // Mid-stream: the status line is gone; end abnormally so the client sees the failure.
      abortResponse(ctx.res);
      return;
    }
    if (ctx.res.writableEnded) return;
    // Provider error messages reach the client here: a provider that echoes the gateway's credential must not hand it over.
    const answer = toHttp(err, ctx.errorFlavour, scrub, ctx.id);
    // Answered before the request body arrived (refused credential, too large...): do not keep
    // reading what the client still sends. (An HTTP/2 stream is not reset here, which could cut
    // the answer: flow control stops a client that is not read, and the listener resets a stream
    // whose request outlives its deadline.)
    if (ctx.req.httpVersionMajor === 1 && !ctx.req.complete) ctx.res.setHeader('connection', 'close');
    ctx.res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
    ctx.res.end(answer.body);
  }

  return function handleRequest(req, res) {
    const ctx = new RequestContext(req, res);
    const epoch = tracker.begin();
    let route: Route | undefined;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      finish(ctx, route, epoch);
    };
    res.once('close', done);
    // An HTTP/2 session torn down by a protocol error may close the stream without closing the
    // response; the request must still end, or shutdown would wait for it forever.
    (req as { stream?: { once(event: 'close', listener: () => void): unknown } }).stream?.once('close', done);
    assignRequestId(ctx);
    ctx.clientAddress = clientAddress(req);
    if (tracker.draining && req.httpVersionMajor === 1) res.setHeader('connection', 'close');
    if (ctx.path.charCodeAt(0) !== 47 /* absolute-form or asterisk request targets */) {
      fail(ctx, new GatewayError('invalid_path', 'only origin-form request targets ("/path") are accepted'));
      return;
    }
    const leaked = queryCredentialError(ctx.query);
    if (leaked) {
      fail(ctx, leaked);
      return;
    }
    if (req.httpVersionMajor === 1 && hostHeaders(req.rawHeaders) > 1) {
      // node keeps the first Host and drops the rest; a proxy in front may have used another (RFC 9112 §3.2).
      fail(ctx, new GatewayError('invalid_request', 'a request carries exactly one Host header'));
      return;
    }
    const match = router.match(ctx.method, ctx.path);
    if (match instanceof GatewayError) {
      fail(ctx, match);
      return;
    }
    route = match;
    ctx.route = match.name;
    ctx.mode = match.mode;
    match.chain(ctx).catch((err: unknown) => fail(ctx, err));
  };
}

function causeCode(cause: unknown): string | undefined {
  if (cause instanceof Error) return (cause as { code?: string }).code ?? cause.name;
  return undefined;
}

/** How many Host headers an HTTP/1 request carried (rawHeaders alternates names and values). */
function hostHeaders(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') n++;
  }
  return n;
}
