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
}

export class SseDecoder {
  readonly #text = new TextDecoder('utf-8');
  /** Unframed lines, when kept (see SseDecoderOptions). */
  readonly #unframed: string[] | undefined;
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #id: string | undefined;
  #sawCR = false;

  constructor(options: SseDecoderOptions = {}) {
    if (options.keepUnframedText) this.#unframed = [];
  }

  /** The text outside the SSE framing seen so far, trimmed; '' when none (or not kept). */
  get unframedText(): string {
    return this.#unframed?.join('\n').trim() ?? '';
  }

  /** Decodes `chunk` and returns the events it completed. */
  push(chunk: Uint8Array): SseEvent[] {
    return this.#lines(this.#text.decode(chunk, { stream: true }), false);
  }

  /** Ends the stream: a last event without its blank line is still dispatched. */
  end(): SseEvent[] {
    const events = this.#lines(this.#text.decode(), true);
    if (this.#data.length > 0) events.push(this.#dispatch()!);
    return events;
  }

  #lines(text: string, final: boolean): SseEvent[] {
    const events: SseEvent[] = [];
    let buf = this.#buffer + text;
    let start = 0;
    // A CR that ended the previous chunk may be the first half of CRLF.
    if (this.#sawCR && buf.charCodeAt(0) === 10) start = 1;
    this.#sawCR = false;
    for (let i = start; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = buf.slice(start, i);
      if (c === 13) {
        if (i + 1 < buf.length) {
          if (buf.charCodeAt(i + 1) === 10) i++;
        } else {
          this.#sawCR = true;
        }
      }
      start = i + 1;
      const ev = this.#line(line);
      if (ev) events.push(ev);
    }
    buf = buf.slice(start);
    if (final && buf.length > 0) {
      const ev = this.#line(buf);
      if (ev) events.push(ev);
      buf = '';
    }
    this.#buffer = buf;
    return events;
  }

  #line(line: string): SseEvent | undefined {
    if (this.#unframed !== undefined && this.#unframed.length > 0) {
      this.#unframed.push(line); // once unframed text began, the rest of the body belongs to it
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
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\u0000')) this.#id = value;
        break;
      case 'retry':
        break; // does not concern a passive reader
      default:
        this.#unframed?.push(line); // unknown fields are skipped, unless unframed text is kept
        break;
    }
    return undefined;
  }

  #dispatch(): SseEvent | undefined {
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
