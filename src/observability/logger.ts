import { pino, type Logger, type DestinationStream } from 'pino';
import type { SecretScrubber } from './scrubber.js';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Header names whose values are credentials; redacted wherever a headers object is logged. */
const CREDENTIAL_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  'x-totp-code',
  'cookie',
  'set-cookie',
  'x-amz-security-token',
  'x-amzn-oidc-data',
  'x-amzn-oidc-accesstoken',
]);

/** A copy of `headers` with every credential header's value replaced. */
export function redactHeaders(headers: unknown): unknown {
  if (typeof headers !== 'object' || headers === null) return headers;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) out[name] = CREDENTIAL_HEADERS.has(name.toLowerCase()) ? '[REDACTED]' : value;
  return out;
}

function withRedactedHeaders(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || !('headers' in value)) return value;
  return { ...value, headers: redactHeaders((value as { headers: unknown }).headers) };
}

export interface LoggerOptions {
  level: LogLevel;
  scrubber: SecretScrubber;
  /** Defaults to stdout (written in 4 KiB batches, flushed every second and on shutdown). Tests pass a capturing stream. */
  destination?: DestinationStream;
}

/**
 * JSON logger. Every serialised line passes through the scrubber (see SecretScrubber) after
 * credential headers are redacted from any `headers`, `req`, `res` or `upstream` field, so a secret cannot reach the output even through
 * an error message or a field nobody thought of.
 */
export function createLogger(options: LoggerOptions): Logger {
  // Synchronous writes of 4 KiB batches: asynchronous ones hand each batch to libuv's thread
  // pool, whose hand-off cost more CPU per request than the write itself (docs/performance.md).
  // A log reader that stalls now slows the gateway down (backpressure) rather than growing an
  // unbounded buffer in its memory.
  const destination = options.destination ?? pino.destination({ dest: 1, sync: true, minLength: 4096 });
  const logger = pino(
    {
      level: options.level,
      base: { service: 'llmproxy' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Serializers rather than pino's path redaction: they cost nothing on lines without these
      // keys (every request line), where path redaction cost about a tenth of the gateway's CPU.
      serializers: { headers: redactHeaders, req: withRedactedHeaders, res: withRedactedHeaders, upstream: withRedactedHeaders },
      hooks: { streamWrite: (line) => options.scrubber.scrub(line) },
    },
    destination,
  );
  if (!options.destination) {
    // stdout is buffered up to 4 KiB for throughput; without a periodic flush a quiet gateway's
    // lines ("gateway listening", a lone request) would sit in the buffer until shutdown.
    setInterval(() => logger.flush(), 1000).unref();
  }
  return logger;
}
