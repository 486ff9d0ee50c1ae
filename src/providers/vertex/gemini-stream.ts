/**
 * Decoder for the body of Vertex AI's `streamGenerateContent?alt=sse`.
 *
 * The events are server-sent events (`data: <GenerateContentResponse JSON>`, a blank line; Google
 * ends lines with CRLF). When a call fails after the stream has started, Google writes its error
 * object (`{"error": {"code", "message", "status"}}`) as bare JSON text after the last event: it
 * is not an SSE event, and a spec-following SSE parser skips its lines as unknown fields (see the
 * `streaming-failure-error-mid-stream` transcript in FirebaseExtended/vertexai-sdk-test-data). This
 * decoder keeps those lines, so the failure is reported instead of lost.
 *
 * One decoder per stream; it holds the partial line, the pending event and the bare text in fields.
 *
 * @example
 * const decoder = new GeminiStreamDecoder();
 * for (const bytes of body) for (const item of decoder.push(bytes)) handle(item);
 * for (const item of decoder.end()) handle(item); // a trailing { type: 'bare', text } is the error
 */
export type GeminiStreamItem =
  /** One SSE event's `data` (its `data:` lines joined with "\n"). */
  | { type: 'event'; data: string }
  /** Text outside the SSE framing (Google's error object), reported once when the stream ends. */
  | { type: 'bare'; text: string };

export class GeminiStreamDecoder {
  readonly #text = new TextDecoder('utf-8');
  #buffer = '';
  #data: string[] = [];
  #bare: string[] = [];
  #sawCR = false;

  push(chunk: Uint8Array): GeminiStreamItem[] {
    return this.#lines(this.#text.decode(chunk, { stream: true }), false);
  }

  end(): GeminiStreamItem[] {
    const items = this.#lines(this.#text.decode(), true);
    if (this.#data.length > 0) items.push(this.#dispatch());
    const bare = this.#bare.join('\n').trim();
    this.#bare = [];
    if (bare !== '') items.push({ type: 'bare', text: bare });
    return items;
  }

  #lines(text: string, final: boolean): GeminiStreamItem[] {
    const items: GeminiStreamItem[] = [];
    const buf = this.#buffer + text;
    let start = 0;
    // A CR that ended the previous chunk may be the first half of a CRLF.
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
      this.#line(line, items);
    }
    this.#buffer = buf.slice(start);
    if (final && this.#buffer !== '') {
      this.#line(this.#buffer, items);
      this.#buffer = '';
    }
    return items;
  }

  #line(line: string, items: GeminiStreamItem[]): void {
    // Once bare text has begun, the rest of the body belongs to it (the error object spans lines).
    if (this.#bare.length > 0) {
      this.#bare.push(line);
      return;
    }
    if (line === '') {
      if (this.#data.length > 0) items.push(this.#dispatch());
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' comment */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    switch (field) {
      case 'data': {
        const value = colon === -1 ? '' : line.slice(colon + 1);
        this.#data.push(value.charCodeAt(0) === 32 ? value.slice(1) : value);
        return;
      }
      case 'event':
      case 'id':
      case 'retry':
        return; // valid SSE fields Google does not use; nothing in them concerns a translator
      default:
        this.#bare.push(line);
    }
  }

  #dispatch(): GeminiStreamItem {
    const item: GeminiStreamItem = { type: 'event', data: this.#data.join('\n') };
    this.#data = [];
    return item;
  }
}
