import { GatewayError } from '../errors/gateway-error.js';
import type { RequestContext } from './context.js';
import type { Middleware } from './types.js';

/**
 * Buffers the request body into `ctx.body`, refusing more than the instance's (or the server's)
 * limit with 413. Bodies are buffered because signers (SigV4) hash exactly what is sent; the
 * limit bounds what that costs. Runs after authentication: anonymous clients cannot make the
 * gateway hold a body.
 */
export function readBody(serverLimit: number): Middleware {
  return async function readRequestBody(ctx, next) {
    const limit = ctx.instance?.bodyLimit ?? serverLimit;
    ctx.body = await collect(ctx, limit);
    await next();
  };
}

function tooLarge(ctx: RequestContext, limit: number): GatewayError {
  // The rest of the body is not read: close the connection after answering (HTTP/1 only;
  // an HTTP/2 stream is reset on its own).
  if (ctx.req.httpVersionMajor === 1) ctx.res.setHeader('connection', 'close');
  return new GatewayError('payload_too_large', `the request body exceeds the limit of ${limit} bytes`);
}

function collect(ctx: RequestContext, limit: number): Promise<Buffer | null> {
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
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.removeAllListeners('end');
        req.resume();
        reject(tooLarge(ctx, limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(size === 0 ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on('error', (err) => reject(new GatewayError('invalid_request', 'the request body could not be read', { cause: err })));
  });
}
