import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { RequestContext } from '../request/context.js';
import type { Instance } from '../providers/instance.js';
import type { UsageObserver } from '../providers/usage.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import { GatewayError } from '../errors/gateway-error.js';
import { upstreamFailure } from '../upstream/errors.js';
import { returnableHeaders } from '../upstream/headers.js';
import type { UpstreamRequest } from '../upstream/types.js';
import { UpstreamAbort } from '../upstream/abort.js';

/** Largest provider error answer the gateway reads whole to mask secrets in it. */
const MAX_ERROR_BYTES = 1024 * 1024;

/**
 * Sends `req` (unsigned: the instance signs it) to the instance's upstream and streams the
 * answer back unchanged: status, headers (minus hop-by-hop ones) and body bytes, unbuffered and
 * with backpressure. Usage is read from the body on the side. A client that goes away aborts
 * the upstream request. An error answer (4xx, 5xx) is the exception: it is read whole and passed
 * through `scrubber`, since providers echo credentials in error messages.
 */
export async function forward(ctx: RequestContext, instance: Instance, req: UpstreamRequest, scrubber: SecretScrubber): Promise<void> {
  const answer = await exchange(ctx, instance, req);
  if (answer === undefined) return; // the client left; nobody to answer
  const headers = returnableHeaders(answer.headers);
  // Keep the provider's own request id (support tickets need it); ours stays in X-LLMProxy-Request-Id.
  if (headers['x-request-id'] === undefined) headers['x-request-id'] = ctx.id;
  if (answer.statusCode >= 400) {
    const body = await scrubbedError(instance, answer, scrubber);
    headers['content-length'] = String(body.length);
    ctx.res.writeHead(answer.statusCode, headers);
    ctx.res.end(body);
    return;
  }
  ctx.res.writeHead(answer.statusCode, headers);
  const contentType = answer.headers['content-type'];
  const observer = answer.statusCode < 300 ? instance.usageObserver(typeof contentType === 'string' ? contentType : undefined) : undefined;
  return pump(answer.body, ctx, observer).catch((err: unknown) => {
    if (ctx.abort!.signal.aborted) return;
    // The usage observer's own verdict (a stream line past server.stream_line_limit) is already a GatewayError.
    throw err instanceof GatewayError ? err : upstreamFailure(instance.name, err);
  });
}

/**
 * `instance.send()` for this request: a client that leaves (or a lockdown) aborts the upstream
 * through `ctx.abort`, and the provider's time lands in `ctx.upstreamMs`. Signing, the
 * stale-credential retry and the 401 policy are the instance's. Undefined when the client went
 * away meanwhile.
 */
export function exchange(ctx: RequestContext, instance: Instance, req: UpstreamRequest): Promise<Dispatcher.ResponseData | undefined> {
  const abort = new UpstreamAbort();
  ctx.abort = abort;
  return instance.send(req, {
    signal: abort.signal,
    onAnswer: (upstreamMs) => {
      ctx.upstreamMs = upstreamMs;
    },
  });
}

/**
 * A provider's error answer with every registered secret masked. One that is compressed (the
 * gateway asks for identity) or too large to read is withheld: its text cannot be checked.
 */
async function scrubbedError(instance: Instance, answer: Dispatcher.ResponseData, scrubber: SecretScrubber): Promise<Buffer> {
  const encoding = answer.headers['content-encoding'];
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of answer.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_ERROR_BYTES) break;
      chunks.push(chunk);
    }
  } catch (err) {
    throw upstreamFailure(instance.name, err);
  }
  if (size > MAX_ERROR_BYTES || (encoding !== undefined && encoding !== 'identity')) {
    answer.body.destroy();
    throw new GatewayError('upstream_error', `instance ${instance.name}: the provider answered ${answer.statusCode} with a body the gateway cannot check for secrets; it is withheld`);
  }
  const raw = Buffer.concat(chunks, size);
  const text = raw.toString('utf8');
  const masked = scrubber.scrub(text);
  return masked === text ? raw : Buffer.from(masked);
}

/**
 * Copies `body` to the response, pausing the upstream while the client is not reading. When the
 * observer refuses the stream (a line past the limit), the upstream is aborted and the promise
 * rejects, so the caller ends the response abnormally instead of as a complete one.
 */
function pump(body: Readable, ctx: RequestContext, observer: UsageObserver | undefined): Promise<void> {
  const { res } = ctx;
  return new Promise<void>((resolve, reject) => {
    const resume = () => body.resume();
    body.on('data', (chunk: Buffer) => {
      try {
        observer?.push(chunk);
      } catch (err) {
        body.destroy();
        reject(err);
        return;
      }
      if (!res.write(chunk)) {
        body.pause();
        res.once('drain', resume);
      }
    });
    body.once('end', () => {
      // Before end(): the response's 'close' (which records metrics) may fire before this promise settles.
      if (observer) {
        try {
          ctx.usage = observer.end();
        } catch (err) {
          reject(err);
          return;
        }
        if (ctx.usage && ctx.usage.model === undefined) ctx.usage.model = ctx.model;
      }
      res.end();
      resolve();
    });
    body.once('error', reject);
  });
}
