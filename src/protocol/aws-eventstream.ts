import { createRequire } from 'node:module';
import { crc32 } from 'node:zlib';
import type { Int64, Message, MessageHeaderValue, MessageHeaders } from '@smithy/eventstream-codec';
import type { EventDecoder } from './chat-stream.js';
import { StreamIncomplete } from './translator.js';

/**
 * Incremental decoder for `application/vnd.amazon.eventstream`, the framing of Bedrock's
 * ConverseStream and InvokeModelWithResponseStream responses (and of every other AWS event
 * stream). Feed it bytes as they arrive; it yields whole, checksum-verified messages. It never
 * alters or re-emits the bytes, so it can watch a stream that is passed through untouched.
 *
 * Frame layout (https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html, the same
 * for every service): total length (u32 BE), headers length (u32 BE), CRC-32 of those
 * eight bytes, headers, payload, CRC-32 of everything before it.
 *
 * Messages use smithy's `Message` shape, so `new EventStreamCodec(toUtf8, fromUtf8).encode(msg)`
 * re-encodes one byte for byte. Smithy's own `decode` is not used: it does not keep header values
 * inside the header section, so a frame with valid checksums whose string or binary header
 * declares more bytes than the section holds reads on into the payload and past the frame, into
 * whatever lies next in the chunk's ArrayBuffer (Node pools socket reads, so that can be another
 * response's bytes); and it reports failures as plain `Error`s with free-text messages.
 *
 * @example
 * const decoder = new EventStreamDecoder();
 * body.on('data', (chunk: Buffer) => {
 *   for (const msg of decoder.push(chunk)) console.log(bedrockEvent(msg));
 * });
 * body.on('end', () => decoder.end()); // throws if the body stopped inside a frame
 */
export type EventStreamMessage = Message;
export type EventHeaderValue = MessageHeaderValue;

/** Why a stream or message was rejected; stable, for callers and tests to branch on. */
export type EventStreamErrorCode =
  /** The prelude's CRC does not match its first eight bytes (a corrupt length field). */
  | 'prelude_checksum_mismatch'
  /** The message CRC does not match (corrupt headers or payload). */
  | 'message_checksum_mismatch'
  /** A total or headers length outside the limits below; refused before anything is buffered. */
  | 'invalid_length'
  /** The header section does not parse: a value overruns it, or an unknown type byte. */
  | 'invalid_header'
  /** The stream ended inside a frame. */
  | 'truncated'
  /** `bedrockEvent`: `:message-type` is missing or unknown, or its type header is missing. */
  | 'invalid_message'
  /** `bedrockEvent`: a JSON `:content-type` with a payload that is not JSON. */
  | 'invalid_payload';

export class EventStreamError extends Error {
  override readonly name = 'EventStreamError';
  readonly code: EventStreamErrorCode;

  constructor(code: EventStreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

const PRELUDE_BYTES = 12;
const CRC_BYTES = 4;
const MIN_MESSAGE_BYTES = PRELUDE_BYTES + CRC_BYTES;
/**
 * Largest accepted frame, prelude and CRC included. AWS's C event-stream library (used by the
 * CRT-based SDKs) caps a message at 16 MiB and its headers at 128 KiB
 * (`AWS_EVENT_STREAM_MAX_MESSAGE_SIZE`, `AWS_EVENT_STREAM_MAX_HEADERS_SIZE` in
 * awslabs/aws-c-event-stream `event_stream.h`). aws-sdk-go caps the payload, not the frame, at
 * 16 MiB, so it accepts frames up to 16 MiB + 128 KiB + 16; Bedrock's frames are a few KiB.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const MAX_HEADERS_BYTES = 128 * 1024;

/** First allocation for a frame that spans chunks; the buffer then doubles up to the frame's size. */
const FIRST_FRAME_BUFFER_BYTES = 64 * 1024;

/**
 * Per stream: holds at most one incomplete frame. A frame that lies whole inside one pushed
 * chunk is decoded in place, without a copy: its body and binary header values are views of
 * that chunk's memory. A frame that spans chunks is copied into a buffer that grows (doubling,
 * so each byte is copied a bounded number of times) as its bytes arrive, never beyond the size
 * its checked prelude announced (at most MAX_MESSAGE_BYTES): a prelude announcing 16 MiB makes
 * the decoder hold what actually arrived, not 16 MiB up front.
 *
 * Errors are EventStreamErrors. Once one is raised the stream cannot be resynchronised, so every
 * later call raises it again. When a chunk completes good messages before the bad frame, `push`
 * returns those and the next call raises the error, so what a caller sees never depends on where
 * the chunks were cut.
 */
export class EventStreamDecoder {
  /** The first bytes of a frame whose prelude has not fully arrived. */
  readonly #prelude = new Uint8Array(PRELUDE_BYTES);
  #preludeFill = 0;
  /** The frame being assembled: its first `#frameFill` bytes, in a buffer of at most `#frameTotal`. */
  #frame: Uint8Array | undefined;
  #frameFill = 0;
  /** The frame's length, from its prelude. */
  #frameTotal = 0;
  /** Raised again by every call once set: the stream cannot be resynchronised. */
  #error: Error | undefined;

  /** Decodes `chunk` and returns the messages it completed. */
  push(chunk: Uint8Array): EventStreamMessage[] {
    if (this.#error) throw this.#error;
    const messages: EventStreamMessage[] = [];
    try {
      this.#consume(chunk, messages);
    } catch (err) {
      // Only EventStreamErrors are expected here; anything else is a bug, passed on as it is.
      this.#error = err instanceof Error ? err : new Error(String(err));
      if (messages.length === 0) throw this.#error;
    }
    return messages;
  }

  /** Ends the stream; throws if it stopped inside a frame (or an earlier error is pending). */
  end(): void {
    if (this.#error) throw this.#error;
    if (this.#frame !== undefined || this.#preludeFill > 0) {
      const have = this.#frame === undefined ? this.#preludeFill : this.#frameFill;
      const of = this.#frame === undefined ? `a ${PRELUDE_BYTES}-byte prelude` : `a ${this.#frameTotal}-byte frame`;
      this.#error = new EventStreamError('truncated', `event stream ended inside a frame: ${have} bytes of ${of}`);
      throw this.#error;
    }
  }

  #consume(chunk: Uint8Array, messages: EventStreamMessage[]): void {
    const end = chunk.length;
    let off = 0;
    while (off < end) {
      if (this.#frame !== undefined) {
        const take = Math.min(this.#frameTotal - this.#frameFill, end - off);
        this.#append(chunk.subarray(off, off + take));
        off += take;
        if (this.#frameFill === this.#frameTotal) {
          const frame = this.#frame;
          this.#frame = undefined;
          messages.push(decodeFrame(frame));
        }
      } else if (this.#preludeFill === 0 && end - off >= PRELUDE_BYTES) {
        const total = checkPrelude(chunk, off);
        if (end - off >= total) {
          // A plain Uint8Array view (not a Buffer subarray), so bodies have one type however the stream was cut.
          messages.push(decodeFrame(new Uint8Array(chunk.buffer, chunk.byteOffset + off, total)));
          off += total;
        } else {
          this.#startFrame(total, chunk.subarray(off));
          off = end;
        }
      } else {
        const take = Math.min(PRELUDE_BYTES - this.#preludeFill, end - off);
        this.#prelude.set(chunk.subarray(off, off + take), this.#preludeFill);
        this.#preludeFill += take;
        off += take;
        if (this.#preludeFill === PRELUDE_BYTES) {
          this.#preludeFill = 0;
          this.#startFrame(checkPrelude(this.#prelude, 0), this.#prelude);
        }
      }
    }
  }

  /** `total` has passed checkPrelude; `head` is the frame's first bytes (never all of it). */
  #startFrame(total: number, head: Uint8Array): void {
    this.#frameTotal = total;
    this.#frame = new Uint8Array(Math.min(total, Math.max(FIRST_FRAME_BUFFER_BYTES, head.length)));
    this.#frameFill = 0;
    this.#append(head);
  }

  /** Adds `bytes` (never past `#frameTotal`) to the frame, growing its buffer when full. */
  #append(bytes: Uint8Array): void {
    const need = this.#frameFill + bytes.length;
    let frame = this.#frame!;
    if (need > frame.length) {
      const grown = new Uint8Array(Math.min(this.#frameTotal, Math.max(need, frame.length * 2)));
      grown.set(frame.subarray(0, this.#frameFill));
      this.#frame = frame = grown;
    }
    frame.set(bytes, this.#frameFill);
    this.#frameFill = need;
  }
}

/**
 * Checks the prelude at `b[off..off+12]` and returns the frame's total length. The CRC comes
 * first, as in aws-sdk-go: a corrupt length is reported as the corruption it is, not as a bad size.
 */
function checkPrelude(b: Uint8Array, off: number): number {
  const total = u32(b, off);
  const headers = u32(b, off + 4);
  const expected = u32(b, off + 8);
  const actual = crc32(b.subarray(off, off + 8)) >>> 0;
  if (actual !== expected) {
    throw new EventStreamError('prelude_checksum_mismatch', `Prelude checksum mismatch: the frame carries ${hex(expected)}, its prelude hashes to ${hex(actual)}`);
  }
  if (total < MIN_MESSAGE_BYTES || total > MAX_MESSAGE_BYTES) {
    throw new EventStreamError('invalid_length', `event stream frame length ${total} is outside ${MIN_MESSAGE_BYTES}..${MAX_MESSAGE_BYTES} bytes`);
  }
  if (headers > total - MIN_MESSAGE_BYTES || headers > MAX_HEADERS_BYTES) {
    throw new EventStreamError('invalid_length', `event stream headers length ${headers} does not fit a ${total}-byte frame (at most ${MAX_HEADERS_BYTES} bytes)`);
  }
  return total;
}

/** `frame` is exactly one frame whose prelude has passed checkPrelude. */
function decodeFrame(frame: Uint8Array): EventStreamMessage {
  const total = frame.length;
  const expected = u32(frame, total - CRC_BYTES);
  const actual = crc32(frame.subarray(0, total - CRC_BYTES)) >>> 0;
  if (actual !== expected) {
    throw new EventStreamError('message_checksum_mismatch', `Message checksum mismatch: the frame carries ${hex(expected)}, its bytes hash to ${hex(actual)}`);
  }
  const headersEnd = PRELUDE_BYTES + u32(frame, 4);
  return {
    headers: parseHeaders(frame, PRELUDE_BYTES, headersEnd),
    body: frame.subarray(headersEnd, total - CRC_BYTES),
  };
}

/** Header wire types (the byte after the name). */
const enum HeaderType {
  True = 0,
  False = 1,
  Byte = 2,
  Short = 3,
  Integer = 4,
  Long = 5,
  Binary = 6,
  String = 7,
  Timestamp = 8,
  Uuid = 9,
}

/** Parses `b[start..end)`; every read is checked against `end`, never against the buffer. */
function parseHeaders(b: Uint8Array, start: number, end: number): MessageHeaders {
  const headers: MessageHeaders = {};
  let p = start;
  while (p < end) {
    const nameLength = b[p++]!;
    if (p + nameLength + 1 > end) throw overrun(p, end, undefined);
    const name = utf8(b.subarray(p, p + nameLength));
    p += nameLength;
    const type = b[p++]!;
    let value: EventHeaderValue;
    switch (type) {
      case HeaderType.True:
      case HeaderType.False:
        value = { type: 'boolean', value: type === HeaderType.True };
        break;
      case HeaderType.Byte:
        if (p + 1 > end) throw overrun(p, end, name);
        value = { type: 'byte', value: (b[p]! << 24) >> 24 };
        p += 1;
        break;
      case HeaderType.Short:
        if (p + 2 > end) throw overrun(p, end, name);
        value = { type: 'short', value: ((b[p]! << 24) | (b[p + 1]! << 16)) >> 16 };
        p += 2;
        break;
      case HeaderType.Integer:
        if (p + 4 > end) throw overrun(p, end, name);
        value = { type: 'integer', value: u32(b, p) | 0 };
        p += 4;
        break;
      case HeaderType.Long:
        if (p + 8 > end) throw overrun(p, end, name);
        value = { type: 'long', value: newInt64(b.slice(p, p + 8)) };
        p += 8;
        break;
      case HeaderType.Timestamp:
        if (p + 8 > end) throw overrun(p, end, name);
        // Milliseconds since the epoch; exact up to 2^53, far beyond any Date.
        value = { type: 'timestamp', value: new Date((u32(b, p) | 0) * 2 ** 32 + u32(b, p + 4)) };
        p += 8;
        break;
      case HeaderType.Binary:
      case HeaderType.String: {
        if (p + 2 > end) throw overrun(p, end, name);
        const length = (b[p]! << 8) | b[p + 1]!;
        p += 2;
        if (p + length > end) throw overrun(p, end, name);
        const bytes = b.subarray(p, p + length);
        value = type === HeaderType.String ? { type: 'string', value: utf8(bytes) } : { type: 'binary', value: bytes };
        p += length;
        break;
      }
      case HeaderType.Uuid: {
        if (p + 16 > end) throw overrun(p, end, name);
        const h = Buffer.from(b.buffer, b.byteOffset + p, 16).toString('hex');
        value = { type: 'uuid', value: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}` };
        p += 16;
        break;
      }
      default:
        throw new EventStreamError('invalid_header', `event stream header ${name} has unknown type ${type}`);
    }
    // A header named "__proto__" must stay a header, not become the object's prototype.
    if (name === '__proto__') Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
    else headers[name] = value;
  }
  return headers;
}

/** `name` is undefined while reading the name itself. */
function overrun(p: number, end: number, name: string | undefined): EventStreamError {
  const what = name === undefined ? 'header name' : `value of header ${JSON.stringify(name)}`;
  return new EventStreamError('invalid_header', `event stream ${what} at byte ${p} overruns the header section (${end} bytes)`);
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * A Bedrock event-stream message, read the way the AWS SDKs do
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html):
 * `:message-type` says whether it is an event (named by `:event-type`), a modelled exception
 * (`:exception-type`) or a service error (`:error-code`, text in `:error-message`).
 *
 * @example
 * bedrockEvent(msg) // { kind: 'event', type: 'metadata', payload: { usage: { inputTokens: 12, ... } } }
 */
export type BedrockEvent =
  | { kind: 'event' | 'exception'; type: string; payload: unknown }
  | { kind: 'error'; type: string; payload: unknown; message: string | undefined };

/**
 * Classifies `msg`. `payload` is the parsed JSON when `:content-type` is JSON, undefined when the
 * body is empty, else the body bytes. Throws an EventStreamError (`invalid_message`,
 * `invalid_payload`) on a message that does not have the Bedrock shape.
 */
export function bedrockEvent(msg: EventStreamMessage): BedrockEvent {
  const messageType = stringHeader(msg, ':message-type');
  switch (messageType) {
    case 'event':
      return { kind: 'event', type: requiredHeader(msg, ':event-type'), payload: payloadOf(msg) };
    case 'exception':
      return { kind: 'exception', type: requiredHeader(msg, ':exception-type'), payload: payloadOf(msg) };
    case 'error':
      return { kind: 'error', type: requiredHeader(msg, ':error-code'), payload: payloadOf(msg), message: stringHeader(msg, ':error-message') };
    default:
      throw new EventStreamError('invalid_message', messageType === undefined ? 'event stream message has no :message-type header' : `event stream message has unknown :message-type ${JSON.stringify(messageType)}`);
  }
}

/** The value of string header `name`, or undefined when it is absent or not a string. */
export function stringHeader(msg: EventStreamMessage, name: string): string | undefined {
  const h = msg.headers[name];
  return h !== undefined && h.type === 'string' ? h.value : undefined;
}

function requiredHeader(msg: EventStreamMessage, name: string): string {
  const value = stringHeader(msg, name);
  if (value === undefined) throw new EventStreamError('invalid_message', `event stream message has no ${name} string header`);
  return value;
}

function payloadOf(msg: EventStreamMessage): unknown {
  if (msg.body.length === 0) return undefined;
  if (!stringHeader(msg, ':content-type')?.includes('json')) return msg.body;
  try {
    return JSON.parse(utf8(msg.body));
  } catch (err) {
    throw new EventStreamError('invalid_payload', 'event stream message says it is JSON but its payload does not parse', { cause: err });
  }
}

/**
 * An AWS event stream as the Bedrock events it carries, for a stream translator
 * (protocol/chat-stream.ts). Frames are classified as they are read, so the events before a bad
 * frame are translated first; a decoder or frame error becomes the StreamIncomplete that ends
 * the translated stream. Per request.
 */
export function bedrockEventDecoder(): EventDecoder<BedrockEvent> {
  const frames = new EventStreamDecoder();
  return {
    push: (chunk) => classify(guard(() => frames.push(chunk))),
    end: () => {
      guard(() => frames.end());
      return [];
    },
  };
}

function* classify(messages: EventStreamMessage[]): Generator<BedrockEvent> {
  for (const msg of messages) yield guard(() => bedrockEvent(msg));
}

function guard<T>(run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof EventStreamError) throw new StreamIncomplete(`the Bedrock event stream is corrupt (${err.code}): ${err.message}`, { cause: err });
    throw err;
  }
}

/** The `message` (or `Message`) of an exception frame's payload; undefined if none. */
export function exceptionMessage(payload: unknown): string | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  const p = payload as { message?: unknown; Message?: unknown };
  const m = p.message ?? p.Message;
  return typeof m === 'string' ? m : undefined;
}

/** The bytes as UTF-8 text (what smithy's `toUtf8` does in Node). */
function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

const require = createRequire(import.meta.url);
let Int64Class: typeof Int64 | undefined;

/**
 * Smithy's `Int64` for a `long` header value, the package loaded on first use: Bedrock sends no
 * `long` headers, and the package brings @smithy/core's event-stream and serde modules (about
 * 1 MB of heap, measured) into every gateway, Bedrock or not.
 */
function newInt64(bytes: Uint8Array): Int64 {
  Int64Class ??= (require('@smithy/eventstream-codec') as typeof import('@smithy/eventstream-codec')).Int64;
  return new Int64Class(bytes);
}
