import { performance } from 'node:perf_hooks';
import { GatewayError } from '../errors/gateway-error.js';
import type { RequestContext } from '../request/context.js';
import type { Middleware } from '../request/types.js';

export interface BodyLimits {
  /** `server.body_limit`: for requests whose instance sets none. */
  serverLimit: number;
  /**
   * The most any request may carry before its instance is known (protocol mode learns it from the
   * body): the largest of the server's and every instance's limit. Defaults to `serverLimit`.
   */
  largest?: () => number;
  /** `server.request_timeout`: the whole request must have arrived this long after it began (then 408). */
  requestTimeoutMs?: number;
}

/**
 * Buffers the request body into `ctx.body`, refusing more than the instance's (or the server's)
 * limit with 413 and a body still arriving at the request deadline with 408. Bodies are buffered
 * because signers (SigV4) hash exactly what is sent; the limit bounds what that costs. Runs after
 * authentication: anonymous clients cannot make the gateway hold a body.
 */
export function readBody(limits: BodyLimits): Middleware {
  const { serverLimit, largest, requestTimeoutMs } = limits;
  return async function readRequestBody(ctx, next) {
    const limit = ctx.instance ? (ctx.instance.bodyLimit ?? serverLimit) : (largest?.() ?? serverLimit);
    ctx.body = await collect(ctx, limit, requestTimeoutMs);
    return next();
  };
}

/**
 * For chains that read the body before they know the instance (protocol mode, the Bedrock
 * envelope): once it is known, its own `body_limit` applies.
 */
export function instanceBodyLimit(serverLimit: number): Middleware {
  return function checkInstanceBodyLimit(ctx, next) {
    const limit = ctx.instance?.bodyLimit ?? serverLimit;
    if (ctx.body !== null && ctx.body.length > limit) throw tooLarge(ctx, limit);
    return next();
  };
}

function tooLarge(ctx: RequestContext, limit: number): GatewayError {
  // The rest of the body is not read: close the connection after answering (HTTP/1 only;
  // an HTTP/2 stream is reset on its own).
  if (ctx.req.httpVersionMajor === 1) ctx.res.setHeader('connection', 'close');
  return new GatewayError('payload_too_large', `the request body exceeds the limit of ${limit} bytes`);
}

function collect(ctx: RequestContext, limit: number, timeoutMs: number | undefined): Promise<Buffer | null> {
  const { req } = ctx;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(ctx, limit));
  if (declared === '0') return Promise.resolve(null);
  if (declared === undefined && req.headers['transfer-encoding'] === undefined && req.httpVersionMajor === 1) {
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const stop = (err: GatewayError) => {
      clearTimeout(timer);
      req.removeAllListeners('data');
      req.removeAllListeners('end');
      req.resume();
      reject(err);
    };
    // A body already received whole (the usual case: it came with the headers) needs no deadline.
    if (timeoutMs !== undefined && !req.complete) {
      // From the request's start: a body trickled a byte at a time must not hold the connection open.
      const left = Math.max(0, timeoutMs - (performance.now() - ctx.startedAt));
      timer = setTimeout(() => stop(new GatewayError('request_timeout', `the request body did not arrive within ${timeoutMs} ms`)), left);
    }
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        stop(tooLarge(ctx, limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      clearTimeout(timer);
      // An HTTP/2 stream the client reset mid-body ends its request like a whole one: a cut body must never be forwarded.
      if ((req as { aborted?: boolean }).aborted === true || (declared !== undefined && size !== Number(declared))) {
        reject(new GatewayError('invalid_request', `the request body ended after ${size} bytes${declared === undefined ? '' : ` of the ${Number(declared)} declared`}`));
        return;
      }
      resolve(size === 0 ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new GatewayError('invalid_request', 'the request body could not be read', { cause: err }));
    });
  });
}
