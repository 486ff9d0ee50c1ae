import { pino, type Logger, type DestinationStream } from 'pino';
import type { SecretScrubber } from './scrubber.js';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Header names whose values are credentials; redacted wherever a headers object is logged. */
const CREDENTIAL_HEADER_PATHS = [
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  'x-totp-code',
  'cookie',
  'set-cookie',
  'x-amz-security-token',
].flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`, `req.headers["${h}"]`]);

export interface LoggerOptions {
  level: LogLevel;
  scrubber: SecretScrubber;
  /** Defaults to stdout (asynchronous, flushed on shutdown). Tests pass a capturing stream. */
  destination?: DestinationStream;
}

/**
 * JSON logger. Every serialised line passes through the scrubber (see SecretScrubber) after
 * path-based redaction of credential headers, so a secret cannot reach the output even through
 * an error message or a field nobody thought of.
 */
export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const logger = pino(
    {
      level: options.level,
      base: { service: 'llmproxy' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: CREDENTIAL_HEADER_PATHS, censor: '[REDACTED]' },
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
