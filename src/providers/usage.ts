import { EventStreamDecoder, type EventStreamMessage } from '../protocol/aws-eventstream.js';
import { SseDecoder, type SseEvent } from '../protocol/sse.js';

/** Token usage a provider reported for one response. */
export interface Usage {
  model: string | undefined;
  inputTokens: number;
  outputTokens: number;
}

/**
 * How one provider schema reports usage. `json` reads a whole response body; `event` reads one
 * streamed event and folds it into `acc`; `eventstream`, for schemas that stream
 * `application/vnd.amazon.eventstream` (Bedrock), reads one decoded message. All return quickly
 * when there is nothing to read: they run on the response path.
 *
 * @example
 * const reader: UsageReader = {
 *   json(body, acc) { ... },
 *   event(ev, acc) { ... },
 *   eventstream(msg, acc) { if (stringHeader(msg, ':event-type') === 'metadata') ... },
 * };
 */
export interface UsageReader {
  json(body: unknown, acc: Usage): void;
  event(event: SseEvent, acc: Usage): void;
  /**
   * Text every SSE event that reports usage contains (`"usage`): the others are skipped unparsed,
   * which keeps the observer cheap on long streams. Without it, every event goes to `event`.
   */
  readonly eventMarker?: string;
  /** Optional: without it, event-stream responses are forwarded but not observed. */
  eventstream?(msg: EventStreamMessage, acc: Usage): void;
}

export function emptyUsage(): Usage {
  return { model: undefined, inputTokens: 0, outputTokens: 0 };
}

/** Largest JSON body read for usage; bigger bodies are forwarded but not accounted. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;

/** Options of UsageObserver.for. */
export interface UsageObserverOptions {
  /** `server.stream_line_limit`: the longest SSE line (and event) read; default DEFAULT_STREAM_LINE_LIMIT. */
  lineLimit?: number | undefined;
}

/**
 * Watches a response body on its way to the client and extracts usage from it, without
 * touching the bytes. Per request; holds the decoding state. Bad input ends the observation,
 * not the response, with one exception: an SSE line (or event) longer than the line limit
 * makes `push` or `end` throw the decoder's GatewayError (`streamLineTooLong`), because reading
 * on would need unbounded memory and a response whose usage went unread must not pass as a
 * complete one; the caller ends the response abnormally.
 */
export class UsageObserver {
  readonly #reader: UsageReader;
  readonly #kind: 'json' | 'sse' | 'eventstream';
  readonly #usage = emptyUsage();
  #sse: SseDecoder | undefined;
  /** Undefined once the stream could not be decoded: observation has stopped. */
  #eventstream: EventStreamDecoder | undefined;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #seen = false;

  private constructor(reader: UsageReader, kind: 'json' | 'sse' | 'eventstream', options: UsageObserverOptions) {
    this.#reader = reader;
    this.#kind = kind;
    if (kind === 'sse') this.#sse = new SseDecoder({ lineLimit: options.lineLimit });
    if (kind === 'eventstream') this.#eventstream = new EventStreamDecoder();
  }

  /** An observer for a response of `contentType`, or undefined when usage cannot be in it. */
  static for(reader: UsageReader, contentType: string | undefined, options: UsageObserverOptions = {}): UsageObserver | undefined {
    if (!contentType) return undefined;
    if (contentType.includes('text/event-stream')) return new UsageObserver(reader, 'sse', options);
    if (contentType.includes('application/vnd.amazon.eventstream')) return reader.eventstream ? new UsageObserver(reader, 'eventstream', options) : undefined;
    if (contentType.includes('json')) return new UsageObserver(reader, 'json', options);
    return undefined;
  }

  /** Arrow property so it can be passed as a 'data' listener without binding. */
  readonly push = (chunk: Buffer): void => {
    if (this.#kind === 'sse') {
      for (const ev of this.#sse!.push(chunk)) this.#event(ev);
      return;
    }
    if (this.#kind === 'eventstream') {
      this.#messages(chunk);
      return;
    }
    this.#bytes += chunk.length;
    if (this.#bytes <= MAX_JSON_BYTES) this.#chunks.push(chunk);
    else this.#chunks = [];
  };

  /** Call when the body ended; returns the usage, or undefined if the body reported none. */
  end(): Usage | undefined {
    if (this.#kind === 'sse') {
      for (const ev of this.#sse!.end()) this.#event(ev);
    } else if (this.#kind === 'eventstream') {
      this.#messages(undefined);
    } else if (this.#bytes > 0 && this.#bytes <= MAX_JSON_BYTES) {
      try {
        this.#reader.json(JSON.parse(Buffer.concat(this.#chunks, this.#bytes).toString('utf8')), this.#usage);
        this.#seen = this.#usage.inputTokens > 0 || this.#usage.outputTokens > 0;
      } catch {
        // Not JSON after all (an HTML error page, say): nothing to account.
      }
      this.#chunks = [];
    }
    return this.#seen ? this.#usage : undefined;
  }

  #event(ev: SseEvent): void {
    const marker = this.#reader.eventMarker;
    if (marker !== undefined && !ev.data.includes(marker)) return;
    this.#reader.event(ev, this.#usage);
    this.#seen = this.#usage.inputTokens > 0 || this.#usage.outputTokens > 0;
  }

  /** Decodes `chunk` (undefined: the body ended) and hands each message to the reader. */
  #messages(chunk: Buffer | undefined): void {
    const decoder = this.#eventstream;
    if (!decoder) return;
    try {
      if (chunk === undefined) {
        decoder.end();
        return;
      }
      for (const msg of decoder.push(chunk)) this.#reader.eventstream!(msg, this.#usage);
    } catch {
      // A corrupt or truncated frame: unlike SSE, a binary stream cannot be resynchronised, so
      // stop reading and keep what was read. The client still gets every byte, unchanged.
      this.#eventstream = undefined;
    } finally {
      this.#seen = this.#usage.inputTokens > 0 || this.#usage.outputTokens > 0;
    }
  }
}

export function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= 200 ? v : undefined;
}

/**
 * A reader for APIs whose JSON answers and streamed events report usage the same way;
 * `eventMarker` as in UsageReader.
 */
export function sameShapeUsage(read: (body: unknown, acc: Usage) => void, eventMarker?: string): UsageReader {
  return {
    ...(eventMarker !== undefined ? { eventMarker } : {}),
    json: read,
    event(ev, acc) {
      const obj = parseEventJson(ev);
      if (obj) read(obj, acc);
    },
  };
}

export function parseEventJson(ev: SseEvent): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(ev.data);
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
