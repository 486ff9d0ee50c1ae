import { GatewayError } from '../errors/gateway-error.js';

/**
 * Incremental decoder for `text/event-stream` (WHATWG HTML, "Server-sent events",
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream).
 * Feed it bytes as they arrive; it yields whole events. It never alters or re-emits the bytes,
 * so it can watch a stream that is passed through untouched.
 */
export interface SseEvent {
  /** `event:` field; "message" when absent, as the spec says. */
  event: string;
  /** `data:` lines joined with "\n". */
  data: string;
  id: string | undefined;
}

export interface SseDecoderOptions {
  /**
   * Keep text outside the SSE framing instead of skipping it: a line whose field is not an SSE
   * field starts it, and every later line belongs to it. Google writes an error that happens
   * mid-stream as bare JSON after the last event, which a spec-following reader would drop.
   */
  keepUnframedText?: boolean;
  /**
   * Longest line accepted, in bytes (line end excluded); also bounds one event's `data` lines
   * together and the unframed text kept. Past it the decoder throws `streamLineTooLong`'s error.
   * Default DEFAULT_STREAM_LINE_LIMIT; the gateway passes `server.stream_line_limit`.
   */
  lineLimit?: number | undefined;
}

/** Default line limit, the default of `server.stream_line_limit` (1 MiB). */
export const DEFAULT_STREAM_LINE_LIMIT = 1024 * 1024;

const LF = 10;
const CR = 13;
/** A line buffer larger than this is dropped once its line is read, so an idle stream holds little. */
const KEPT_LINE_BUFFER_BYTES = 64 * 1024;

/**
 * The error a decoder throws for a line (or event, or unframed text) longer than its limit:
 * 502 `upstream_error`, which protocol mode sends as an SSE error object and transparent mode
 * turns into an aborted response. `what` names what was too long ("line", "event").
 */
export function streamLineTooLong(what: string, limit: number): GatewayError {
  return new GatewayError('upstream_error', `the provider sent a stream ${what} longer than ${limit} bytes, the gateway's limit; the stream was cut`);
}

/**
 * Linear in the stream's length however it is cut: each chunk is scanned once for line ends
 * (`indexOf`, from where the last scan stopped), and the bytes of a line that spans chunks are
 * appended to one buffer that doubles when full (so each byte is copied a bounded number of
 * times, and a stream cut into 1-byte chunks costs no per-chunk object). Memory is bounded by
 * the limit: a partial line, one event's data and the unframed text never exceed it.
 *
 * Once an error is raised, every later call raises it again. When a chunk completes events
 * before the line at fault, `push` returns them and the next call raises the error, so what a
 * caller sees never depends on where the chunks were cut.
 */
export class SseDecoder {
  /** Lines are split on bytes (CR and LF never occur inside a UTF-8 sequence), then decoded whole. */
  readonly #utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
  readonly #limit: number;
  /** Unframed lines, when kept (see SseDecoderOptions). */
  readonly #unframed: string[] | undefined;
  #unframedBytes = 0;
  /** The bytes of the line in progress that earlier chunks carried: `#pending[0..#pendingBytes)`. */
  #pending: Uint8Array | undefined;
  #pendingBytes = 0;
  /** The last line ended with CR: an LF that comes next is its second half, not a line. */
  #sawCR = false;
  /** No line decoded yet: a byte order mark at the start of the stream is dropped. */
  #first = true;
  #event = '';
  #data: string[] = [];
  #dataBytes = 0;
  #id: string | undefined;
  #error: GatewayError | undefined;
  #work = 0;

  constructor(options: SseDecoderOptions = {}) {
    if (options.keepUnframedText) this.#unframed = [];
    this.#limit = options.lineLimit ?? DEFAULT_STREAM_LINE_LIMIT;
  }

  /** The text outside the SSE framing seen so far, trimmed; '' when none (or not kept). */
  get unframedText(): string {
    return this.#unframed?.join('\n').trim() ?? '';
  }

  /**
   * Bytes scanned plus bytes copied so far: a cheap tally of the decoder's work, so tests can
   * check it stays proportional to the input however the input was cut.
   */
  get work(): number {
    return this.#work;
  }

  /** Decodes `chunk` and returns the events it completed. */
  push(chunk: Uint8Array): SseEvent[] {
    if (this.#error) throw this.#error;
    const events: SseEvent[] = [];
    this.#guard(events, () => this.#scan(chunk, events));
    return events;
  }

  /** Ends the stream: a last line without its line end is still read, a last event without its blank line still dispatched. */
  end(): SseEvent[] {
    if (this.#error) throw this.#error;
    const events: SseEvent[] = [];
    this.#guard(events, () => {
      if (this.#pendingBytes > 0) this.#emitLine(this.#takePending(undefined, 0, 0), events);
      this.#pending = undefined;
      if (this.#data.length > 0) events.push(this.#dispatch()!);
    });
    return events;
  }

  /** Runs `step`; an error it raises is kept, and raised now only if no event came before it. */
  #guard(events: SseEvent[], step: () => void): void {
    try {
      step();
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err; // a bug, passed on as it is
      this.#error = err;
      this.#pending = undefined;
      this.#pendingBytes = 0;
      this.#data = [];
      this.#unframed?.splice(0);
      if (events.length === 0) throw err;
    }
  }

  #scan(chunk: Uint8Array, events: SseEvent[]): void {
    const end = chunk.length;
    let start = 0;
    if (end === 0) return;
    // A CR that ended the previous chunk may be the first half of CRLF.
    if (this.#sawCR && chunk[0] === LF) start = 1;
    this.#sawCR = false;
    let lf = chunk.indexOf(LF, start);
    let cr = chunk.indexOf(CR, start);
    while (lf !== -1 || cr !== -1) {
      const eol = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      const line = this.#takePending(chunk, start, eol);
      start = eol + 1;
      if (eol === cr) {
        if (start < end) {
          if (chunk[start] === LF) start++;
        } else {
          this.#sawCR = true;
        }
        cr = chunk.indexOf(CR, start);
      }
      if (lf !== -1 && lf < start) lf = chunk.indexOf(LF, start);
      this.#emitLine(line, events);
    }
    this.#work += end;
    if (start < end) {
      if (this.#pendingBytes + (end - start) > this.#limit) throw streamLineTooLong('line', this.#limit);
      this.#append(chunk.subarray(start));
    }
  }

  /**
   * The pending bytes plus `chunk[from..to)` as one line, checked against the limit; pending is
   * emptied. The result is read before the next append (it may be a view of the line buffer).
   */
  #takePending(chunk: Uint8Array | undefined, from: number, to: number): Uint8Array {
    const total = this.#pendingBytes + (to - from);
    if (total > this.#limit) throw streamLineTooLong('line', this.#limit);
    if (this.#pendingBytes === 0) return chunk!.subarray(from, to);
    if (chunk) this.#append(chunk.subarray(from, to));
    const line = this.#pending!.subarray(0, total);
    this.#pendingBytes = 0;
    if (this.#pending!.length > KEPT_LINE_BUFFER_BYTES) this.#pending = undefined;
    return line;
  }

  /** Copies `bytes` after the pending ones (the caller may reuse its chunk), growing the buffer by doubling. */
  #append(bytes: Uint8Array): void {
    const need = this.#pendingBytes + bytes.length;
    let buffer = this.#pending;
    if (buffer === undefined || need > buffer.length) {
      const grown = new Uint8Array(Math.max(need, Math.min(2 * (buffer?.length ?? 0), this.#limit), 256));
      if (buffer !== undefined) grown.set(buffer.subarray(0, this.#pendingBytes));
      this.#work += this.#pendingBytes;
      this.#pending = buffer = grown;
    }
    buffer.set(bytes, this.#pendingBytes);
    this.#pendingBytes = need;
    this.#work += bytes.length;
  }

  #emitLine(bytes: Uint8Array, events: SseEvent[]): void {
    let line = this.#utf8.decode(bytes);
    if (this.#first) {
      this.#first = false;
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    }
    const ev = this.#line(line, bytes.length);
    if (ev) events.push(ev);
  }

  #line(line: string, bytes: number): SseEvent | undefined {
    if (this.#unframed !== undefined && this.#unframed.length > 0) {
      this.#keepUnframed(line, bytes); // once unframed text began, the rest of the body belongs to it
      return undefined;
    }
    if (line === '') return this.#dispatch();
    if (line.charCodeAt(0) === 58 /* : comment */) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        // Many short data lines without a blank line would otherwise grow one event without bound.
        this.#dataBytes += bytes;
        if (this.#dataBytes > this.#limit) throw streamLineTooLong('event', this.#limit);
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\u0000')) this.#id = value;
        break;
      case 'retry':
        break; // does not concern a passive reader
      default:
        if (this.#unframed !== undefined) this.#keepUnframed(line, bytes); // unknown fields are skipped, unless unframed text is kept
        break;
    }
    return undefined;
  }

  #keepUnframed(line: string, bytes: number): void {
    this.#unframedBytes += bytes;
    if (this.#unframedBytes > this.#limit) throw streamLineTooLong('text outside its events', this.#limit);
    this.#unframed!.push(line);
  }

  #dispatch(): SseEvent | undefined {
    this.#dataBytes = 0;
    if (this.#data.length === 0) {
      this.#event = '';
      return undefined;
    }
    const ev: SseEvent = { event: this.#event || 'message', data: this.#data.join('\n'), id: this.#id };
    this.#event = '';
    this.#data = [];
    return ev;
  }
}
