import { pino } from 'pino';
import type { Logger } from './logger.js';
import type { SecretScrubber } from './scrubber.js';

/** The one line logged per request (`"msg":"request"`); undefined fields are left out. */
export interface RequestLine {
  request_id: string;
  method: string;
  path: string;
  route: string;
  instance: string | undefined;
  status: number;
  completed: boolean;
  duration_ms: number;
  upstream_ms: number | undefined;
  client: string;
  auth: { result: string; reason: string | undefined; key_id: string | undefined; user: string | undefined } | undefined;
  error: string | undefined;
  tokens: { model: string | undefined; input: number; output: number } | undefined;
}

export type RequestLineWriter = (level: 'info' | 'debug', line: RequestLine) => void;

/**
 * Writes request lines to `logger`'s destination, the same JSON pino writes for
 * `logger.info(line, 'request')` (level label, ISO time, the logger's bindings, then the fields),
 * passed through `scrubber` like every other line. Built by hand because it runs once per
 * request: pino's generic serialisation of this object cost several times more CPU than the
 * string concatenation here, measured under load (docs/performance.md).
 */
export function requestLineWriter(logger: Logger, scrubber: SecretScrubber): RequestLineWriter {
  const internals = logger as unknown as Record<symbol, unknown>;
  const stream = internals[pino.symbols.streamSym] as { write(line: string): unknown };
  /** The logger's bindings, serialised as pino does: `,"service":"llmproxy"`. */
  const bindings = internals[pino.symbols.chindingsSym] as string;
  return function writeRequestLine(level, line) {
    if (!logger.isLevelEnabled(level)) return;
    let s = `{"level":"${level}","time":"${new Date().toISOString()}"${bindings},"request_id":${q(line.request_id)},"method":${q(line.method)},"path":${q(line.path)},"route":${q(line.route)}`;
    if (line.instance !== undefined) s += `,"instance":${q(line.instance)}`;
    s += `,"status":${line.status},"completed":${line.completed},"duration_ms":${num(line.duration_ms)}`;
    if (line.upstream_ms !== undefined) s += `,"upstream_ms":${num(line.upstream_ms)}`;
    s += `,"client":${q(line.client)}`;
    const { auth, tokens } = line;
    if (auth !== undefined) {
      s += `,"auth":{"result":${q(auth.result)}`;
      if (auth.reason !== undefined) s += `,"reason":${q(auth.reason)}`;
      if (auth.key_id !== undefined) s += `,"key_id":${q(auth.key_id)}`;
      if (auth.user !== undefined) s += `,"user":${q(auth.user)}`;
      s += '}';
    }
    if (line.error !== undefined) s += `,"error":${q(line.error)}`;
    if (tokens !== undefined) {
      s += tokens.model === undefined ? ',"tokens":{' : `,"tokens":{"model":${q(tokens.model)},`;
      s += `"input":${num(tokens.input)},"output":${num(tokens.output)}}`;
    }
    stream.write(scrubber.scrub(`${s},"msg":"request"}\n`));
  };
}

const q = (text: string): string => JSON.stringify(text);
/** As JSON.stringify writes a number (NaN and infinities as null). */
const num = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');
